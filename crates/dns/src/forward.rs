//! Forwarding a raw query to upstream resolvers, one after the other.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

/// Response codes after which the next upstream is asked.
const RCODE_SERVFAIL: u8 = 2;
const RCODE_REFUSED: u8 = 5;

/// Length of the DNS header.
const HEADER: usize = 12;

/// Forward `query` (a complete DNS query, at least a header long) to `upstreams` in order, over
/// UDP or TCP, each with `timeout` for the whole exchange. Returns the first useful answer with
/// the id of `query`; an answer with SERVFAIL or REFUSED is kept only in case nobody answers
/// better. None when no upstream answered.
pub(crate) async fn forward(
    query: &[u8],
    upstreams: &[SocketAddr],
    timeout: Duration,
    tcp: bool,
) -> Option<Vec<u8>> {
    if query.len() < HEADER {
        return None;
    }
    let client_id = [query[0], query[1]];
    let mut fallback = None;
    for &upstream in upstreams {
        let id = random_id();
        let mut ours = query.to_vec();
        ours[..2].copy_from_slice(&id.to_be_bytes());
        let deadline = Instant::now() + timeout;
        let result = if tcp {
            tcp_exchange(&ours, upstream, id, deadline).await
        } else {
            udp_exchange(&ours, upstream, id, deadline).await
        };
        match result {
            Ok(mut answer) => {
                answer[..2].copy_from_slice(&client_id);
                let rcode = answer[3] & 0x0f;
                if rcode == RCODE_SERVFAIL || rcode == RCODE_REFUSED {
                    tracing::debug!(%upstream, rcode, "upstream failed, trying the next");
                    fallback = Some(answer);
                    continue;
                }
                return Some(answer);
            }
            Err(e) => tracing::debug!(%upstream, tcp, "upstream did not answer: {e}"),
        }
    }
    fallback
}

/// Is `packet` the response to our query `id`?
fn is_answer(packet: &[u8], id: u16) -> bool {
    packet.len() >= HEADER && packet[..2] == id.to_be_bytes() && packet[2] & 0x80 != 0
}

fn unspecified_for(upstream: SocketAddr) -> SocketAddr {
    match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

/// One UDP exchange from a fresh socket connected to `upstream` (so only its datagrams are
/// received); datagrams that are not the answer to `id` are ignored until the deadline.
async fn udp_exchange(
    query: &[u8],
    upstream: SocketAddr,
    id: u16,
    deadline: Instant,
) -> io::Result<Vec<u8>> {
    let socket = UdpSocket::bind(unspecified_for(upstream)).await?;
    socket.connect(upstream).await?;
    timeout_at(deadline, socket.send(query))
        .await
        .map_err(|_| timed_out())??;
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        let n = timeout_at(deadline, socket.recv(&mut buf))
            .await
            .map_err(|_| timed_out())??;
        if is_answer(&buf[..n], id) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

/// One TCP exchange: connect, send the length-prefixed query, read one length-prefixed answer.
async fn tcp_exchange(
    query: &[u8],
    upstream: SocketAddr,
    id: u16,
    deadline: Instant,
) -> io::Result<Vec<u8>> {
    let exchange = async {
        let len =
            u16::try_from(query.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut stream = TcpStream::connect(upstream).await?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream.write_all(&framed).await?;
        loop {
            let len = stream.read_u16().await?;
            let mut answer = vec![0u8; usize::from(len)];
            stream.read_exact(&mut answer).await?;
            if is_answer(&answer, id) {
                return Ok(answer);
            }
        }
    };
    timeout_at(deadline, exchange)
        .await
        .map_err(|_| timed_out())?
}

/// A random query id for the upstream, so answers cannot be guessed by whoever sees the
/// client's query.
fn random_id() -> u16 {
    getrandom::u32().map_or_else(
        |_| {
            // No entropy source: the std hasher's random keys (different for every RandomState).
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(()) as u16
        },
        |v| v as u16,
    )
}
