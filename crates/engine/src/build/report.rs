//! The build's output: JSON messages to the client, or, with `q`, held back until the end
//! (dockerd's quiet mode sends only the image id, or everything and the error on failure).
//!
//! Stages run concurrently, but their messages come out in Dockerfile order: the first
//! unfinished stage (the front) streams live, later stages buffer until every earlier stage
//! finished; then their buffer is flushed and they go live. A message's stage is the
//! [`STAGE`] task-local of the task that sends it (or the one fixed by [`Reporter::current`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_api::JsonMessage;

use crate::service::ProgressSender;

tokio::task_local! {
    /// The stage (index in the Dockerfile) the current task builds.
    pub(crate) static STAGE: usize;
}

/// Which stages' messages wait for which.
#[derive(Default)]
struct Order {
    /// The stages in Dockerfile order, not yet finished and not yet flushed past.
    pending: Vec<usize>,
    /// Finished stages (their buffer goes out when they reach the front).
    done: std::collections::HashSet<usize>,
    /// Messages of stages behind the front.
    buffers: HashMap<usize, Vec<JsonMessage>>,
}

/// Where the builder's messages go. Cheap to clone; sends never fail (a client that went away
/// does not stop the build).
#[derive(Clone)]
pub(crate) struct Reporter {
    tx: ProgressSender,
    quiet: bool,
    held: Arc<Mutex<Vec<JsonMessage>>>,
    said: Arc<AtomicBool>,
    /// Held across the client send, so that live messages and flushes keep their order.
    order: Arc<tokio::sync::Mutex<Order>>,
    /// The stage fixed for this clone (else the task-local one).
    stage: Option<usize>,
}

impl Reporter {
    pub(crate) fn new(tx: ProgressSender, quiet: bool) -> Reporter {
        Reporter {
            tx,
            quiet,
            held: Arc::new(Mutex::new(Vec::new())),
            said: Arc::new(AtomicBool::new(false)),
            order: Arc::new(tokio::sync::Mutex::new(Order::default())),
            stage: None,
        }
    }

    /// The stages about to run, in Dockerfile order: their messages come out in that order.
    pub(crate) async fn stages(&self, stages: impl IntoIterator<Item = usize>) {
        let mut o = self.order.lock().await;
        o.pending = stages.into_iter().collect();
        o.pending.sort_unstable();
        o.pending.dedup();
    }

    /// A clone bound to the current task's stage (for tasks it spawns).
    pub(crate) fn current(&self) -> Reporter {
        let mut r = self.clone();
        r.stage = self.stage.or_else(|| STAGE.try_with(|s| *s).ok());
        r
    }

    /// Stage `i` finished (well or not): the stages behind it may go out.
    pub(crate) async fn finish(&self, i: usize) {
        let mut o = self.order.lock().await;
        o.done.insert(i);
        self.advance(&mut o).await;
    }

    /// Every stage finished (or its task died): send whatever is still buffered, in order.
    pub(crate) async fn finish_all(&self) {
        let mut o = self.order.lock().await;
        let all = o.pending.clone();
        o.done.extend(all);
        self.advance(&mut o).await;
    }

    /// Pop finished stages off the front, flushing the buffer of each new front.
    async fn advance(&self, o: &mut Order) {
        while let Some(&front) = o.pending.first() {
            if let Some(buf) = o.buffers.remove(&front) {
                for m in buf {
                    self.emit(m).await;
                }
            }
            if !o.done.contains(&front) {
                break;
            }
            o.pending.remove(0);
        }
    }

    /// Whether anything was said (sent or held): after that, errors go in band.
    pub(crate) fn said_anything(&self) -> bool {
        self.said.load(Ordering::SeqCst)
    }

    /// Send (or hold) a message.
    pub(crate) async fn send(&self, m: JsonMessage) {
        self.said.store(true, Ordering::SeqCst);
        let stage = self.stage.or_else(|| STAGE.try_with(|s| *s).ok());
        let mut o = self.order.lock().await;
        match stage {
            Some(s) if o.pending.contains(&s) && o.pending.first() != Some(&s) => {
                o.buffers.entry(s).or_default().push(m);
            }
            _ => self.emit(m).await,
        }
    }

    /// Past the ordering: hold in quiet mode, else to the client.
    async fn emit(&self, m: JsonMessage) {
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
        self.finish_all().await;
        let held: Vec<JsonMessage> = std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        for m in held {
            let _ = self.tx.send(m).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &JsonMessage) -> String {
        m.stream.clone().unwrap_or_default()
    }

    /// Drain what reached the client so far.
    fn drain(rx: &mut tokio::sync::mpsc::Receiver<JsonMessage>) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(m) = rx.try_recv() {
            v.push(text(&m));
        }
        v
    }

    #[tokio::test]
    async fn stages_come_out_in_order_front_live() {
        for quiet in [false, true] {
            let (tx, mut rx) = tokio::sync::mpsc::channel(100);
            let r = Reporter::new(tx, quiet);
            r.stages([4, 0, 2]).await;
            r.line("pre\n").await;
            // Scrambled: stage 4, then 2, then 0 (the front), ...
            STAGE.scope(4, r.line("4a\n")).await;
            STAGE.scope(2, r.line("2a\n")).await;
            STAGE.scope(0, r.line("0a\n")).await;
            // A spawned helper of stage 2 keeps its stage through `current`.
            let c = STAGE.scope(2, async { r.current() }).await;
            tokio::spawn(async move { c.line("2b\n").await }).await.unwrap();
            if !quiet {
                // The front is live; the others wait.
                assert_eq!(drain(&mut rx), ["pre\n", "0a\n"]);
            }
            // Stage 4 finishes before the stages ahead of it: still buffered.
            r.finish(4).await;
            STAGE.scope(0, r.line("0b\n")).await;
            if !quiet {
                assert_eq!(drain(&mut rx), ["0b\n"]);
            }
            // Stage 0 done: stage 2's buffer goes out and 2 goes live.
            r.finish(0).await;
            if !quiet {
                assert_eq!(drain(&mut rx), ["2a\n", "2b\n"]);
            }
            STAGE.scope(2, r.line("2c\n")).await;
            if !quiet {
                assert_eq!(drain(&mut rx), ["2c\n"]);
            }
            r.finish(2).await;
            r.line("post\n").await;
            if quiet {
                // Nothing went out; a failure sends everything held, in order, before the error.
                assert!(drain(&mut rx).is_empty());
                r.flush_held().await;
                r.always(JsonMessage::stream("error\n")).await;
                assert_eq!(drain(&mut rx), ["pre\n", "0a\n", "0b\n", "2a\n", "2b\n", "2c\n", "4a\n", "post\n", "error\n"]);
            } else {
                assert_eq!(drain(&mut rx), ["4a\n", "post\n"]);
            }
        }
    }

    #[tokio::test]
    async fn finish_all_flushes_stages_that_never_finished() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(100);
        let r = Reporter::new(tx, false);
        r.stages([0, 1, 2]).await;
        STAGE.scope(2, r.line("2\n")).await;
        STAGE.scope(1, r.line("1\n")).await;
        assert!(drain(&mut rx).is_empty());
        r.finish_all().await;
        r.always(JsonMessage::stream("error\n")).await;
        assert_eq!(drain(&mut rx), ["1\n", "2\n", "error\n"]);
    }
}
