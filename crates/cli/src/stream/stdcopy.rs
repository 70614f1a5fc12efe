//! The daemon's multiplexed stream for containers without a TTY: frames of an 8-byte header
//! `[stream, 0, 0, 0, size (u32 big endian)]` followed by `size` bytes of payload.

/// Where a frame's payload goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Stream 0 (stdin echo) and 1: standard output.
    Stdout,
    /// Stream 2: standard error.
    Stderr,
}

/// A decoded piece of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Destination.
    pub stream: Stream,
    /// Payload bytes.
    pub data: Vec<u8>,
}

/// Why a stream could not be demultiplexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemuxError {
    /// Stream 3: the daemon reports an error in-band.
    Daemon(String),
    /// A header with a stream number docker does not know.
    BadHeader(u8),
}

impl std::fmt::Display for DemuxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemuxError::Daemon(m) => write!(f, "error from daemon in stream: {m}"),
            DemuxError::BadHeader(b) => write!(f, "Unrecognized input header: {b}"),
        }
    }
}

impl std::error::Error for DemuxError {}

const HEADER: usize = 8;

/// Incremental demultiplexer: feed it bytes as they arrive, get whole frames out.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

impl Demuxer {
    /// A demuxer with an empty buffer.
    pub fn new() -> Demuxer {
        Demuxer::default()
    }

    /// Add `data` and return every frame now complete.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Frame>, DemuxError> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        let mut pos = 0;
        while self.buf.len() - pos >= HEADER {
            let h = &self.buf[pos..pos + HEADER];
            let size = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            let kind = h[0];
            if self.buf.len() - pos - HEADER < size {
                // Reject unknown streams early rather than waiting for a bogus length.
                if kind > 3 {
                    return Err(DemuxError::BadHeader(kind));
                }
                break;
            }
            let payload = self.buf[pos + HEADER..pos + HEADER + size].to_vec();
            pos += HEADER + size;
            let stream = match kind {
                0 | 1 => Stream::Stdout,
                2 => Stream::Stderr,
                3 => return Err(DemuxError::Daemon(String::from_utf8_lossy(&payload).into_owned())),
                other => return Err(DemuxError::BadHeader(other)),
            };
            if !payload.is_empty() {
                frames.push(Frame { stream, data: payload });
            }
        }
        self.buf.drain(..pos);
        Ok(frames)
    }

    /// Bytes held back waiting for the rest of a frame.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Encode one frame (used by tests and fakes).
#[cfg(test)]
pub fn encode(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![stream, 0, 0, 0];
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &str) -> Frame {
        Frame { stream: Stream::Stdout, data: s.as_bytes().to_vec() }
    }
    fn err(s: &str) -> Frame {
        Frame { stream: Stream::Stderr, data: s.as_bytes().to_vec() }
    }

    #[test]
    fn demuxes_whole_and_split_frames() {
        let mut wire = encode(1, b"hello\n");
        wire.extend(encode(2, b"oops\n"));
        wire.extend(encode(0, b"echo"));
        wire.extend(encode(1, b""));
        // Every split point gives the same frames.
        for split in 0..=wire.len() {
            let mut d = Demuxer::new();
            let mut frames = d.push(&wire[..split]).unwrap();
            frames.extend(d.push(&wire[split..]).unwrap());
            assert_eq!(frames, vec![out("hello\n"), err("oops\n"), out("echo")], "split at {split}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn byte_at_a_time() {
        let wire = encode(2, &[0u8, 1, 2, 255]);
        let mut d = Demuxer::new();
        let mut frames = Vec::new();
        for b in &wire {
            frames.extend(d.push(&[*b]).unwrap());
        }
        assert_eq!(frames, vec![Frame { stream: Stream::Stderr, data: vec![0, 1, 2, 255] }]);
    }

    #[test]
    fn errors() {
        let mut d = Demuxer::new();
        assert_eq!(d.push(&encode(3, b"boom")), Err(DemuxError::Daemon("boom".into())));
        let mut d = Demuxer::new();
        assert_eq!(d.push(&[9, 0, 0, 0, 0, 0, 1, 0]), Err(DemuxError::BadHeader(9)));
        let mut d = Demuxer::new();
        assert_eq!(d.push(&[1, 0, 0, 0, 0, 0, 0, 5, b'a']).unwrap(), vec![]);
        assert_eq!(d.pending(), 9);
    }
}
