//! The progress streams of pull, push and load, rendered as docker renders them
//! (moby's `pkg/jsonmessage`).
//!
//! Docker's rules, which both renderers below follow:
//! * A message with `aux` is never shown (the caller may look at it).
//! * A message with `errorDetail` ends the stream: its message is the command's error.
//! * A *progress* message has an `id` and a `progressDetail` (or a preformatted `progress`):
//!   on a terminal each id owns one line, updated in place; a message without them is a plain
//!   line and starts a new set of progress lines (`pull -a` pulls several tags in a row).
//! * Not on a terminal, a progress message whose counters render to something
//!   (`Downloading` with bytes) is dropped; the others print as `id: status` lines.
//!
//! [`PlainDisplay`] is the non-terminal form, byte for byte; [`TtyDisplay`] draws the
//! per-layer lines with `indicatif` (one bar per id in a `MultiProgress`).

use std::collections::HashMap;
use std::io::Write;

use berth_client::JsonStream;
use serde_json::Value as Json;

use crate::format::humanize::{human_size, rfc3339_nano_fixed};

/// One message of a progress stream (moby's `JSONMessage`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// Build and load output, printed as is (`Loaded image: busybox:latest\n`).
    pub stream: String,
    /// What happens (`Downloading`, `Pull complete`, `Digest: sha256:...`).
    pub status: String,
    /// `progressDetail`: counters, present (possibly empty) on progress messages.
    pub progress: Option<Progress>,
    /// `progress`: the daemon's preformatted bar (deprecated; shown when there are no counters).
    pub progress_message: String,
    /// The line this message belongs to (a short layer id, a tag).
    pub id: String,
    /// `from`: the image an event is about.
    pub from: String,
    /// Seconds since the epoch (events).
    pub time: i64,
    /// Nanoseconds since the epoch (events).
    pub time_nano: i64,
    /// `errorDetail`: the failure that ends the stream.
    pub error: Option<JsonError>,
    /// `error`: the failure as text (deprecated twin of `errorDetail`).
    pub error_message: String,
    /// Out-of-band data (`{"Tag","Digest","Size"}` after a push).
    pub aux: Option<Json>,
}

/// `errorDetail`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonError {
    /// An optional code.
    pub code: i64,
    /// The message, printed as the command's error.
    pub message: String,
}

/// `progressDetail` (moby's `JSONProgress`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Done so far.
    pub current: i64,
    /// In all (0: unknown).
    pub total: i64,
    /// Unix seconds when the operation started (for the time-left estimate).
    pub start: i64,
    /// Show no `current/total` counts.
    pub hide_counts: bool,
    /// The unit; bytes when empty.
    pub units: String,
}

impl Message {
    /// Read one decoded JSON value. Fields of the wrong type are an error, as for Go's decoder.
    pub fn from_json(v: &Json) -> Result<Message, String> {
        let obj = v.as_object().ok_or_else(|| format!("json: cannot unmarshal {} into Go value of type jsonmessage.JSONMessage", kind(v)))?;
        let mut m = Message::default();
        for (k, val) in obj {
            if val.is_null() {
                continue;
            }
            match k.as_str() {
                "stream" => m.stream = string(k, val)?,
                "status" => m.status = string(k, val)?,
                "progress" => m.progress_message = string(k, val)?,
                "id" => m.id = string(k, val)?,
                "from" => m.from = string(k, val)?,
                "time" => m.time = int(k, val)?,
                "timeNano" => m.time_nano = int(k, val)?,
                "error" => m.error_message = string(k, val)?,
                "aux" => m.aux = Some(val.clone()),
                "progressDetail" => {
                    let p = val.as_object().ok_or_else(|| wrong(k, val))?;
                    let mut pr = Progress::default();
                    for (pk, pv) in p {
                        if pv.is_null() {
                            continue;
                        }
                        match pk.as_str() {
                            "current" => pr.current = int(pk, pv)?,
                            "total" => pr.total = int(pk, pv)?,
                            "start" => pr.start = int(pk, pv)?,
                            "hidecounts" => pr.hide_counts = pv.as_bool().ok_or_else(|| wrong(pk, pv))?,
                            "units" => pr.units = string(pk, pv)?,
                            _ => {}
                        }
                    }
                    m.progress = Some(pr);
                }
                "errorDetail" => {
                    let e = val.as_object().ok_or_else(|| wrong(k, val))?;
                    let mut je = JsonError::default();
                    if let Some(c) = e.get("code").filter(|c| !c.is_null()) {
                        je.code = int("code", c)?;
                    }
                    if let Some(msg) = e.get("message").filter(|c| !c.is_null()) {
                        je.message = string("message", msg)?;
                    }
                    m.error = Some(je);
                }
                _ => {}
            }
        }
        Ok(m)
    }

