//! The server over real sockets on 127.0.0.1: a fake Lookup, fake upstream resolvers, and a
//! small client built from hickory-proto messages.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_dns::{DnsServer, Lookup, Options};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
/// What the fake upstreams answer for any A question.
const UPSTREAM_ADDR: &str = "93.184.216.34";

/// Knows `web` (v4 + v6), `db` (v4 only) and `v6only`, and the reverse of web's v4 address.
#[derive(Default)]
struct FakeLookup {
    upstreams: Mutex<Vec<SocketAddr>>,
    /// (server, client, name) of every lookup, to check what the server passes.
    seen: Mutex<Vec<(IpAddr, IpAddr, String)>>,
}

impl FakeLookup {
    fn with_upstreams(upstreams: Vec<SocketAddr>) -> Arc<FakeLookup> {
        Arc::new(FakeLookup {
            upstreams: Mutex::new(upstreams),
            ..FakeLookup::default()
        })
    }
}

impl Lookup for FakeLookup {
    fn lookup(&self, server: IpAddr, client: IpAddr, name: &str) -> Option<Vec<IpAddr>> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((server, client, name.to_string()));
        }
        let addrs: &[&str] = match name {
            "web" | "web.mynet" => &["172.18.0.2", "fd00:18::2"],
            "db" => &["172.18.0.3", "172.18.0.4"],
            "v6only" => &["fd00:18::5"],
            _ => return None,
        };
        Some(addrs.iter().filter_map(|a| a.parse().ok()).collect())
    }

    fn reverse(&self, _server: IpAddr, _client: IpAddr, ip: IpAddr) -> Option<String> {
        let web: IpAddr = "172.18.0.2".parse().ok()?;
        (ip == web).then(|| "web.mynet".to_string())
    }

    fn upstreams(&self, _client: IpAddr) -> Vec<SocketAddr> {
        self.upstreams.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

async fn start(lookup: Arc<FakeLookup>, upstream_timeout: Duration) -> Result<DnsServer> {
    let options = Options {
        upstream_timeout,
        ..Options::default()
    };
    Ok(DnsServer::start_with((LOCALHOST, 0).into(), lookup, options).await?)
}

fn query(id: u16, name: &str, rtype: RecordType) -> Result<Message> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name)?, rtype));
    Ok(m)
}

async fn udp_exchange(server: SocketAddr, packet: &[u8]) -> Result<Vec<u8>> {
    let socket = UdpSocket::bind((LOCALHOST, 0)).await?;
    socket.send_to(packet, server).await?;
    let mut buf = vec![0u8; 65535];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .context("no udp answer")??;
    assert_eq!(from, server);
    buf.truncate(n);
    Ok(buf)
}

async fn udp_query(server: SocketAddr, m: &Message) -> Result<Message> {
    Ok(Message::from_vec(
        &udp_exchange(server, &m.to_vec()?).await?,
    )?)
}

async fn write_framed(stream: &mut TcpStream, packet: &[u8]) -> Result<()> {
    let len = u16::try_from(packet.len())?;
    stream
        .write_all(&[&len.to_be_bytes()[..], packet].concat())
        .await?;
    Ok(())
}

