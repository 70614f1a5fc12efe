//! Copy a hijacked connection to and from the local stdio, as docker's hijackedIOStreamer:
//! output is written raw (TTY) or demultiplexed; stdin is copied until it ends, then the
//! connection's write side is half-closed and the output is drained.

use std::io::{Read, Write};

use berth_client::Hijacked;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::escape::{EscapeFilter, Filtered};
use super::stdcopy::{Demuxer, Stream};

/// What to copy.
pub struct PumpOptions {
    /// The container has a TTY: output is raw, and detach keys are watched in the input.
    pub tty: bool,
    /// Copy local stdin to the container.
    pub stdin: bool,
    /// Detach sequence (only honoured with a TTY, as docker does).
    pub detach_keys: Vec<u8>,
}

/// How the session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PumpEnd {
    /// The daemon closed the output stream.
    Finished,
    /// The user typed the detach sequence.
    Detached,
}

/// Run the session until the output ends or the user detaches.
pub async fn pump(h: Hijacked, opts: PumpOptions) -> anyhow::Result<PumpEnd> {
    let Hijacked { mut reader, mut writer } = h;
    let tty = opts.tty;
    let mut output = tokio::spawn(async move { copy_output(&mut reader, tty).await });

    let input = async {
        if opts.stdin {
            let mut rx = spawn_stdin_reader();
            let mut filter = EscapeFilter::new(if tty { opts.detach_keys } else { vec![] });
            while let Some(chunk) = rx.recv().await {
                match filter.feed(&chunk) {
                    Filtered::Data(d) => {
                        if !d.is_empty() && writer.write_all(&d).await.is_err() {
                            break;
                        }
                        let _ = writer.flush().await;
                    }
                    Filtered::Detach(d) => {
                        let _ = writer.write_all(&d).await;
                        let _ = writer.flush().await;
                        return Ok::<bool, anyhow::Error>(true);
                    }
                }
            }
            let held = filter.held().to_vec();
            if !held.is_empty() {
                let _ = writer.write_all(&held).await;
            }
        }
        let _ = writer.shutdown().await;
        Ok(false)
    };

    tokio::select! {
        res = &mut output => {
            res??;
            Ok(PumpEnd::Finished)
        }
        detached = input => {
            if detached? {
                output.abort();
                return Ok(PumpEnd::Detached);
            }
            output.await??;
            Ok(PumpEnd::Finished)
        }
    }
}

async fn copy_output(
    reader: &mut std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    tty: bool,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut demux = Demuxer::new();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            // A reset after the container exits is an ordinary end of stream.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if tty {
            write_all(Stream::Stdout, &buf[..n])?;
        } else {
            for frame in demux.push(&buf[..n])? {
                write_all(frame.stream, &frame.data)?;
            }
        }
    }
}

/// Write to the local stdout or stderr and flush.
pub fn write_all(stream: Stream, data: &[u8]) -> std::io::Result<()> {
    match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(data)?;
            out.flush()
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(data)?;
            err.flush()
        }
    }
}

/// Read stdin on a plain thread (blocking reads cannot be cancelled; the process exits
/// without waiting for it). The channel closes at end of input.
fn spawn_stdin_reader() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    });
    rx
}