    /// Does this message update a line of its own (an id and counters or a preformatted bar)?
    pub fn is_progress(&self) -> bool {
        !self.id.is_empty() && (self.progress.is_some() || !self.progress_message.is_empty())
    }

    /// The failure this message reports, if any. Docker looks at `errorDetail` only; a bare
    /// `error` counts too here, so that no daemon's failure reads as success.
    pub fn failure(&self) -> Option<String> {
        match &self.error {
            Some(e) => Some(e.message.clone()),
            None if !self.error_message.is_empty() => Some(self.error_message.clone()),
            None => None,
        }
    }

    /// The time, id and `from` prefix of a line.
    fn prefix(&self) -> String {
        let mut s = String::new();
        if self.time_nano != 0 {
            s.push_str(&format!("{} ", rfc3339_nano_fixed(self.time_nano)));
        } else if self.time != 0 {
            s.push_str(&format!("{} ", rfc3339_nano_fixed(self.time.saturating_mul(1_000_000_000))));
        }
        if !self.id.is_empty() {
            s.push_str(&format!("{}: ", self.id));
        }
        if !self.from.is_empty() {
            s.push_str(&format!("(from {}) ", self.from));
        }
        s
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn wrong(field: &str, v: &Json) -> String {
    format!("json: cannot unmarshal {} into Go struct field of type {field}", kind(v))
}

fn string(field: &str, v: &Json) -> Result<String, String> {
    v.as_str().map(str::to_string).ok_or_else(|| wrong(field, v))
}

fn int(field: &str, v: &Json) -> Result<i64, String> {
    v.as_i64().ok_or_else(|| wrong(field, v))
}

impl Progress {
    /// The bar and counters for a terminal `width` columns wide, at `now` (unix seconds):
    /// `[=====>      ] 1.2MB/3.4MB 5s` (`JSONProgress.String`). The bar needs more than 110
    /// columns, the time left more than 50.
    pub fn render(&self, width: usize, now: f64) -> String {
        if self.current <= 0 && self.total <= 0 {
            return String::new();
        }
        if self.total <= 0 {
            return if self.units.is_empty() {
                format!("{:>8}", human_size(self.current as f64))
            } else {
                format!("{} {}", self.current, self.units)
            };
        }
        let percentage = (((self.current as f64 / self.total as f64) * 100.0) as i64 / 2).clamp(0, 50);
        let mut bar = String::new();
        if width > 110 {
            bar = format!("[{}>{}] ", "=".repeat(percentage as usize), " ".repeat(50 - percentage as usize));
        }
        let numbers = if self.hide_counts {
            String::new()
        } else if self.units.is_empty() {
            if self.current > self.total {
                format!("{:>8}", human_size(self.current as f64))
            } else {
                format!("{:>8}/{}", human_size(self.current as f64), human_size(self.total as f64))
            }
        } else if self.current > self.total {
            format!("{} {}", self.current, self.units)
        } else {
            format!("{}/{} {}", self.current, self.total, self.units)
        };
        let mut left = String::new();
        if width > 50 && self.current > 0 && self.start > 0 && percentage < 50 {
            let from_start = ((now - self.start as f64) * 1e9) as i128;
            let per_entry = from_start / self.current as i128;
            let remaining = (self.total - self.current) as i128 * per_entry;
            left = format!(" {}", go_duration_seconds(remaining));
        }
        bar + &numbers + &left
    }
}

/// Go's `Duration.Round(time.Second).String()` for `nanos`: `0s`, `5s`, `1m30s`, `2h0m3s`.
pub fn go_duration_seconds(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    // Half away from zero.
    let secs = (abs + 500_000_000) / 1_000_000_000;
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// Why rendering stopped.
#[derive(Debug)]
pub enum DisplayError {
    /// The stream reported a failure (`errorDetail.message`).
    Failed(String),
    /// The stream could not be read or decoded.
    Stream(String),
    /// Writing the output failed (a closed pipe, say).
    Io(std::io::Error),
}

impl std::fmt::Display for DisplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisplayError::Failed(m) | DisplayError::Stream(m) => f.write_str(m),
            DisplayError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DisplayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DisplayError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for DisplayError {
    fn from(e: std::io::Error) -> Self {
        DisplayError::Io(e)
    }
}

/// Something that shows messages one at a time.
pub trait Display {
    /// Show one message (not an `aux` one); a failure message is returned as the error.
    fn message(&mut self, m: &Message) -> Result<(), DisplayError>;
    /// The stream ended (or failed): leave the output tidy.
    fn finish(&mut self) -> Result<(), DisplayError>;
}

/// Docker's output when it is not a terminal (a pipe, a file, `-q`'s discard).
pub struct PlainDisplay<W: Write> {
    out: W,
}

impl<W: Write> PlainDisplay<W> {
    /// Render to `out`.
    pub fn new(out: W) -> PlainDisplay<W> {
        PlainDisplay { out }
    }

    /// The writer back.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Display for PlainDisplay<W> {
    fn message(&mut self, m: &Message) -> Result<(), DisplayError> {
        if let Some(e) = m.failure() {
            return Err(DisplayError::Failed(e));
        }
        // Counters that render are for terminals only (the width does not matter for that).
        if m.progress.as_ref().is_some_and(|p| !p.render(200, 0.0).is_empty()) {
            return Ok(());
        }
        let mut line = m.prefix();
        if !m.progress_message.is_empty() {
            // Docker writes no newline here (a terminal would have got "\r").
            line.push_str(&format!("{} {}", m.status, m.progress_message));
        } else if !m.stream.is_empty() {
            line.push_str(&m.stream);
        } else {
            line.push_str(&m.status);
            line.push('\n');
        }
        self.out.write_all(line.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), DisplayError> {
        self.out.flush()?;
        Ok(())
    }
}

/// Where terminal output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (pull, push, load).
    Stdout,
    /// Standard error (the pull of `run` and `create`).
    Stderr,
}

impl Stream {
    fn fd(self) -> i32 {
        match self {
            Stream::Stdout => libc::STDOUT_FILENO,
            Stream::Stderr => libc::STDERR_FILENO,
        }
    }

    fn write_all(self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(bytes)?;
                o.flush()
            }
            Stream::Stderr => {
                let mut o = std::io::stderr().lock();
                o.write_all(bytes)?;
                o.flush()
            }
        }
    }

    /// Is this stream a terminal?
    pub fn is_terminal(self) -> bool {
        // SAFETY: isatty only inspects the descriptor.
        unsafe { libc::isatty(self.fd()) == 1 }
    }

    /// The terminal's width in columns; 200 when unknown, as docker assumes.
    pub fn width(self) -> usize {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes a winsize into the struct we own.
        let rc = unsafe { libc::ioctl(self.fd(), libc::TIOCGWINSZ, &mut ws) };
        if rc != 0 {
            return 200;
        }
        ws.ws_col as usize
    }
}

/// Docker's terminal output drawn with indicatif: one line per id, redrawn in place; other
/// messages end the current set of lines (left on screen as last drawn) and print below.
pub struct TtyDisplay {
    stream: Stream,
    multi: indicatif::MultiProgress,
    bars: Vec<(String, indicatif::ProgressBar)>,
    index: HashMap<String, usize>,
}

impl TtyDisplay {
    /// Draw on `stream`, which should be a terminal.
    pub fn new(stream: Stream) -> TtyDisplay {
        TtyDisplay { stream, multi: Self::new_multi(stream), bars: Vec::new(), index: HashMap::new() }
    }