async fn read_framed(stream: &mut TcpStream) -> Result<Message> {
    let read = async {
        let len = stream.read_u16().await?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .context("no tcp answer")??;
    Ok(Message::from_vec(&buf)?)
}

async fn tcp_query(server: SocketAddr, m: &Message) -> Result<Message> {
    let mut stream = TcpStream::connect(server).await?;
    write_framed(&mut stream, &m.to_vec()?).await?;
    read_framed(&mut stream).await
}

/// The response echoes the question exactly (case included; a decoded name is always fqdn).
fn same_question(r: &Message, q: &Message) -> bool {
    r.queries.len() == q.queries.len()
        && r.queries.iter().zip(&q.queries).all(|(a, b)| {
            a.name().eq_ignore_root_case(b.name()) && a.query_type() == b.query_type()
        })
}

fn answers(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

/// The answer a fake upstream gives to `q`: every A question gets UPSTREAM_ADDR; `rcode` and
/// `truncated` as asked.
fn upstream_answer(q: &Message, rcode: ResponseCode, truncated: bool) -> Result<Vec<u8>> {
    let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.metadata.response_code = rcode;
    r.metadata.truncation = truncated;
    r.queries = q.queries.clone();
    if rcode == ResponseCode::NoError && !truncated {
        for question in &q.queries {
            if question.query_type() == RecordType::A {
                let a = RData::A(A(UPSTREAM_ADDR.parse()?));
                r.add_answer(Record::from_rdata(question.name().clone(), 60, a));
            }
        }
    }
    Ok(r.to_vec()?)
}

/// A fake UDP resolver on 127.0.0.1 answering with `rcode` (and TC if `truncated`). Records
/// the ids it was asked with. Stops when the handle is aborted or dropped with the test.
struct FakeUpstream {
    addr: SocketAddr,
    ids: Arc<Mutex<Vec<u16>>>,
    task: JoinHandle<()>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_udp_upstream(rcode: ResponseCode, truncated: bool) -> Result<FakeUpstream> {
    let socket = UdpSocket::bind((LOCALHOST, 0)).await?;
    let addr = socket.local_addr()?;
    let ids = Arc::new(Mutex::new(Vec::new()));
    let seen = ids.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if let Ok(mut ids) = seen.lock() {
                ids.push(q.metadata.id);
            }
            if let Ok(answer) = upstream_answer(&q, rcode, truncated) {
                let _ = socket.send_to(&answer, peer).await;
            }
        }
    });
    Ok(FakeUpstream { addr, ids, task })
}

/// A fake TCP resolver on 127.0.0.1 (one query per connection is enough here).
async fn fake_tcp_upstream() -> Result<FakeUpstream> {
    let listener = TcpListener::bind((LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let ids = Arc::new(Mutex::new(Vec::new()));
    let seen = ids.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let Ok(len) = stream.read_u16().await else {
                continue;
            };
            let mut buf = vec![0u8; usize::from(len)];
            if stream.read_exact(&mut buf).await.is_err() {
                continue;
            }
            let Ok(q) = Message::from_vec(&buf) else {
                continue;
            };
            if let Ok(mut ids) = seen.lock() {
                ids.push(q.metadata.id);
            }
            if let Ok(answer) = upstream_answer(&q, ResponseCode::NoError, false) {
                let _ = write_framed(&mut stream, &answer).await;
            }
        }
    });
    Ok(FakeUpstream { addr, ids, task })
}

/// A UDP socket that receives and never answers; kept alive by the caller.
async fn silent_upstream() -> Result<UdpSocket> {
    Ok(UdpSocket::bind((LOCALHOST, 0)).await?)
}

/// An address nobody listens on (bound, then closed): queries to it are refused at once.
async fn dead_upstream() -> Result<SocketAddr> {
    let socket = UdpSocket::bind((LOCALHOST, 0)).await?;
    Ok(socket.local_addr()?)
}

