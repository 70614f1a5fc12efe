//! Just enough HTTP/1.1 to talk to a plugin: one POST per connection, a JSON body out, the
//! answer read to the end (Content-Length, chunked, or until the peer closes).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where a plugin listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A unix socket.
    Unix(PathBuf),
    /// `host:port` over plain TCP.
    Tcp(String),
}

/// Content type of plugin requests.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1+json";
const ACCEPT: &str = "application/vnd.docker.plugins.v1.2+json";

/// POST `body` to `path`; the status and the body of the answer.
pub(crate) fn post(addr: &Addr, path: &str, body: &[u8], timeout: Duration) -> std::io::Result<(u16, Vec<u8>)> {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: plugin\r\nUser-Agent: berth\r\nAccept: {ACCEPT}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut raw = Vec::new();
    match addr {
        Addr::Unix(p) => {
            let mut s = UnixStream::connect(p)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.write_all(req.as_bytes())?;
            s.write_all(body)?;
            read_response(&mut s, &mut raw)?;
        }
        Addr::Tcp(a) => {
            let mut s = TcpStream::connect(a)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.write_all(req.as_bytes())?;
            s.write_all(body)?;
            read_response(&mut s, &mut raw)?;
        }
    }
    parse_response(&raw)
}

/// Read until a whole response is in `buf` (or the peer closed).
fn read_response(s: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8192];
    loop {
        if complete(buf) {
            return Ok(());
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn split_head(raw: &[u8]) -> Option<(&str, &[u8])> {
    let i = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((std::str::from_utf8(&raw[..i]).ok()?, &raw[i + 4..]))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn complete(raw: &[u8]) -> bool {
    let Some((head, body)) = split_head(raw) else { return false };
    if let Some(n) = header(head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        return body.len() >= n;
    }
    if header(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return dechunk(body).is_some();
    }
    false
}

/// A chunked body decoded, or None while it is incomplete.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let i = b.windows(2).position(|w| w == b"\r\n")?;
        let size_s = std::str::from_utf8(&b[..i]).ok()?;
        let size = usize::from_str_radix(size_s.split(';').next()?.trim(), 16).ok()?;
        b = &b[i + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

pub(crate) fn parse_response(raw: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let (head, body) = split_head(raw).ok_or_else(|| bad("incomplete HTTP answer"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| head.starts_with("HTTP/1."))
        .ok_or_else(|| bad("not an HTTP answer"))?;
    let body = if let Some(n) = header(head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.get(..n).ok_or_else(|| bad("truncated HTTP body"))?.to_vec()
    } else if header(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(body).ok_or_else(|| bad("truncated chunked body"))?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse() {
        let cases: &[(&[u8], Option<(u16, &[u8])>)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", Some((200, b"{}"))),
            (b"HTTP/1.1 500 Internal\r\ncontent-length: 12\r\n\r\n{\"Err\":\"no\"}", Some((500, b"{\"Err\":\"no\"}"))),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n", Some((200, b"{\"a\":1}"))),
            (b"HTTP/1.0 200 OK\r\n\r\n{\"x\":1}", Some((200, b"{\"x\":1}"))),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", None),
            (b"garbage", None),
        ];
        for (raw, want) in cases {
            let got = parse_response(raw).ok();
            assert_eq!(got.as_ref().map(|(s, b)| (*s, b.as_slice())), *want, "{}", String::from_utf8_lossy(raw));
        }
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
    }
}