    fn new_multi(stream: Stream) -> indicatif::MultiProgress {
        let target = match stream {
            Stream::Stdout => indicatif::ProgressDrawTarget::stdout(),
            Stream::Stderr => indicatif::ProgressDrawTarget::stderr(),
        };
        indicatif::MultiProgress::with_draw_target(target)
    }

    /// The text of a progress line (`abc123: Downloading [==>   ] 1MB/3MB`).
    fn progress_line(&self, m: &Message) -> String {
        let mut line = m.prefix();
        match &m.progress {
            Some(p) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                line.push_str(&format!("{} {}", m.status, p.render(self.stream.width(), now)));
            }
            None => line.push_str(&format!("{} {}", m.status, m.progress_message)),
        }
        line
    }

    /// End the current set of progress lines: replace indicatif's drawing by the lines as
    /// they last read, so that what follows prints below them.
    fn end_group(&mut self) -> std::io::Result<()> {
        if self.bars.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for (_, bar) in &self.bars {
            text.push_str(bar.message().trim_end());
            text.push('\n');
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
        self.bars.clear();
        self.index.clear();
        self.multi = Self::new_multi(self.stream);
        self.stream.write_all(text.as_bytes())
    }
}

impl Display for TtyDisplay {
    fn message(&mut self, m: &Message) -> Result<(), DisplayError> {
        if let Some(e) = m.failure() {
            self.end_group()?;
            return Err(DisplayError::Failed(e));
        }
        if m.is_progress() {
            let text = self.progress_line(m);
            let i = match self.index.get(&m.id) {
                Some(&i) => i,
                None => {
                    let style = indicatif::ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
                    let bar = self.multi.add(indicatif::ProgressBar::no_length().with_style(style));
                    self.bars.push((m.id.clone(), bar));
                    self.index.insert(m.id.clone(), self.bars.len() - 1);
                    self.bars.len() - 1
                }
            };
            self.bars[i].1.set_message(text);
            return Ok(());
        }
        self.end_group()?;
        let mut line = m.prefix();
        if m.progress.is_some() && m.stream.is_empty() {
            // Counters without an id: docker draws them on the current line, which the next
            // line overwrites.
            let p = m.progress.as_ref().map(|p| p.render(self.stream.width(), 0.0)).unwrap_or_default();
            line = format!("\x1b[2K\r{line}{} {p}\r", m.status);
        } else if !m.progress_message.is_empty() {
            line.push_str(&format!("{} {}", m.status, m.progress_message));
        } else if !m.stream.is_empty() {
            line.push_str(&m.stream);
        } else {
            line.push_str(&m.status);
            line.push('\n');
        }
        self.stream.write_all(line.as_bytes())?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), DisplayError> {
        self.end_group()?;
        Ok(())
    }
}

/// Render every message of `stream` on `display` until the stream ends or fails; `aux`
/// messages go to `on_aux` instead. Returns the first failure.
pub async fn show(
    stream: &mut JsonStream,
    display: &mut dyn Display,
    on_aux: &mut dyn FnMut(&Message),
) -> Result<(), DisplayError> {
    let result = async {
        while let Some(v) = stream.next().await {
            let v = v.map_err(|e| DisplayError::Stream(e.to_string()))?;
            let m = Message::from_json(&v).map_err(DisplayError::Stream)?;
            if m.aux.is_some() {
                on_aux(&m);
                continue;
            }
            display.message(&m)?;
        }
        Ok(())
    }
    .await;
    let finished = display.finish();
    result.and(finished)
}

/// Where a command's progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// To this stream, drawn as on a terminal when it is one.
    To(Stream),
    /// Nowhere (`-q`): failures are still reported.
    Discard,
}

