//! Deciding what to do with one received packet: answer it ourselves, forward it, or drop it.
//! No IO here; the server module sends what this decides.

use std::net::IpAddr;

use hickory_proto::op::{
    Edns, Header, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::names::{arpa_ip, lookup_key};
use crate::Lookup;

/// TTL of the records we answer for our own names.
pub(crate) const TTL: u32 = 600;

/// The UDP payload size we announce in the EDNS record of our own answers.
const OUR_EDNS_PAYLOAD: u16 = 1232;

/// How the query arrived, which decides how large our answer may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// What to do with a packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Send these bytes back to the client.
    Reply(Vec<u8>),
    /// Not ours: forward the packet as received; `fail` is the SERVFAIL to send when no
    /// upstream answers.
    Forward {
        /// SERVFAIL for this query.
        fail: Vec<u8>,
    },
    /// Send nothing (not a DNS query at all).
    Drop,
}

/// Decide what to do with `packet`, received by the server listening on `server` from `client`.
pub(crate) fn handle(
    packet: &[u8],
    server: IpAddr,
    client: IpAddr,
    lookup: &dyn Lookup,
    transport: Transport,
) -> Outcome {
    let Ok(header) = Header::read(&mut BinDecoder::new(packet)) else {
        return Outcome::Drop;
    };
    if header.metadata.message_type != MessageType::Query {
        // Never answer a response: that is how reflection loops start.
        return Outcome::Drop;
    }
    let query = match Message::from_vec(packet) {
        Ok(query) => query,
        Err(e) => {
            tracing::debug!(%client, "malformed query: {e}");
            return reply(error_reply(&header.metadata, ResponseCode::FormErr));
        }
    };
    if query.metadata.op_code != OpCode::Query {
        return reply(
            response(&query, ResponseCode::NotImp, false, Vec::new())
                .to_vec()
                .ok(),
        );
    }
    if query.queries.is_empty() {
        return reply(
            response(&query, ResponseCode::FormErr, false, Vec::new())
                .to_vec()
                .ok(),
        );
    }

    let mut answers = Vec::new();
    for question in &query.queries {
        match local_answer(question, server, client, lookup) {
            Some(records) => answers.extend(records),
            None => {
                return match response(&query, ResponseCode::ServFail, false, Vec::new()).to_vec() {
                    Ok(fail) => Outcome::Forward { fail },
                    Err(_) => Outcome::Drop,
                };
            }
        }
    }
    let mut message = response(&query, ResponseCode::NoError, true, answers);
    let Ok(bytes) = message.to_vec() else {
        return reply(
            response(&query, ResponseCode::ServFail, false, Vec::new())
                .to_vec()
                .ok(),
        );
    };
    let limit = match transport {
        Transport::Udp => usize::from(query.max_payload()),
        Transport::Tcp => usize::from(u16::MAX),
    };
    if bytes.len() <= limit {
        return Outcome::Reply(bytes);
    }
    message.answers.clear();
    message.metadata.truncation = true;
    reply(message.to_vec().ok())
}

fn reply(bytes: Option<Vec<u8>>) -> Outcome {
    bytes.map_or(Outcome::Drop, Outcome::Reply)
}

/// Our records for one question, or None when it is not ours to answer.
fn local_answer(
    question: &Query,
    server: IpAddr,
    client: IpAddr,
    lookup: &dyn Lookup,
) -> Option<Vec<Record>> {
    if question.query_class() != DNSClass::IN {
        return None;
    }
    let owner = question.name().clone();
    match question.query_type() {
        RecordType::A => {
            let addrs = lookup.lookup(server, client, &lookup_key(question.name())?)?;
            Some(
                addrs
                    .into_iter()
                    .filter_map(|ip| match ip {
                        IpAddr::V4(v4) => {
                            Some(Record::from_rdata(owner.clone(), TTL, RData::A(A(v4))))
                        }
                        IpAddr::V6(_) => None,
                    })
                    .collect(),
            )
        }
        RecordType::AAAA => {
            let addrs = lookup.lookup(server, client, &lookup_key(question.name())?)?;
            Some(
                addrs
                    .into_iter()
                    .filter_map(|ip| match ip {
                        IpAddr::V6(v6) => Some(Record::from_rdata(
                            owner.clone(),
                            TTL,
                            RData::AAAA(AAAA(v6)),
                        )),
                        IpAddr::V4(_) => None,
                    })
                    .collect(),
            )
        }
        RecordType::PTR => {
            let ip = arpa_ip(question.name())?;
            let target = lookup.reverse(server, client, ip)?;
            let Ok(mut target) = Name::from_ascii(target.trim_end_matches('.')) else {
                tracing::warn!(%ip, name = %target, "reverse name is not a valid DNS name");
                return None;
            };
            target.set_fqdn(true);
            Some(vec![Record::from_rdata(
                owner,
                TTL,
                RData::PTR(PTR(target)),
            )])
        }
        _ => None,
    }
}