#[tokio::test]
async fn answers_our_names_over_udp_and_tcp() -> Result<()> {
    let lookup = FakeLookup::with_upstreams(Vec::new());
    let server = start(lookup.clone(), Duration::from_secs(2)).await?;
    let addr = server.local_addr();
    assert_eq!(addr.ip(), LOCALHOST);
    assert_ne!(addr.port(), 0);

    // (name, type, expected answers); every one NOERROR, AA, RA, RD echoed, TTL 600.
    let table: &[(&str, RecordType, &[&str])] = &[
        ("web", RecordType::A, &["172.18.0.2"]),
        ("web.", RecordType::A, &["172.18.0.2"]),
        ("WeB.MyNet.", RecordType::A, &["172.18.0.2"]),
        ("web", RecordType::AAAA, &["fd00:18::2"]),
        ("db.", RecordType::A, &["172.18.0.3", "172.18.0.4"]),
        ("db.", RecordType::AAAA, &[]),
        ("v6only.", RecordType::A, &[]),
        ("v6only.", RecordType::AAAA, &["fd00:18::5"]),
        ("2.0.18.172.in-addr.arpa.", RecordType::PTR, &["web.mynet."]),
    ];
    for tcp in [false, true] {
        for (i, (name, rtype, want)) in table.iter().enumerate() {
            let id = 0x4000 + i as u16;
            let q = query(id, name, *rtype)?;
            let r = if tcp {
                tcp_query(addr, &q).await?
            } else {
                udp_query(addr, &q).await?
            };
            let what = format!("{name} {rtype} tcp={tcp}");
            assert_eq!(r.metadata.id, id, "{what}");
            assert_eq!(r.metadata.message_type, MessageType::Response, "{what}");
            assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{what}");
            assert!(r.metadata.authoritative, "{what}");
            assert!(r.metadata.recursion_available, "{what}");
            assert!(r.metadata.recursion_desired, "{what}");
            assert!(same_question(&r, &q), "{what}: {:?}", r.queries);
            assert_eq!(answers(&r), *want, "{what}");
            assert!(r.answers.iter().all(|a| a.ttl == 600), "{what}");
        }
    }

    // The Lookup saw lowercase names without the trailing dot, with the server's and the
    // client's addresses.
    let seen = lookup.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        seen.contains(&(LOCALHOST, LOCALHOST, "web.mynet".to_string())),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|(_, _, n)| n == &n.to_lowercase() && !n.ends_with('.')),
        "{seen:?}"
    );
    Ok(())
}

#[tokio::test]
async fn forwards_other_names_and_rewrites_the_id() -> Result<()> {
    let upstream = fake_udp_upstream(ResponseCode::NoError, false).await?;
    let tcp_upstream = fake_tcp_upstream().await?;
    let lookup = FakeLookup::with_upstreams(vec![upstream.addr]);
    let server = start(lookup.clone(), Duration::from_secs(2)).await?;
    let addr = server.local_addr();

    let r = udp_query(addr, &query(0xbeef, "example.com.", RecordType::A)?).await?;
    assert_eq!(r.metadata.id, 0xbeef);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answers(&r), [UPSTREAM_ADDR]);
    assert!(!r.metadata.authoritative);
    // Our names with a type we do not answer are forwarded too.
    let r = udp_query(addr, &query(0xbef0, "web.", RecordType::MX)?).await?;
    assert_eq!(r.metadata.id, 0xbef0);
    // So are reverse names that are not ours.
    let r = udp_query(
        addr,
        &query(0xbef1, "9.0.18.172.in-addr.arpa.", RecordType::PTR)?,
    )
    .await?;
    assert_eq!(r.metadata.id, 0xbef1);
    let ids = upstream.ids.lock().map(|i| i.clone()).unwrap_or_default();
    assert_eq!(ids.len(), 3, "{ids:?}");

    // TCP queries are forwarded over TCP.
    if let Ok(mut u) = lookup.upstreams.lock() {
        *u = vec![tcp_upstream.addr];
    }
    let r = tcp_query(addr, &query(0xcafe, "example.org.", RecordType::A)?).await?;
    assert_eq!(r.metadata.id, 0xcafe);
    assert_eq!(answers(&r), [UPSTREAM_ADDR]);
    assert_eq!(
        tcp_upstream.ids.lock().map(|i| i.len()).unwrap_or_default(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn upstream_ids_are_not_the_clients() -> Result<()> {
    // Each forwarded query goes out under a fresh random id: with 8 queries of the same client
    // id, at least one differs (the chance that all 8 equal it is 2^-128).
    let upstream = fake_udp_upstream(ResponseCode::NoError, false).await?;
    let server = start(
        FakeLookup::with_upstreams(vec![upstream.addr]),
        Duration::from_secs(2),
    )
    .await?;
    for _ in 0..8 {
        let r = udp_query(
            server.local_addr(),
            &query(7, "example.com.", RecordType::A)?,
        )
        .await?;
        assert_eq!(r.metadata.id, 7);
    }
    let ids = upstream.ids.lock().map(|i| i.clone()).unwrap_or_default();
    assert_eq!(ids.len(), 8);
    assert!(ids.iter().any(|id| *id != 7), "{ids:?}");
    Ok(())
}

#[tokio::test]
async fn falls_back_to_the_next_upstream() -> Result<()> {
    let silent = silent_upstream().await?;
    let dead = dead_upstream().await?;
    let failing = fake_udp_upstream(ResponseCode::ServFail, false).await?;
    let good = fake_udp_upstream(ResponseCode::NoError, false).await?;
    let upstreams = vec![silent.local_addr()?, dead, failing.addr, good.addr];
    let server = start(
        FakeLookup::with_upstreams(upstreams),
        Duration::from_millis(300),
    )
    .await?;

    let started = Instant::now();
    let r = udp_query(
        server.local_addr(),
        &query(0x0102, "example.com.", RecordType::A)?,
    )
    .await?;
    assert_eq!(r.metadata.id, 0x0102);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answers(&r), [UPSTREAM_ADDR]);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the silent one was waited for"
    );
    assert_eq!(failing.ids.lock().map(|i| i.len()).unwrap_or_default(), 1);
    Ok(())
}

