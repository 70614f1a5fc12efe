//! A stream of JSON documents, as the progress endpoints send them: one JSON object after
//! another (usually one per line, but Go's decoder needs no separator and neither do we),
//! split across HTTP chunks anywhere.

use crate::request::BodyStream;
use crate::Error;

/// Decodes the JSON values of a response body one at a time.
#[derive(Debug)]
pub struct JsonStream {
    body: BodyStream,
    buf: Vec<u8>,
    ended: bool,
}

impl JsonStream {
    /// Decode `body`.
    pub fn new(body: BodyStream) -> JsonStream {
        JsonStream { body, buf: Vec::new(), ended: false }
    }

    /// The next value; `None` once the body ended between values. A body that ends inside a
    /// value, or bytes that are not JSON, give [`Error::Protocol`].
    pub async fn next(&mut self) -> Option<Result<serde_json::Value, Error>> {
        loop {
            match take_value(&mut self.buf) {
                Ok(Some(v)) => return Some(Ok(v)),
                Ok(None) => {}
                Err(e) => {
                    self.buf.clear();
                    self.ended = true;
                    return Some(Err(e));
                }
            }
            if self.ended {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                self.buf.clear();
                return Some(Err(Error::Protocol("unexpected EOF".into())));
            }
            match self.body.chunk().await {
                Some(Ok(data)) => self.buf.extend_from_slice(&data),
                Some(Err(e)) => {
                    self.ended = true;
                    self.buf.clear();
                    return Some(Err(e));
                }
                None => self.ended = true,
            }
        }
    }
}

/// Take one complete value off the front of `buf`: `Ok(None)` if more bytes are needed.
fn take_value(buf: &mut Vec<u8>) -> Result<Option<serde_json::Value>, Error> {
    let start = buf.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(buf.len());
    if start == buf.len() {
        buf.clear();
        return Ok(None);
    }
    let mut it = serde_json::Deserializer::from_slice(&buf[start..]).into_iter::<serde_json::Value>();
    match it.next() {
        Some(Ok(v)) => {
            let end = start + it.byte_offset();
            buf.drain(..end);
            Ok(Some(v))
        }
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(e)) => Err(Error::Protocol(format!("invalid JSON in stream: {e}"))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = Vec<Result<serde_json::Value, String>>;

    async fn all(chunks: &[&str]) -> Decoded {
        let body = BodyStream::from_chunks(chunks.iter().map(|c| Ok(c.as_bytes().to_vec())).collect());
        let mut s = JsonStream::new(body);
        let mut got = Vec::new();
        while let Some(v) = s.next().await {
            got.push(v.map_err(|e| e.to_string()));
        }
        got
    }

    #[tokio::test]
    async fn values_split_anywhere() {
        let cases: Vec<(Vec<&str>, Decoded)> = vec![
            (vec![], vec![]),
            (vec!["\r\n  \n"], vec![]),
            (vec!["{\"status\":\"a\"}\r\n{\"status\":\"b\"}\r\n"], vec![Ok(serde_json::json!({"status":"a"})), Ok(serde_json::json!({"status":"b"}))]),
            (vec!["{\"sta", "tus\":\"a\"}", "\n{\"id\":", "\"x\"}"], vec![Ok(serde_json::json!({"status":"a"})), Ok(serde_json::json!({"id":"x"}))]),
            (vec!["{\"a\":1}{\"b\":2}"], vec![Ok(serde_json::json!({"a":1})), Ok(serde_json::json!({"b":2}))]),
            (vec!["{\"a\":1}\n{\"b\""], vec![Ok(serde_json::json!({"a":1})), Err("unexpected response from daemon: unexpected EOF".into())]),
            (vec!["{\"a\":1}\nnot json\n"], vec![Ok(serde_json::json!({"a":1})), Err("unexpected response from daemon: invalid JSON in stream: expected ident at line 1 column 2".into())]),
        ];
        for (chunks, want) in cases {
            assert_eq!(all(&chunks).await, want, "{chunks:?}");
        }
    }
}
