//! berthd's side of the monitor protocol (`berth_runtime::proto`), over tokio.

use std::io;
use std::path::Path;

use berth_runtime::proto::{self, Decoder};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// One connection to a monitor. Every connection receives the exit frame.
pub(crate) struct Conn {
    rd: ConnReader,
    wr: OwnedWriteHalf,
}

/// A frame from the monitor.
pub(crate) type Frame = (u8, Vec<u8>);

impl Conn {
    pub(crate) async fn connect(socket: &Path) -> io::Result<Conn> {
        let s = UnixStream::connect(socket).await?;
        let (rd, wr) = s.into_split();
        Ok(Conn { rd: ConnReader { rd, dec: Decoder::default(), buf: Vec::new() }, wr })
    }

    pub(crate) async fn send(&mut self, kind: u8, payload: &[u8]) -> io::Result<()> {
        self.wr.write_all(&proto::encode(kind, payload)).await
    }

    /// Send `kind` and wait for the first reply that is not output or exit.
    pub(crate) async fn request(&mut self, kind: u8, payload: &[u8]) -> io::Result<Frame> {
        self.send(kind, payload).await?;
        loop {
            match self.rd.recv().await? {
                None => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "monitor closed the connection")),
                Some((k, _)) if k == proto::STDOUT || k == proto::STDERR => continue,
                Some((proto::EXIT, p)) => return Ok((proto::EXIT, p)),
                Some(f) => return Ok(f),
            }
        }
    }

    pub(crate) fn split(self) -> (ConnReader, OwnedWriteHalf) {
        (self.rd, self.wr)
    }
}

/// The read side of a split connection.
pub(crate) struct ConnReader {
    rd: OwnedReadHalf,
    dec: Decoder,
    /// Allocated on the first read: berthd holds one idle connection per running container
    /// (waiting for its exit frame), and a buffer in each idle wait would cost 32 KiB apiece.
    buf: Vec<u8>,
}

/// How much one read takes at most.
const READ_CHUNK: usize = 32 * 1024;

impl ConnReader {
    /// The next frame; `None` when the monitor closed the connection.
    pub(crate) async fn recv(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some(f) = self.dec.next_frame() {
                return Ok(Some(f));
            }
            self.rd.readable().await?;
            if self.buf.is_empty() {
                self.buf = vec![0; READ_CHUNK];
            }
            match self.rd.try_read(&mut self.buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.dec.push(&self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Write one frame on a write half.
pub(crate) async fn send(wr: &mut OwnedWriteHalf, kind: u8, payload: &[u8]) -> io::Result<()> {
    wr.write_all(&proto::encode(kind, payload)).await
}