#[tokio::test]
async fn servfail_when_no_upstream_answers() -> Result<()> {
    let silent = silent_upstream().await?;
    let dead = dead_upstream().await?;
    let lookup = FakeLookup::with_upstreams(vec![silent.local_addr()?, dead]);
    let server = start(lookup.clone(), Duration::from_millis(200)).await?;
    let addr = server.local_addr();

    for tcp in [false, true] {
        let q = query(0x0bad, "example.com.", RecordType::A)?;
        let r = if tcp {
            tcp_query(addr, &q).await?
        } else {
            udp_query(addr, &q).await?
        };
        assert_eq!(r.metadata.id, 0x0bad, "tcp={tcp}");
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::ServFail,
            "tcp={tcp}"
        );
        assert!(r.metadata.recursion_available);
        assert!(same_question(&r, &q), "{:?}", r.queries);
    }

    // No upstreams at all: SERVFAIL too.
    if let Ok(mut u) = lookup.upstreams.lock() {
        u.clear();
    }
    let r = udp_query(addr, &query(0x0bae, "example.com.", RecordType::A)?).await?;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);

    // An upstream that only fails: its SERVFAIL is relayed.
    let failing = fake_udp_upstream(ResponseCode::Refused, false).await?;
    if let Ok(mut u) = lookup.upstreams.lock() {
        *u = vec![failing.addr];
    }
    let r = udp_query(addr, &query(0x0baf, "example.com.", RecordType::A)?).await?;
    assert_eq!(r.metadata.id, 0x0baf);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    Ok(())
}

#[tokio::test]
async fn truncated_upstream_answers_are_relayed_as_is() -> Result<()> {
    let truncating = fake_udp_upstream(ResponseCode::NoError, true).await?;
    let good = fake_udp_upstream(ResponseCode::NoError, false).await?;
    let server = start(
        FakeLookup::with_upstreams(vec![truncating.addr, good.addr]),
        Duration::from_secs(2),
    )
    .await?;
    let r = udp_query(
        server.local_addr(),
        &query(0x7c7c, "big.example.", RecordType::A)?,
    )
    .await?;
    assert_eq!(r.metadata.id, 0x7c7c);
    assert!(r.metadata.truncation);
    assert!(
        good.ids.lock().map(|i| i.is_empty()).unwrap_or_default(),
        "not retried elsewhere"
    );
    Ok(())
}