/// A response to `query`: its id, opcode, RD and CD copied, RA set, the questions echoed, an
/// EDNS record when the query had one.
fn response(
    query: &Message,
    code: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
) -> Message {
    let mut message = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    message.metadata = Metadata::response_from_request(&query.metadata);
    message.metadata.recursion_available = true;
    message.metadata.authoritative = authoritative;
    message.metadata.response_code = code;
    message.queries = query.queries.clone();
    message.answers = answers;
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_EDNS_PAYLOAD);
        edns.set_version(0);
        message.edns = Some(edns);
    }
    message
}

/// A bare error response (no question) when only the header of the query could be read.
fn error_reply(request: &Metadata, code: ResponseCode) -> Option<Vec<u8>> {
    let mut message = Message::error_msg(request.id, request.op_code, code);
    message.metadata.recursion_desired = request.recursion_desired;
    message.metadata.recursion_available = true;
    message.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    struct Fake;

    impl Lookup for Fake {
        fn lookup(&self, _: IpAddr, _: IpAddr, name: &str) -> Option<Vec<IpAddr>> {
            match name {
                "web" => Some(vec!["172.18.0.2".parse().ok()?, "fd00::2".parse().ok()?]),
                "v4only" => Some(vec!["172.18.0.3".parse().ok()?]),
                "many" => Some((1..=100u8).map(|i| IpAddr::from([10, 0, 0, i])).collect()),
                _ => None,
            }
        }
        fn reverse(&self, _: IpAddr, _: IpAddr, ip: IpAddr) -> Option<String> {
            (ip == IpAddr::from([172, 18, 0, 2])).then(|| "web.mynet".to_string())
        }
        fn upstreams(&self, _: IpAddr) -> Vec<SocketAddr> {
            Vec::new()
        }
    }

    fn query(name: &str, rtype: RecordType) -> Message {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
        m
    }

    fn run(packet: &[u8], transport: Transport) -> Outcome {
        let ip = IpAddr::from([127, 0, 0, 1]);
        handle(packet, ip, ip, &Fake, transport)
    }

    fn answered(m: &Message, transport: Transport) -> Message {
        match run(&m.to_vec().expect("encode"), transport) {
            Outcome::Reply(bytes) => Message::from_vec(&bytes).expect("decode"),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn local_answers() {
        // (name, type, rcode, answers as text)
        let table: &[(&str, RecordType, ResponseCode, &[&str])] = &[
            (
                "web.",
                RecordType::A,
                ResponseCode::NoError,
                &["172.18.0.2"],
            ),
            ("web", RecordType::AAAA, ResponseCode::NoError, &["fd00::2"]),
            (
                "WEB.",
                RecordType::A,
                ResponseCode::NoError,
                &["172.18.0.2"],
            ),
            ("v4only.", RecordType::AAAA, ResponseCode::NoError, &[]),
            (
                "2.0.18.172.in-addr.arpa.",
                RecordType::PTR,
                ResponseCode::NoError,
                &["web.mynet."],
            ),
        ];
        for (name, rtype, rcode, want) in table {
            let r = answered(&query(name, *rtype), Transport::Udp);
            assert_eq!(r.metadata.id, 0x1234, "{name}");
            assert_eq!(r.metadata.response_code, *rcode, "{name}");
            assert!(r.metadata.authoritative, "{name}");
            assert!(r.metadata.recursion_available, "{name}");
            assert!(r.metadata.recursion_desired, "{name}");
            assert_eq!(r.queries.len(), 1, "{name}");
            let got: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
            assert_eq!(got, *want, "{name} {rtype}");
            assert!(r.answers.iter().all(|a| a.ttl == TTL));
        }
    }

    #[test]
    fn not_ours_is_forwarded() {
        let table: &[(&str, RecordType)] = &[
            ("example.com.", RecordType::A),
            ("web.", RecordType::MX),
            ("web.", RecordType::TXT),
            ("3.0.18.172.in-addr.arpa.", RecordType::PTR),
            ("18.172.in-addr.arpa.", RecordType::PTR),
        ];
        for (name, rtype) in table {
            let outcome = run(
                &query(name, *rtype).to_vec().expect("encode"),
                Transport::Udp,
            );
            let Outcome::Forward { fail } = outcome else {
                panic!("{name} {rtype}: expected forward, got {outcome:?}");
            };
            let fail = Message::from_vec(&fail).expect("decode");
            assert_eq!(fail.metadata.response_code, ResponseCode::ServFail);
            assert_eq!(fail.metadata.id, 0x1234);
            assert_eq!(fail.queries.len(), 1);
        }
    }

    #[test]
    fn several_questions_answered_only_when_all_ours() {
        let mut m = query("web.", RecordType::A);
        m.add_query(Query::query(
            Name::from_ascii("v4only.").expect("name"),
            RecordType::A,
        ));
        assert_eq!(answered(&m, Transport::Udp).answers.len(), 2);
        m.add_query(Query::query(
            Name::from_ascii("example.com.").expect("name"),
            RecordType::A,
        ));
        assert!(matches!(
            run(&m.to_vec().expect("encode"), Transport::Udp),
            Outcome::Forward { .. }
        ));
    }

    #[test]
    fn malformed_packets() {
        let good = query("web.", RecordType::A).to_vec().expect("encode");
        let mut response = good.clone();
        response[2] |= 0x80;
        let mut update = good.clone();
        update[2] |= 5 << 3;
        let mut no_question = good.clone();
        no_question.truncate(12);
        no_question[5] = 0;
        // (packet, Some(rcode) for a reply, None for a drop)
        let table: Vec<(Vec<u8>, Option<ResponseCode>)> = vec![
            (vec![], None),
            (vec![0x12], None),
            (good[..11].to_vec(), None),
            (response, None),
            (good[..12].to_vec(), Some(ResponseCode::FormErr)),
            (good[..good.len() - 3].to_vec(), Some(ResponseCode::FormErr)),
            (
                [&good[..12], &[0xff; 40][..]].concat(),
                Some(ResponseCode::FormErr),
            ),
            (update, Some(ResponseCode::NotImp)),
            (no_question, Some(ResponseCode::FormErr)),
        ];
        for (i, (packet, want)) in table.iter().enumerate() {
            match (run(packet, Transport::Udp), want) {
                (Outcome::Drop, None) => {}
                (Outcome::Reply(bytes), Some(code)) => {
                    let m = Message::from_vec(&bytes).expect("decode");
                    assert_eq!(m.metadata.response_code, *code, "case {i}");
                    assert_eq!(m.metadata.id, 0x1234, "case {i}");
                    assert_eq!(m.metadata.message_type, MessageType::Response, "case {i}");
                }
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn large_udp_answers_are_truncated_not_tcp() {
        let m = query("many.", RecordType::A);
        let udp = answered(&m, Transport::Udp);
        assert!(udp.metadata.truncation);
        assert!(udp.answers.is_empty());
        let tcp = answered(&m, Transport::Tcp);
        assert!(!tcp.metadata.truncation);
        assert_eq!(tcp.answers.len(), 100);
        // With EDNS the client's larger payload size is honoured, and we answer with EDNS.
        let mut m = m;
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        m.edns = Some(edns);
        let udp = answered(&m, Transport::Udp);
        assert!(!udp.metadata.truncation);
        assert_eq!(udp.answers.len(), 100);
        assert!(udp.edns.is_some());
    }
}
