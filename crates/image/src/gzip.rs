//! Compressing a layer into the content store while it is being unpacked.
//!
//! [`GzipBlob`] is a [`Write`] that hands the bytes to a worker thread, which gzips them into
//! a [`BlobWriter`]: the compression runs beside the unpack instead of after it. The blob is
//! committed only by [`GzipBlob::finish`]; dropping it (an unpack that failed) discards it.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use berth_reference::Digest;

use crate::content::ContentStore;
use crate::Error;

/// Bytes handed to the worker at a time.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight: bounds the memory to `CHUNK * DEPTH`.
const DEPTH: usize = 8;

/// What the worker returns: the committed blob, or nothing when discarded.
type WorkerResult = Result<Option<(Digest, u64)>, Error>;

enum Msg {
    Data(Vec<u8>),
    Finish,
}

/// A gzip stream being written into the content store by a worker thread.
pub(crate) struct GzipBlob {
    tx: Option<SyncSender<Msg>>,
    buf: Vec<u8>,
    worker: Option<JoinHandle<WorkerResult>>,
}

impl GzipBlob {
    /// Start the worker. `level` is a gzip level (1 fastest .. 9 smallest).
    pub(crate) fn start(content: &ContentStore, level: u32) -> Result<GzipBlob, Error> {
        let blob = content.writer()?;
        let (tx, rx) = sync_channel::<Msg>(DEPTH);
        let worker = std::thread::Builder::new()
            .name("berth-gzip".into())
            .spawn(move || {
                let mut enc = flate2::write::GzEncoder::new(blob, flate2::Compression::new(level));
                let werr = |e| Error::io("compress layer into the content store")(e);
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Data(d) => enc.write_all(&d).map_err(werr)?,
                        Msg::Finish => {
                            let blob = enc
                                .finish()
                                .map_err(Error::io("compress layer into the content store"))?;
                            return blob.commit(None, None).map(Some);
                        }
                    }
                }
                // The sender went away without finishing: discard.
                Ok(None)
            })
            .map_err(Error::io("start a compression thread"))?;
        Ok(GzipBlob {
            tx: Some(tx),
            buf: Vec::with_capacity(CHUNK),
            worker: Some(worker),
        })
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::other("finished"))?;
        tx.send(msg)
            .map_err(|_| io::Error::other("the compression thread stopped"))
    }

    /// Flush, commit the blob; returns its digest and size. When writing failed earlier,
    /// returns the worker's error.
    pub(crate) fn finish(mut self) -> Result<(Digest, u64), Error> {
        let rest = std::mem::take(&mut self.buf);
        let sent = (rest.is_empty() || self.send(Msg::Data(rest)).is_ok())
            && self.send(Msg::Finish).is_ok();
        self.tx = None;
        let res = self.join();
        match res {
            Some(Ok(Some(done))) => Ok(done),
            Some(Err(e)) => Err(e),
            _ if !sent => Err(Error::Corrupt("the compression thread stopped".into())),
            _ => Err(Error::Corrupt(
                "the compression thread did not finish".into(),
            )),
        }
    }

    /// Discard the blob. Returns the worker's error, if it failed (the real cause of a
    /// failed write through this tee).
    pub(crate) fn abort(mut self) -> Option<Error> {
        self.tx = None;
        match self.join() {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    fn join(&mut self) -> Option<WorkerResult> {
        let h = self.worker.take()?;
        match h.join() {
            Ok(r) => Some(r),
            Err(_) => Some(Err(Error::Corrupt(
                "the compression thread panicked".into(),
            ))),
        }
    }
}

impl Write for GzipBlob {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.send(Msg::Data(full))?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for GzipBlob {
    fn drop(&mut self) {
        // Closing the channel without Finish makes the worker discard the blob.
        self.tx = None;
        let _ = self.join();
    }
}