/// Render `stream` to `output` as docker does (terminal or not), as an anyhow error for the
/// command: a stream failure is printed as its message alone, exit status 1.
pub async fn display(stream: &mut JsonStream, output: Output, on_aux: &mut dyn FnMut(&Message)) -> anyhow::Result<()> {
    let result = match output {
        Output::Discard => show(stream, &mut PlainDisplay::new(std::io::sink()), on_aux).await,
        Output::To(s) if s.is_terminal() => show(stream, &mut TtyDisplay::new(s), on_aux).await,
        Output::To(Stream::Stdout) => show(stream, &mut PlainDisplay::new(std::io::stdout()), on_aux).await,
        Output::To(Stream::Stderr) => show(stream, &mut PlainDisplay::new(std::io::stderr()), on_aux).await,
    };
    match result {
        Ok(()) => Ok(()),
        Err(DisplayError::Io(e)) => Err(e.into()),
        Err(e) => Err(crate::error::StatusError::with(1, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(messages: &[&str]) -> (String, Option<String>) {
        let mut d = PlainDisplay::new(Vec::new());
        let mut err = None;
        for m in messages {
            let v: Json = serde_json::from_str(m).unwrap();
            let m = Message::from_json(&v).unwrap();
            if m.aux.is_some() {
                continue;
            }
            if let Err(e) = d.message(&m) {
                err = Some(e.to_string());
                break;
            }
        }
        (String::from_utf8(d.into_inner()).unwrap(), err)
    }

    const PULL: &[&str] = &[
        r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
        r#"{"status":"Pulling fs layer","progressDetail":{},"id":"9ad63333ebc9"}"#,
        r#"{"status":"Already exists","progressDetail":{},"id":"5d2a2a3b0c4e"}"#,
        r#"{"status":"Waiting","progressDetail":{},"id":"9ad63333ebc9"}"#,
        r#"{"status":"Downloading","progressDetail":{"current":32768,"total":2152262},"progress":"[>     ]  32.77kB/2.152MB","id":"9ad63333ebc9"}"#,
        r#"{"status":"Downloading","progressDetail":{"current":2152262,"total":2152262},"progress":"[=====>]  2.152MB/2.152MB","id":"9ad63333ebc9"}"#,
        r#"{"status":"Verifying Checksum","progressDetail":{},"id":"9ad63333ebc9"}"#,
        r#"{"status":"Download complete","progressDetail":{},"id":"9ad63333ebc9"}"#,
        r#"{"status":"Extracting","progressDetail":{"current":65536,"total":2152262},"progress":"[>     ]  65.54kB/2.152MB","id":"9ad63333ebc9"}"#,
        r#"{"status":"Pull complete","progressDetail":{},"id":"9ad63333ebc9"}"#,
        r#"{"status":"Digest: sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b"}"#,
        r#"{"status":"Status: Downloaded newer image for busybox:latest"}"#,
    ];

    const PUSH: &[&str] = &[
        r#"{"status":"The push refers to repository [localhost:5000/app]"}"#,
        r#"{"status":"Preparing","progressDetail":{},"id":"3e1a2b4c5d6e"}"#,
        r#"{"status":"Preparing","progressDetail":{},"id":"0b1c2d3e4f50"}"#,
        r#"{"status":"Preparing","progressDetail":{},"id":"7f8e9d0c1b2a"}"#,
        r#"{"status":"Waiting","progressDetail":{},"id":"7f8e9d0c1b2a"}"#,
        r#"{"status":"Pushing","progressDetail":{"current":512,"total":1024},"progress":"[=========>   ]     512B/1.024kB","id":"3e1a2b4c5d6e"}"#,
        r#"{"status":"Layer already exists","progressDetail":{},"id":"0b1c2d3e4f50"}"#,
        r#"{"status":"Mounted from library/busybox","progressDetail":{},"id":"7f8e9d0c1b2a"}"#,
        r#"{"status":"Pushing","progressDetail":{"current":1024,"total":1024},"progress":"[=============>]  1.024kB/1.024kB","id":"3e1a2b4c5d6e"}"#,
        r#"{"status":"Pushed","progressDetail":{},"id":"3e1a2b4c5d6e"}"#,
        r#"{"status":"latest: digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef size: 945"}"#,
        r#"{"progressDetail":{},"aux":{"Tag":"latest","Digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Size":945}}"#,
    ];

    #[test]
    fn plain_rendering_table() {
        let cases: Vec<(&str, Vec<&str>, &str, Option<&str>)> = vec![
            (
                "pull with layers, one already present",
                PULL.to_vec(),
                "latest: Pulling from library/busybox\n\
                 9ad63333ebc9: Pulling fs layer\n\
                 5d2a2a3b0c4e: Already exists\n\
                 9ad63333ebc9: Waiting\n\
                 9ad63333ebc9: Verifying Checksum\n\
                 9ad63333ebc9: Download complete\n\
                 9ad63333ebc9: Pull complete\n\
                 Digest: sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b\n\
                 Status: Downloaded newer image for busybox:latest\n",
                None,
            ),
            (
                "push with an existing and a mounted layer; aux not shown",
                PUSH.to_vec(),
                "The push refers to repository [localhost:5000/app]\n\
                 3e1a2b4c5d6e: Preparing\n\
                 0b1c2d3e4f50: Preparing\n\
                 7f8e9d0c1b2a: Preparing\n\
                 7f8e9d0c1b2a: Waiting\n\
                 0b1c2d3e4f50: Layer already exists\n\
                 7f8e9d0c1b2a: Mounted from library/busybox\n\
                 3e1a2b4c5d6e: Pushed\n\
                 latest: digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef size: 945\n",
                None,
            ),
            (
                "an image already up to date",
                vec![
                    r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
                    r#"{"status":"Digest: sha256:ab"}"#,
                    r#"{"status":"Status: Image is up to date for busybox:latest"}"#,
                ],
                "latest: Pulling from library/busybox\nDigest: sha256:ab\nStatus: Image is up to date for busybox:latest\n",
                None,
            ),
            (
                "an error ends the stream; what came before stays",
                vec![
                    r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#,
                    r#"{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}"#,
                    r#"{"status":"never shown"}"#,
                ],
                "abc: Pulling fs layer\n",
                Some("unexpected EOF"),
            ),
            ("the deprecated error field alone", vec![r#"{"error":"denied: access forbidden"}"#], "", Some("denied: access forbidden")),
            (
                "load output is streamed text",
                vec![r#"{"stream":"Loaded image: busybox:latest\n"}"#, r#"{"stream":"Loaded image ID: sha256:ab\n"}"#],
                "Loaded image: busybox:latest\nLoaded image ID: sha256:ab\n",
                None,
            ),
            (
                "load's progress without an id renders nothing off a terminal",
                vec![
                    r#"{"status":"Loading layer","progressDetail":{"current":32768,"total":1290240},"progress":"[=>   ]  32.77kB/1.29MB","id":"abcdef012345"}"#,
                    r#"{"status":"Loading layer","progressDetail":{"current":1290240,"total":1290240},"id":""}"#,
                    r#"{"stream":"Loaded image: busybox:latest\n"}"#,
                ],
                "Loaded image: busybox:latest\n",
                None,
            ),
            (
                "counters that render nothing keep the line; a preformatted bar alone has no newline",
                vec![
                    r#"{"status":"Extracting","progressDetail":{"current":0,"total":0},"id":"a"}"#,
                    r#"{"status":"Downloading","progress":"[=>  ] 1B/2B","id":"b"}"#,
                ],
                "a: Extracting\nb: Downloading [=>  ] 1B/2B",
                None,
            ),
            (
                "events carry a time and where they are from",
                vec![r#"{"status":"create","id":"c1","from":"busybox","timeNano":1000000000}"#],
                "", // filled below: the time prints in the local zone
                None,
            ),
        ];
        for (name, messages, want, want_err) in cases {
            let (got, err) = plain(&messages);
            if name.starts_with("events") {
                assert_eq!(got, format!("{} c1: (from busybox) create\n", rfc3339_nano_fixed(1_000_000_000)), "{name}");
                continue;
            }
            assert_eq!(got, want, "{name}");
            assert_eq!(err.as_deref(), want_err, "{name}");
        }
    }

    #[test]
    fn progress_rendering_table() {
        let p = |current, total| Progress { current, total, ..Progress::default() };
        let bar = |n: usize| format!("[{}>{}] ", "=".repeat(n), " ".repeat(50 - n));
        let cases: Vec<(Progress, usize, f64, String)> = vec![
            (p(0, 0), 200, 0.0, String::new()),
            (p(1500, 0), 200, 0.0, "   1.5kB".into()),
            (Progress { current: 7, units: "items".into(), ..Progress::default() }, 200, 0.0, "7 items".into()),
            (p(0, 3_400_000), 200, 0.0, format!("{}      0B/3.4MB", bar(0))),
            (p(1_700_000, 3_400_000), 200, 0.0, format!("{}   1.7MB/3.4MB", bar(25))),
            (p(1_700_000, 3_400_000), 100, 0.0, "   1.7MB/3.4MB".into()),
            (p(5_000_000, 3_400_000), 200, 0.0, format!("{}     5MB", bar(50))),
            (Progress { hide_counts: true, ..p(1, 2) }, 200, 0.0, bar(25)),
            (Progress { units: "layers".into(), ..p(1, 4) }, 80, 0.0, "1/4 layers".into()),
            (Progress { units: "layers".into(), ..p(5, 4) }, 80, 0.0, "5 layers".into()),
            // Half done after 10 s: 10 s to go. Narrow terminals show no estimate.
            (Progress { start: 1000, ..p(500, 1000) }, 80, 1010.0, "    500B/1kB 10s".into()),
            (Progress { start: 1000, ..p(500, 1000) }, 50, 1010.0, "    500B/1kB".into()),
            (Progress { start: 1000, ..p(100, 1000) }, 80, 1010.0, "    100B/1kB 1m30s".into()),
        ];
        for (progress, width, now, want) in cases {
            assert_eq!(progress.render(width, now), want, "{progress:?} at {width}");
        }
    }

    #[test]
    fn go_durations() {
        let s = 1_000_000_000i128;
        let cases = [(0, "0s"), (s / 2 - 1, "0s"), (s / 2, "1s"), (5 * s, "5s"), (90 * s, "1m30s"), (3600 * s, "1h0m0s"), (3723 * s, "1h2m3s"), (-5 * s, "-5s")];
        for (n, want) in cases {
            assert_eq!(go_duration_seconds(n), want, "{n}");
        }
    }

    #[test]
    fn messages_decode_like_go() {
        let v = serde_json::json!({"status": "x", "id": "a", "progressDetail": {"current": 1, "total": 2, "start": 3, "hidecounts": true, "units": "u"}, "aux": {"Tag": "t"}, "errorDetail": {"code": 4, "message": "m"}, "error": "m", "unknown": 1, "from": null});
        let m = Message::from_json(&v).unwrap();
        assert_eq!(m.progress, Some(Progress { current: 1, total: 2, start: 3, hide_counts: true, units: "u".into() }));
        assert_eq!(m.error, Some(JsonError { code: 4, message: "m".into() }));
        assert_eq!(m.aux, Some(serde_json::json!({"Tag": "t"})));
        assert!(m.is_progress());
        assert!(!Message::from_json(&serde_json::json!({"status": "x", "progressDetail": {}})).unwrap().is_progress());
        assert!(!Message::from_json(&serde_json::json!({"status": "x", "id": "a"})).unwrap().is_progress());
        assert!(Message::from_json(&serde_json::json!({"status": 3})).is_err());
        assert!(Message::from_json(&serde_json::json!([1])).is_err());
    }

    #[tokio::test]
    async fn show_stops_at_the_failure_and_hands_aux_over() {
        let body = berth_client::BodyStream::from_chunks(vec![Ok(PUSH.join("\n").into_bytes())]);
        let mut stream = JsonStream::new(body);
        let mut d = PlainDisplay::new(Vec::new());
        let mut aux = Vec::new();
        show(&mut stream, &mut d, &mut |m| aux.push(m.aux.clone())).await.unwrap();
        assert_eq!(aux, vec![Some(serde_json::json!({"Tag":"latest","Digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Size":945}))]);

        let body = berth_client::BodyStream::from_chunks(vec![Ok(b"{\"status\":\"a\"}\n{\"errorDetail\":{\"message\":\"boom\"}}\n{\"status\":\"b\"}".to_vec())]);
        let mut stream = JsonStream::new(body);
        let mut d = PlainDisplay::new(Vec::new());
        let err = show(&mut stream, &mut d, &mut |_| {}).await.unwrap_err();
        assert!(matches!(err, DisplayError::Failed(ref m) if m == "boom"), "{err:?}");
        assert_eq!(d.into_inner(), b"a\n");

        let body = berth_client::BodyStream::from_chunks(vec![Ok(b"{\"status\":\"a\"}\n{\"sta".to_vec())]);
        let mut stream = JsonStream::new(body);
        let err = show(&mut stream, &mut PlainDisplay::new(Vec::new()), &mut |_| {}).await.unwrap_err();
        assert!(matches!(err, DisplayError::Stream(_)), "{err:?}");
    }
}
