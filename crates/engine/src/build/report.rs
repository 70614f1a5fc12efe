//! The build's output: JSON messages to the client, or, with `q`, held back until the end
//! (dockerd's quiet mode sends only the image id, or everything and the error on failure).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_api::JsonMessage;

use crate::service::ProgressSender;

/// Where the builder's messages go. Cheap to clone; sends never fail (a client that went away
/// does not stop the build).
#[derive(Clone)]
pub(crate) struct Reporter {
    tx: ProgressSender,
    quiet: bool,
    held: Arc<Mutex<Vec<JsonMessage>>>,
    said: Arc<AtomicBool>,
}

impl Reporter {
    pub(crate) fn new(tx: ProgressSender, quiet: bool) -> Reporter {
        Reporter { tx, quiet, held: Arc::new(Mutex::new(Vec::new())), said: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether anything was said (sent or held): after that, errors go in band.
    pub(crate) fn said_anything(&self) -> bool {
        self.said.load(Ordering::SeqCst)
    }

    /// Send (or hold) a message.
    pub(crate) async fn send(&self, m: JsonMessage) {
        self.said.store(true, Ordering::SeqCst);
        if self.quiet {
            self.held.lock().unwrap_or_else(|p| p.into_inner()).push(m);
            return;
        }
        let _ = self.tx.send(m).await;
    }

    /// A `stream` line (the text should end in `\n`).
    pub(crate) async fn line(&self, text: impl Into<String>) {
        self.send(JsonMessage::stream(text)).await
    }

    /// Send a message even in quiet mode (the final id, the final error).
    pub(crate) async fn always(&self, m: JsonMessage) {
        self.said.store(true, Ordering::SeqCst);
        let _ = self.tx.send(m).await;
    }

    /// Quiet mode, failing: send what was held back.
    pub(crate) async fn flush_held(&self) {
        let held: Vec<JsonMessage> = std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        for m in held {
            let _ = self.tx.send(m).await;
        }
    }
}
