//! Docker's `json-file` log format with size-based rotation.
//!
//! One JSON object per line: `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`.
//! Output is split at newlines; a line longer than [`MAX_LINE`] or left unterminated at the end
//! is written as a partial entry (without the newline), as Docker does.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use berth_runtime::monitor::{rfc3339_nanos, LogConfig};

/// Longest entry before a line is split.
pub const MAX_LINE: usize = 16 * 1024;

pub struct LogFile {
    cfg: LogConfig,
    file: File,
    size: u64,
    partial: [Vec<u8>; 2],
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl LogFile {
    pub fn open(cfg: LogConfig) -> std::io::Result<Self> {
        if let Some(dir) = cfg.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&cfg.path)?;
        let size = file.metadata()?.len();
        Ok(LogFile { cfg, file, size, partial: [Vec::new(), Vec::new()] })
    }

    /// Log bytes from `stream` (1 stdout, 2 stderr).
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        let idx = if stream == 2 { 1 } else { 0 };
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos + 1;
            self.entry(stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
    }

    /// Write out unterminated lines (at exit).
    pub fn flush(&mut self) {
        for (idx, stream) in [(0, 1u8), (1, 2u8)] {
            let buf = std::mem::take(&mut self.partial[idx]);
            if !buf.is_empty() {
                self.entry(stream, &buf);
            }
        }
    }

    fn entry(&mut self, stream: u8, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let name = if stream == 2 { "stderr" } else { "stdout" };
        let mut out = String::with_capacity(text.len() + 80);
        out.push_str("{\"log\":");
        out.push_str(&serde_json::to_string(&text).unwrap_or_else(|_| "\"\"".into()));
        out.push_str(",\"stream\":\"");
        out.push_str(name);
        out.push_str("\",\"time\":\"");
        out.push_str(&rfc3339_nanos(std::time::SystemTime::now()));
        out.push_str("\"}\n");
        if self.cfg.max_size > 0 && self.size + out.len() as u64 > self.cfg.max_size && self.size > 0 {
            self.rotate();
        }
        if self.file.write_all(out.as_bytes()).is_ok() {
            self.size += out.len() as u64;
        }
    }

    fn rotate(&mut self) {
        let path = self.cfg.path.clone();
        let keep = self.cfg.max_file.max(1);
        if keep > 1 {
            for n in (1..keep - 1).rev() {
                let _ = std::fs::rename(rotated(&path, n), rotated(&path, n + 1));
            }
            let _ = std::fs::rename(&path, rotated(&path, 1));
            if let Ok(f) = OpenOptions::new().create(true).append(true).open(&path) {
                self.file = f;
            }
        } else {
            let _ = self.file.set_len(0);
        }
        self.size = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_and_keeps_partials_until_flush() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = LogFile::open(LogConfig { path: p.clone(), max_size: 0, max_file: 1 }).unwrap();
        l.write(1, b"one\ntw");
        l.write(2, b"err\n");
        l.write(1, b"o\nthree");
        let got = lines(&p);
        let logs: Vec<(&str, &str)> =
            got.iter().map(|v| (v["log"].as_str().unwrap(), v["stream"].as_str().unwrap())).collect();
        assert_eq!(logs, vec![("one\n", "stdout"), ("err\n", "stderr"), ("two\n", "stdout")]);
        l.flush();
        assert_eq!(lines(&p).last().unwrap()["log"], "three");
        assert!(got[0]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn rotates_at_max_size_keeping_max_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = LogFile::open(LogConfig { path: p.clone(), max_size: 300, max_file: 3 }).unwrap();
        for i in 0..40 {
            l.write(1, format!("line {i}\n").as_bytes());
        }
        assert!(std::fs::metadata(&p).unwrap().len() <= 300);
        assert!(rotated(&p, 1).exists());
        assert!(rotated(&p, 2).exists());
        assert!(!rotated(&p, 3).exists());
        assert_eq!(lines(&p).last().unwrap()["log"], "line 39\n");
    }
}