#[tokio::test]
async fn a_slow_upstream_does_not_delay_our_names() -> Result<()> {
    let silent = silent_upstream().await?;
    let server = start(
        FakeLookup::with_upstreams(vec![silent.local_addr()?]),
        Duration::from_secs(3),
    )
    .await?;
    let addr = server.local_addr();

    // Give the forwarded query a head start, then ask for one of ours over UDP and TCP.
    let pending = {
        let q = query(1, "slow.example.", RecordType::A)?;
        tokio::spawn(async move { udp_query(addr, &q).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let r = udp_query(addr, &query(2, "web.", RecordType::A)?).await?;
    assert_eq!(answers(&r), ["172.18.0.2"]);
    let r = tcp_query(addr, &query(3, "web.", RecordType::A)?).await?;
    assert_eq!(answers(&r), ["172.18.0.2"]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    pending.abort();
    Ok(())
}

#[tokio::test]
async fn several_queries_on_one_tcp_connection() -> Result<()> {
    let tcp_upstream = fake_tcp_upstream().await?;
    let server = start(
        FakeLookup::with_upstreams(vec![tcp_upstream.addr]),
        Duration::from_secs(2),
    )
    .await?;
    let mut stream = TcpStream::connect(server.local_addr()).await?;
    // Three queries written at once, one of them forwarded; answers may come in any order.
    let mut batch = Vec::new();
    for (id, name) in [(10u16, "web."), (11, "example.com."), (12, "db.")] {
        let packet = query(id, name, RecordType::A)?.to_vec()?;
        batch.extend_from_slice(&u16::try_from(packet.len())?.to_be_bytes());
        batch.extend_from_slice(&packet);
    }
    stream.write_all(&batch).await?;
    let mut got = Vec::new();
    for _ in 0..3 {
        let r = read_framed(&mut stream).await?;
        got.push((r.metadata.id, answers(&r)));
    }
    got.sort();
    assert_eq!(
        got,
        [
            (10, vec!["172.18.0.2".to_string()]),
            (11, vec![UPSTREAM_ADDR.to_string()]),
            (12, vec!["172.18.0.3".to_string(), "172.18.0.4".to_string()]),
        ]
    );
    // And another one later on the same connection.
    write_framed(&mut stream, &query(13, "web.", RecordType::AAAA)?.to_vec()?).await?;
    assert_eq!(answers(&read_framed(&mut stream).await?), ["fd00:18::2"]);
    Ok(())
}

#[tokio::test]
async fn idle_tcp_connections_are_closed() -> Result<()> {
    let options = Options {
        tcp_idle_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let server = DnsServer::start_with(
        (LOCALHOST, 0).into(),
        FakeLookup::with_upstreams(Vec::new()),
        options,
    )
    .await?;
    let mut stream = TcpStream::connect(server.local_addr()).await?;
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .context("not closed")??;
    assert_eq!(n, 0, "closed without data");
    Ok(())
}

#[tokio::test]
async fn garbage_does_not_kill_the_server() -> Result<()> {
    let server = start(
        FakeLookup::with_upstreams(Vec::new()),
        Duration::from_millis(200),
    )
    .await?;
    let addr = server.local_addr();
    let client = UdpSocket::bind((LOCALHOST, 0)).await?;
    // Too short for a header, a response, random junk: dropped. A header with a broken body:
    // FORMERR with the id.
    let good = query(0x1111, "web.", RecordType::A)?.to_vec()?;
    let mut response = good.clone();
    response[2] |= 0x80;
    for junk in [
        vec![],
        vec![0u8; 5],
        response,
        (0..=255u8).map(|b| b.wrapping_mul(97)).collect::<Vec<u8>>(),
        vec![0xff; 600],
    ] {
        client.send_to(&junk, addr).await?;
    }
    let mut broken = good[..good.len() - 2].to_vec();
    broken[0] = 0x22;
    let r = Message::from_vec(&udp_exchange(addr, &broken).await?)?;
    assert_eq!(r.metadata.id, 0x2211);
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);

    // Garbage over TCP: a framed broken query gets FORMERR, a bogus frame closes nothing else.
    let mut stream = TcpStream::connect(addr).await?;
    write_framed(&mut stream, &broken).await?;
    assert_eq!(
        read_framed(&mut stream).await?.metadata.response_code,
        ResponseCode::FormErr
    );
    let mut stream2 = TcpStream::connect(addr).await?;
    stream2.write_all(&[0xff, 0xff, 1, 2, 3]).await?;
    drop(stream2);

    // Still serving, UDP and TCP; the unanswered junk produced no datagram for this client.
    let r = udp_query(addr, &query(0x3333, "web.", RecordType::A)?).await?;
    assert_eq!(answers(&r), ["172.18.0.2"]);
    let r = tcp_query(addr, &query(0x3334, "web.", RecordType::A)?).await?;
    assert_eq!(answers(&r), ["172.18.0.2"]);
    let mut buf = [0u8; 512];
    match tokio::time::timeout(Duration::from_millis(200), client.recv_from(&mut buf)).await {
        Err(_) => {}
        Ok(got) => bail!("junk was answered: {got:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn dropping_the_server_frees_the_port() -> Result<()> {
    let server = start(
        FakeLookup::with_upstreams(Vec::new()),
        Duration::from_secs(2),
    )
    .await?;
    let addr = server.local_addr();
    // An open TCP connection and a query in flight do not keep the port.
    let mut stream = TcpStream::connect(addr).await?;
    write_framed(&mut stream, &query(1, "web.", RecordType::A)?.to_vec()?).await?;
    read_framed(&mut stream).await?;
    drop(server);
    let udp = UdpSocket::bind(addr)
        .await
        .context("udp port still taken")?;
    let tcp = TcpListener::bind(addr)
        .await
        .context("tcp port still taken")?;
    drop((udp, tcp));
    // And a new server can take the very same address.
    let again = DnsServer::start(addr, FakeLookup::with_upstreams(Vec::new())).await?;
    assert_eq!(again.local_addr(), addr);
    let r = udp_query(addr, &query(2, "web.", RecordType::A)?).await?;
    assert_eq!(answers(&r), ["172.18.0.2"]);
    Ok(())
}

#[tokio::test]
async fn a_taken_port_is_a_conflict() -> Result<()> {
    let taken = UdpSocket::bind((LOCALHOST, 0)).await?;
    let err = DnsServer::start(taken.local_addr()?, FakeLookup::with_upstreams(Vec::new()))
        .await
        .err()
        .context("started on a taken port")?;
    assert_eq!(
        berth_errdefs::HasKind::kind(&err),
        berth_errdefs::Kind::Conflict,
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn forwarded_queries_in_flight_are_bounded() -> Result<()> {
    let silent = silent_upstream().await?;
    let options = Options {
        upstream_timeout: Duration::from_millis(500),
        max_forwards: 1,
        ..Options::default()
    };
    let lookup = FakeLookup::with_upstreams(vec![silent.local_addr()?]);
    let server = DnsServer::start_with((LOCALHOST, 0).into(), lookup, options).await?;
    let addr = server.local_addr();

    // The first forwarded query takes the only slot; the second is dropped, not queued.
    let first = UdpSocket::bind((LOCALHOST, 0)).await?;
    first
        .send_to(&query(1, "one.example.", RecordType::A)?.to_vec()?, addr)
        .await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = UdpSocket::bind((LOCALHOST, 0)).await?;
    second
        .send_to(&query(2, "two.example.", RecordType::A)?.to_vec()?, addr)
        .await?;
    // Our own names are still answered at once.
    let r = udp_query(addr, &query(3, "web.", RecordType::A)?).await?;
    assert_eq!(answers(&r), ["172.18.0.2"]);

    let mut buf = vec![0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(3), first.recv_from(&mut buf)).await??;
    assert_eq!(
        Message::from_vec(&buf[..n])?.metadata.response_code,
        ResponseCode::ServFail
    );
    let dropped =
        tokio::time::timeout(Duration::from_millis(300), second.recv_from(&mut buf)).await;
    assert!(dropped.is_err(), "the query over the bound was answered");

    // The slot is free again.
    let r = udp_query(addr, &query(4, "four.example.", RecordType::A)?).await?;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    Ok(())
}
