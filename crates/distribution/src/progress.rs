//! Progress lines in Docker's shape: the messages, the rendered bar, and a throttle.

use std::time::{Duration, Instant};

use berth_api::jsonmessage::{JsonMessage, ProgressDetail};

/// Where progress goes: each message is sent to the API client as is.
pub type Progress = tokio::sync::mpsc::Sender<berth_api::JsonMessage>;

/// Byte progress updates per line are sent at most this often (Docker's rate).
pub(crate) const THROTTLE: Duration = Duration::from_millis(100);

/// go-units' `HumanSize`: decimal units, four significant digits (`1.235MB`, `532B`).
pub(crate) fn human_size(n: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = n as f64;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g4(size), UNITS[i])
}

/// Go's `%.4g` for values below 10000: four significant digits, no trailing zeros.
fn go_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let digits_before = if v.abs() < 1.0 {
        1
    } else {
        (v.abs().log10().floor() as i32) + 1
    };
    let decimals = (4 - digits_before).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    // Rounding may add a digit (999.95 -> "1000.0"); %g would then print one decimal fewer.
    let int_len = s.split('.').next().map(str::len).unwrap_or(0) as i32;
    if int_len > digits_before && decimals > 0 {
        let d = decimals - 1;
        s = format!("{v:.d$}");
    }
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s
}

/// The progress bar Docker's daemon renders for `current` of `total` bytes (its terminal
/// width is unknown, so it uses the wide form): `[=====>      ] 1.2MB/3.4MB`.
pub(crate) fn progress_bar(current: i64, total: i64) -> String {
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return format!("{:>8}", human_size(current));
    }
    let pct = (((current as f64 / total as f64) * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
    let numbers = if current > total {
        format!("{:>8}", human_size(current))
    } else {
        format!("{:>8}/{}", human_size(current), human_size(total))
    };
    bar + &numbers
}

/// The short id of a progress line: 12 hex characters of a digest.
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// A byte-progress message for line `id`.
pub(crate) fn bytes_message(id: &str, status: &str, current: i64, total: i64) -> JsonMessage {
    JsonMessage {
        progress: Some(progress_bar(current, total)).filter(|s| !s.is_empty()),
        progress_detail: Some(ProgressDetail {
            current: Some(current),
            total: if total > 0 { Some(total) } else { None },
        }),
        ..JsonMessage::update(id, status)
    }
}

/// Sends messages, never failing: a client that went away does not stop the work (the
/// caller decides about cancellation).
#[derive(Clone)]
pub(crate) struct Sink(pub Progress);

impl Sink {
    pub async fn send(&self, m: JsonMessage) {
        let _ = self.0.send(m).await;
    }
    pub async fn status(&self, s: impl Into<String>) {
        self.send(JsonMessage::status(s)).await
    }
    pub async fn update(&self, id: &str, s: &str) {
        self.send(JsonMessage::update(id, s)).await
    }
    pub async fn message(&self, id: &str, s: impl Into<String>) {
        // `progress.Message`: a status with an id and no progressDetail.
        self.send(JsonMessage {
            status: Some(s.into()),
            id: Some(id.to_string()),
            ..JsonMessage::default()
        })
        .await
    }
}

/// Byte counter for one progress line, sending at most one update per [`THROTTLE`] (and
/// always the final one).
pub(crate) struct Meter {
    sink: Sink,
    id: String,
    status: &'static str,
    total: i64,
    current: i64,
    last: Option<Instant>,
}

impl Meter {
    pub fn new(sink: Sink, id: &str, status: &'static str, total: i64) -> Meter {
        Meter {
            sink,
            id: id.to_string(),
            status,
            total,
            current: 0,
            last: None,
        }
    }

    /// Count `n` more bytes; report if the throttle allows.
    pub async fn add(&mut self, n: usize) {
        self.current += n as i64;
        let due = self.last.is_none_or(|t| t.elapsed() >= THROTTLE);
        if due {
            self.flush().await;
        }
    }

    /// Count from `n` again (an upload resumed where the registry stands).
    pub fn set(&mut self, n: i64) {
        self.current = n;
    }

    /// Report the current count now.
    pub async fn flush(&mut self) {
        self.last = Some(Instant::now());
        self.sink
            .send(bytes_message(&self.id, self.status, self.current, self.total))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_table() {
        let cases = [
            (0, "0B"),
            (532, "532B"),
            (999, "999B"),
            (1000, "1kB"),
            (1500, "1.5kB"),
            (1234567, "1.235MB"),
            (3_400_000, "3.4MB"),
            (999_950, "1000kB"),
            (12_345_678, "12.35MB"),
            (123_456_789, "123.5MB"),
            (2_000_000_000, "2GB"),
        ];
        for (n, want) in cases {
            assert_eq!(human_size(n), want, "{n}");
        }
    }

    #[test]
    fn progress_bar_table() {
        let cases = [
            (0, 0, String::new()),
            (1500, 0, "   1.5kB".to_string()),
            (0, 3_400_000, format!("[>{}]       0B/3.4MB", " ".repeat(50))),
            (1_700_000, 3_400_000, format!("[{}>{}]    1.7MB/3.4MB", "=".repeat(25), " ".repeat(25))),
            (3_400_000, 3_400_000, format!("[{}>]    3.4MB/3.4MB", "=".repeat(50))),
            (5_000_000, 3_400_000, format!("[{}>]      5MB", "=".repeat(50))),
        ];
        for (cur, total, want) in cases {
            assert_eq!(progress_bar(cur, total), want, "{cur}/{total}");
        }
    }

    #[test]
    fn short_ids() {
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
    }

    #[tokio::test]
    async fn meter_throttles_but_sends_first_and_flushed() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(100);
        let mut m = Meter::new(Sink(tx), "abc", "Downloading", 100);
        for _ in 0..50 {
            m.add(1).await;
        }
        m.flush().await;
        drop(m);
        let mut got = Vec::new();
        while let Some(msg) = rx.recv().await {
            got.push(msg);
        }
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].progress_detail.as_ref().unwrap().current, Some(1));
        assert_eq!(got[1].progress_detail.as_ref().unwrap().current, Some(50));
        assert_eq!(got[1].status.as_deref(), Some("Downloading"));
    }
}
