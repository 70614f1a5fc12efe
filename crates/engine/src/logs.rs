//! Reading the json-file logs a monitor writes: history, filters, and following.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_errdefs::Result;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::containers::{parse_rfc3339, Container};
use crate::service::{Chunk, LogStream, LogsOptions, StdStream};
use crate::Engine;

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// One parsed entry, ready to send.
fn to_chunk(e: &Entry, opts: &LogsOptions) -> Option<Chunk> {
    let stream = match e.stream.as_str() {
        "stderr" => StdStream::Stderr,
        _ => StdStream::Stdout,
    };
    if (stream == StdStream::Stdout && !opts.stdout) || (stream == StdStream::Stderr && !opts.stderr) {
        return None;
    }
    let t = parse_rfc3339(&e.time);
    if opts.since.is_some_and(|s| t < s) || opts.until.is_some_and(|u| t > u) {
        return None;
    }
    let data = if opts.timestamps { format!("{} {}", e.time, e.log) } else { e.log.clone() };
    Some(Chunk { stream, data: Bytes::from(data) })
}

/// The log files of a container, oldest first (rotated `.N` files, then the live one).
fn files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for n in (1..100).rev() {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if p.exists() {
            out.push(p);
        }
    }
    out.push(path.to_path_buf());
    out
}

/// Every matching chunk currently in the logs, and the live file's length read so far.
pub(crate) fn read_all(path: &Path, opts: &LogsOptions) -> (Vec<Chunk>, u64) {
    let mut chunks = Vec::new();
    let mut offset = 0;
    let all = files(path);
    for (i, f) in all.iter().enumerate() {
        let Ok(file) = std::fs::File::open(f) else { continue };
        let mut rd = BufReader::new(file);
        let mut line = String::new();
        let mut pos = 0u64;
        loop {
            line.clear();
            match rd.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !line.ends_with('\n') {
                        break;
                    }
                    pos += n as u64;
                    if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                        if let Some(c) = to_chunk(&e, opts) {
                            chunks.push(c);
                        }
                    }
                }
            }
        }
        if i == all.len() - 1 {
            offset = pos;
        }
    }
    if let Some(n) = opts.tail {
        // Tail counts lines; an entry is a line unless it was a partial one.
        let mut lines = 0;
        let mut start = chunks.len();
        while start > 0 && lines < n {
            start -= 1;
            if chunks[start].data.ends_with(b"\n") {
                lines += 1;
            }
        }
        if lines == n && start > 0 && !chunks[start - 1].data.ends_with(b"\n") {
            // keep partial fragments of the first kept line together
        }
        chunks.drain(..start);
    }
    (chunks, offset)
}

impl Engine {
    pub(crate) async fn container_logs_of(self: &Engine, c: &Arc<Container>, opts: LogsOptions) -> Result<LogStream> {
        let rec = c.record();
        let tty = rec.config.tty.unwrap_or(false);
        let path = self.log_path(&c.id);
        let o = opts.clone();
        let p = path.clone();
        let (chunks, offset) = tokio::task::spawn_blocking(move || read_all(&p, &o)).await.unwrap_or_default();
        if !opts.follow || !rec.state.running() {
            return Ok(LogStream { tty, chunks: futures_util::stream::iter(chunks).boxed() });
        }
        let (tx, rx) = mpsc::channel::<Chunk>(256);
        let life = c.life.subscribe();
        tokio::spawn(async move {
            for ch in chunks {
                if tx.send(ch).await.is_err() {
                    return;
                }
            }
            follow(path, offset, opts, life, tx).await;
        });
        let s = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
        Ok(LogStream { tty, chunks: s.boxed() })
    }
}

/// Poll the live file for new entries until the container stops, then read what is left.
async fn follow(
    path: PathBuf,
    mut offset: u64,
    opts: LogsOptions,
    mut life: tokio::sync::watch::Receiver<crate::containers::Life>,
    tx: mpsc::Sender<Chunk>,
) {
    let mut ino = std::fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap_or(0);
    let mut last = false;
    loop {
        let meta = std::fs::metadata(&path);
        if let Ok(md) = &meta {
            let new_ino = std::os::unix::fs::MetadataExt::ino(md);
            if new_ino != ino || md.len() < offset {
                // Rotated or truncated: start over on the new file.
                ino = new_ino;
                offset = 0;
            }
            if md.len() > offset {
                if let Ok(mut f) = std::fs::File::open(&path) {
                    if f.seek(SeekFrom::Start(offset)).is_ok() {
                        let mut rd = BufReader::new(f);
                        let mut line = String::new();
                        loop {
                            line.clear();
                            match rd.read_line(&mut line) {
                                Ok(0) | Err(_) => break,
                                Ok(n) if line.ends_with('\n') => {
                                    offset += n as u64;
                                    if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                                        if let Some(c) = to_chunk(&e, &opts) {
                                            if tx.send(c).await.is_err() {
                                                return;
                                            }
                                        }
                                    }
                                }
                                Ok(_) => break,
                            }
                        }
                    }
                }
            }
        }
        if last || tx.is_closed() {
            return;
        }
        if !life.borrow().running {
            // One more pass for what the monitor wrote before exiting.
            last = true;
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = life.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(p: &Path, entries: &[(&str, &str, &str)]) {
        let mut s = String::new();
        for (log, stream, time) in entries {
            s.push_str(&serde_json::json!({"log": log, "stream": stream, "time": time}).to_string());
            s.push('\n');
        }
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn reads_filters_and_tails() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x-json.log");
        write_log(&p, &[
            ("a\n", "stdout", "2026-01-01T00:00:01.000000000Z"),
            ("b\n", "stderr", "2026-01-01T00:00:02.000000000Z"),
            ("c\n", "stdout", "2026-01-01T00:00:03.000000000Z"),
        ]);
        std::fs::write(format!("{}.1", p.display()), serde_json::json!({"log":"old\n","stream":"stdout","time":"2025-12-31T00:00:00Z"}).to_string() + "\n").unwrap();
        let all = LogsOptions { stdout: true, stderr: true, ..Default::default() };
        let text = |o: &LogsOptions| -> String {
            read_all(&p, o).0.iter().map(|c| String::from_utf8_lossy(&c.data).into_owned()).collect()
        };
        assert_eq!(text(&all), "old\na\nb\nc\n");
        assert_eq!(text(&LogsOptions { stderr: false, ..all.clone() }), "old\na\nc\n");
        assert_eq!(text(&LogsOptions { tail: Some(2), ..all.clone() }), "b\nc\n");
        assert_eq!(text(&LogsOptions { tail: Some(0), ..all.clone() }), "");
        let since = parse_rfc3339("2026-01-01T00:00:02Z");
        assert_eq!(text(&LogsOptions { since: Some(since), ..all.clone() }), "b\nc\n");
        assert_eq!(text(&LogsOptions { until: Some(since), ..all.clone() }), "old\na\nb\n");
        let ts = text(&LogsOptions { timestamps: true, tail: Some(1), ..all.clone() });
        assert_eq!(ts, "2026-01-01T00:00:03.000000000Z c\n");
    }
}
