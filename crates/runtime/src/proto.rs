//! The monitor protocol: frames on a unix stream socket between berthd and `berth-shim`.
//!
//! A frame is one type byte, a big-endian `u32` length and the payload. Every connection to a
//! monitor receives [`EXIT`] when the process exits, so a connection doubles as a watch. Output
//! frames are sent only on connections that sent [`ATTACH`].
//!
//! Client to monitor: [`START`], [`ATTACH`] (payload: any of `i`, `o`, `e`), [`STDIN`] (bytes),
//! [`STDIN_CLOSE`], [`RESIZE`] (`"rows cols"`), [`KILL`] (signal number as text),
//! [`STATUS`].
//! Monitor to client: [`STARTED`] (pid as text), [`ERROR`] (message), [`STDOUT`], [`STDERR`],
//! [`EXIT`] (exit code as text), [`RUNNING`] (pid as text, answer to STATUS), [`ATTACHED`]
//! (answer to ATTACH; a client waits for it before it lets the process start, so no output
//! can be missed).

use std::io::{self, Read, Write};

/// Start the process (it waits, fully set up, until this arrives).
pub const START: u8 = b'S';
/// Subscribe to output and/or forward input.
pub const ATTACH: u8 = b'A';
/// Bytes for the process's stdin.
pub const STDIN: u8 = b'0';
/// Close the process's stdin.
pub const STDIN_CLOSE: u8 = b'C';
/// Resize the terminal.
pub const RESIZE: u8 = b'R';
/// Send a signal to the process.
pub const KILL: u8 = b'K';
/// Ask whether the process runs.
pub const STATUS: u8 = b'?';
/// The process started; payload is its pid.
pub const STARTED: u8 = b's';
/// A request failed; payload is the message.
pub const ERROR: u8 = b'e';
/// Output on stdout (or the terminal).
pub const STDOUT: u8 = b'1';
/// Output on stderr.
pub const STDERR: u8 = b'2';
/// The process exited; payload is the Docker exit code.
pub const EXIT: u8 = b'x';
/// Answer to STATUS: running, payload is the pid.
pub const RUNNING: u8 = b'r';
/// Answer to ATTACH: subscribed; output from now on reaches this connection.
pub const ATTACHED: u8 = b'a';

/// Encode one frame.
pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + payload.len());
    v.push(kind);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Write one frame.
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode(kind, payload))
}

/// Read one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 5];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > 16 << 20 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "monitor frame too large"));
    }
    let mut p = vec![0u8; len];
    r.read_exact(&mut p)?;
    Ok(Some((h[0], p)))
}

/// Incremental decoder for frames arriving in arbitrary pieces (non-blocking readers).
#[derive(Default, Debug)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Add bytes as they arrive.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }
    /// The next complete frame, if there is one.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if self.buf.len() < 5 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if self.buf.len() < 5 + len {
            return None;
        }
        let kind = self.buf[0];
        let payload = self.buf[5..5 + len].to_vec();
        self.buf.drain(..5 + len);
        Some((kind, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_whole_and_in_pieces() {
        let mut wire = encode(STDOUT, b"hello");
        wire.extend(encode(EXIT, b"0"));
        let mut r = &wire[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some((STDOUT, b"hello".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), Some((EXIT, b"0".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), None);

        let mut d = Decoder::default();
        for b in &wire {
            d.push(&[*b]);
        }
        assert_eq!(d.next_frame(), Some((STDOUT, b"hello".to_vec())));
        assert_eq!(d.next_frame(), Some((EXIT, b"0".to_vec())));
        assert_eq!(d.next_frame(), None);
    }
}
