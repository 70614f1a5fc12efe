//! Containers: records, names, and the lifecycle (create, start, exit, restart, stop, remove).
//!
//! Words: a container's *record* is what survives berthd (in the metadata store); its *life*
//! is the in-memory view waiters and attachers subscribe to. berthd never parents a container:
//! `berth-shim` (the monitor) does, and berthd holds one *watch* connection per running
//! container to learn of its exit. After a restart berthd reconnects to each monitor, or reads
//! the exit file a monitor left behind.
//!
//! Architecture invariant: a lifecycle operation on one container holds only that container's
//! operation lock; the engine-wide maps are locked for lookups and inserts, never across IO.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_api::models as m;
use berth_errdefs::{Error, Result};
use berth_runtime::monitor::{rfc3339_nanos, ExitStatus};
use berth_runtime::proto;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::monitor_client::{self, Conn};
use crate::service::{AttachOptions, Chunk, Session, StdStream};

/// The metadata table of container records.
pub(crate) const TABLE: berth_metadata::Table = berth_metadata::Table::new("containers");

/// What is stored about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub id: String,
    /// With the leading slash, as Docker reports it.
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image_ref: String,
    pub image_id: String,
    pub config: m::ContainerConfig,
    pub host_config: m::HostConfig,
    pub state: State,
    pub restart_count: i64,
    /// Set by stop/kill from the user, cleared by start: restart policies leave it alone.
    pub manually_stopped: bool,
    pub path: String,
    pub args: Vec<String>,
    #[serde(default)]
    pub exec_ids: Vec<String>,
    /// The networks the container is connected to, by network name, with what was asked for
    /// each endpoint (static addresses, aliases). What it got lives in its sandbox.
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, m::EndpointSettings>,
    /// Binds and volumes as resolved at create (inspect's `Mounts`).
    #[serde(default)]
    pub mounts: Vec<crate::volumes::MountPoint>,
}

/// The container's state as Docker reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    /// created, running, paused, restarting, removing, exited, dead
    pub status: String,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
    pub health: Option<m::Health>,
}

impl State {
    pub(crate) fn running(&self) -> bool {
        matches!(self.status.as_str(), "running" | "paused")
    }
}

/// The moments waiters care about.
#[derive(Debug, Clone, Default)]
pub(crate) struct Life {
    pub running: bool,
    pub exits: u64,
    pub exit_code: i64,
    pub error: Option<String>,
    pub removed: bool,
}

/// An attach made before the container started: connected at start, before the process runs.
pub(crate) struct PendingAttach {
    pub opts: AttachOptions,
    pub out: mpsc::Sender<Chunk>,
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    pub detach: Option<Vec<u8>>,
}

/// Docker's default detach sequence.
pub(crate) const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// One container as berthd holds it.
pub(crate) struct Container {
    pub id: String,
    /// Shared, copy-on-write: readers (`ps`, inspect, filters) take an `Arc` in O(1) and an
    /// update clones only while a reader still holds the old version.
    pub rec: Mutex<Arc<Record>>,
    /// Serialises lifecycle operations on this container.
    pub op: tokio::sync::Mutex<()>,
    pub life: watch::Sender<Life>,
    pub pending: Mutex<Vec<PendingAttach>>,
    /// The current restart delay (in memory only, as Docker's).
    pub backoff: Mutex<Duration>,
}

impl Container {
    pub(crate) fn new(rec: Record) -> Arc<Self> {
        let running = rec.state.running();
        let (life, _) = watch::channel(Life { running, exit_code: rec.state.exit_code, ..Life::default() });
        Arc::new(Container {
            id: rec.id.clone(),
            rec: Mutex::new(Arc::new(rec)),
            op: tokio::sync::Mutex::new(()),
            life,
            pending: Mutex::new(Vec::new()),
            backoff: Mutex::new(Duration::ZERO),
        })
    }

    /// The current record (a snapshot: later updates do not change it).
    pub(crate) fn record(&self) -> Arc<Record> {
        self.rec.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut Record) -> R) -> R {
        let mut g = self.rec.lock().unwrap_or_else(|p| p.into_inner());
        f(Arc::make_mut(&mut g))
    }
}

/// The wire string of a Docker API enum (`HealthStatusEnum::HEALTHY` -> `"healthy"`).
pub(crate) fn wire_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// A new random 64-hex id.
pub(crate) fn new_id() -> String {
    let mut b = [0u8; 32];
    if getrandom::fill(&mut b).is_err() {
        let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        b[..16].copy_from_slice(&n.to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn now_rfc3339() -> String {
    rfc3339_nanos(SystemTime::now())
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

const ADJECTIVES: &[&str] = &[
    "admiring", "brave", "clever", "dazzling", "eager", "festive", "gallant", "happy", "jolly",
    "keen", "lucid", "magical", "nifty", "optimistic", "peaceful", "quirky", "relaxed", "serene",
    "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous",
];
const SURNAMES: &[&str] = &[
    "albattani", "babbage", "curie", "darwin", "euclid", "fermi", "galileo", "hopper", "jepsen",
    "knuth", "lovelace", "mccarthy", "noether", "pasteur", "ritchie", "shannon", "thompson",
    "turing", "volhard", "wozniak", "yalow", "zhukovsky",
];

/// A random `adjective_surname` name, as Docker generates.
pub(crate) fn random_name(attempt: usize) -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    let a = ADJECTIVES[b[0] as usize % ADJECTIVES.len()];
    let s = SURNAMES[b[1] as usize % SURNAMES.len()];
    if attempt == 0 {
        format!("{a}_{s}")
    } else {
        format!("{a}_{s}{}", b[2] % 10)
    }
}

/// Docker's `Status` column text.
pub(crate) fn status_text(st: &State) -> String {
    let ago = |t: &str| -> String { human_duration(parse_rfc3339(t)) };
    match st.status.as_str() {
        "running" | "paused" => {
            let mut s = format!("Up {}", human_duration(parse_rfc3339(&st.started_at)));
            if let Some(h) = st.health.as_ref().and_then(|h| h.status.as_ref()) {
                let hs = wire_name(h);
                match hs.as_str() {
                    "starting" => s.push_str(" (health: starting)"),
                    "healthy" | "unhealthy" => s.push_str(&format!(" ({hs})")),
                    _ => {}
                }
            }
            if st.status == "paused" {
                s.push_str(" (Paused)");
            }
            s
        }
        "restarting" => format!("Restarting ({}) {} ago", st.exit_code, ago(&st.finished_at)),
        "exited" if !st.finished_at.is_empty() => {
            format!("Exited ({}) {} ago", st.exit_code, ago(&st.finished_at))
        }
        "exited" => format!("Exited ({})", st.exit_code),
        "dead" => "Dead".into(),
        "removing" => "Removal In Progress".into(),
        _ => "Created".into(),
    }
}

/// Seconds since the epoch of an RFC 3339 time (0 when unparsable).
pub(crate) fn parse_rfc3339(t: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp() as f64 + d.timestamp_subsec_nanos() as f64 / 1e9)
        .unwrap_or(0.0)
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Go's `units.HumanDuration` of the time since `t`.
pub(crate) fn human_duration(t: f64) -> String {
    let secs = (now_secs() - t).max(0.0) as i64;
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", s / 3600),
        s if s < 7 * 24 * 3600 * 2 => format!("{} days", s / 86400),
        s if s < 30 * 24 * 3600 * 2 => format!("{} weeks", s / (7 * 86400)),
        s if s < 365 * 24 * 3600 * 2 => format!("{} months", s / (30 * 86400)),
        s => format!("{} years", s / (365 * 86400)),
    }
}


/// Decode a watch/attach connection's frames into chunks until the process exits.
/// Returns the exit code when the monitor said so.
pub(crate) async fn pump_output(
    mut rd: monitor_client::ConnReader,
    out: mpsc::Sender<Chunk>,
) -> Option<i64> {
    loop {
        match rd.recv().await {
            Ok(Some((proto::STDOUT, p))) => {
                let _ = out.send(Chunk { stream: StdStream::Stdout, data: Bytes::from(p) }).await;
            }
            Ok(Some((proto::STDERR, p))) => {
                let _ = out.send(Chunk { stream: StdStream::Stderr, data: Bytes::from(p) }).await;
            }
            Ok(Some((proto::EXIT, p))) => return String::from_utf8_lossy(&p).trim().parse().ok(),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Docker's detach key syntax (`ctrl-p,ctrl-q`, `a`, `ctrl-@`) as bytes.
pub(crate) fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        let p = part.trim();
        if let Some(k) = p.strip_prefix("ctrl-") {
            let c = k.chars().next().filter(|_| k.len() == 1).ok_or_else(|| Error::invalid(format!("Unknown character: '{p}'")))?;
            let b = match c {
                'a'..='z' => c as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(Error::invalid(format!("Unknown character: '{p}'"))),
            };
            out.push(b);
        } else if p.len() == 1 {
            out.push(p.as_bytes()[0]);
        } else {
            return Err(Error::invalid(format!("Unknown character: '{p}'")));
        }
    }
    Ok(out)
}

/// Scans input for the detach sequence; bytes of a partial match are held back until they
/// turn out not to be one.
pub(crate) struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    pub(crate) fn new(keys: Vec<u8>) -> Self {
        DetachScanner { keys, matched: 0 }
    }
    /// The bytes to forward, and whether the sequence was completed (then the session ends).
    pub(crate) fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if !self.keys.is_empty() && b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if !self.keys.is_empty() && b == self.keys[0] {
                self.matched = 1;
                continue;
            }
            out.push(b);
        }
        (out, false)
    }
}

/// Attach to a monitor: subscribe to output, forward stdin. Returns once subscribed. With
/// `detach` keys, typing them ends the session (the container keeps running).
pub(crate) async fn connect_attach(
    socket: &Path,
    opts: &AttachOptions,
    out: mpsc::Sender<Chunk>,
    stdin: Option<mpsc::Receiver<Bytes>>,
    detach: Option<Vec<u8>>,
) -> std::io::Result<()> {
    let mut conn = Conn::connect(socket).await?;
    let mut flags = String::new();
    if opts.stdout {
        flags.push('o');
    }
    if opts.stderr {
        flags.push('e');
    }
    if stdin.is_some() {
        flags.push('i');
    }
    // Wait for the acknowledgement: only then is every later output byte ours.
    match conn.request(proto::ATTACH, flags.as_bytes()).await? {
        (proto::ATTACHED, _) => {}
        (proto::EXIT, _) => {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "process already exited"))
        }
        (k, _) => {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unexpected monitor reply {k}")))
        }
    }
    let (rd, mut wr) = conn.split();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            _ = pump_output(rd, out) => {}
            _ = &mut stop_rx => {}
        }
    });
    tokio::spawn(async move {
        let _stop = stop_tx;
        let Some(mut rx) = stdin else {
            // Output only: the connection lives as long as the output pump.
            let _wr = wr;
            std::future::pending::<()>().await;
            return;
        };
        let mut scan = detach.map(DetachScanner::new);
        while let Some(data) = rx.recv().await {
            let (data, detached) = match scan.as_mut() {
                Some(s) => s.feed(&data),
                None => (data.to_vec(), false),
            };
            if !data.is_empty() && monitor_client::send(&mut wr, proto::STDIN, &data).await.is_err() {
                return;
            }
            if detached {
                // Dropping `_stop` ends the output pump, which closes the session.
                return;
            }
        }
        let _ = monitor_client::send(&mut wr, proto::STDIN_CLOSE, b"").await;
        // Keep the connection: closing it would count as a detach (stdin_once).
        let _stop = _stop;
        std::future::pending::<()>().await;
    });
    Ok(())
}

/// Build a session whose output channel and stdin are wired to the caller's ends.
pub(crate) fn session_channels(
    tty: bool,
    want_stdin: bool,
) -> (Session, mpsc::Sender<Chunk>, Option<mpsc::Receiver<Bytes>>) {
    let (out_tx, out_rx) = mpsc::channel(64);
    let (stdin_tx, stdin_rx) = if want_stdin {
        let (t, r) = mpsc::channel(64);
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    (Session { tty, output: out_rx, stdin: stdin_tx }, out_tx, stdin_rx)
}

/// Read the exit file a monitor leaves.
pub(crate) fn read_exit_file(path: &Path) -> Option<ExitStatus> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

/// Resolve the name-or-id `key` among `ids` (full id, unique prefix) or `names`.
pub(crate) fn resolve_key<V>(
    key: &str,
    names: &HashMap<String, String>,
    ids: &HashMap<String, V>,
) -> Result<String> {
    let k = key.strip_prefix('/').unwrap_or(key);
    if ids.contains_key(k) {
        return Ok(k.to_string());
    }
    if let Some(id) = names.get(k) {
        return Ok(id.clone());
    }
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_hexdigit()) {
        let mut found = ids.keys().filter(|id| id.starts_with(k));
        if let Some(first) = found.next() {
            if found.next().is_some() {
                return Err(Error::invalid(format!("multiple IDs found with provided prefix: {k}")));
            }
            return Ok(first.clone());
        }
    }
    Err(Error::not_found(format!("No such container: {key}")))
}

/// Stop timeout in seconds: explicit, else the container's, else 10.
pub(crate) fn stop_timeout(rec: &Record, t: Option<i64>) -> Duration {
    let secs = t.or(rec.config.stop_timeout).unwrap_or(10);
    if secs < 0 {
        Duration::from_secs(u64::MAX / 4)
    } else {
        Duration::from_secs(secs as u64)
    }
}

/// The directory holding a container's files under the data root.
pub(crate) fn container_dir(data_root: &Path, id: &str) -> PathBuf {
    data_root.join("containers").join(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for (n, ok) in [("web", true), ("/web", true), ("a", false), ("-x", false), ("a b", false), ("my_app.1-2", true)] {
            assert_eq!(validate_name(n).is_ok(), ok, "{n}");
        }
    }

    #[test]
    fn keys_resolve_by_id_prefix_and_name() {
        use berth_errdefs::HasKind;
        let ids: HashMap<String, ()> = [("abcdef01".to_string(), ()), ("abc99999".to_string(), ())].into();
        let names: HashMap<String, String> = [("web".to_string(), "abcdef01".to_string())].into();
        assert_eq!(resolve_key("web", &names, &ids).unwrap(), "abcdef01");
        assert_eq!(resolve_key("/web", &names, &ids).unwrap(), "abcdef01");
        assert_eq!(resolve_key("abcd", &names, &ids).unwrap(), "abcdef01");
        assert_eq!(resolve_key("abc", &names, &ids).unwrap_err().kind(), berth_errdefs::Kind::InvalidArgument);
        assert_eq!(resolve_key("zzz", &names, &ids).unwrap_err().kind(), berth_errdefs::Kind::NotFound);
    }

    #[test]
    fn detach_keys_parse_and_scan() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
        let mut s = DetachScanner::new(vec![16, 17]);
        assert_eq!(s.feed(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(&[16]), (vec![], false));
        assert_eq!(s.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(s.feed(&[b'y', 16, 17, b'z']), (vec![b'y'], true));
    }

    #[test]
    fn status_texts_match_docker() {
        let st = |status: &str, code: i64| State { status: status.into(), exit_code: code, ..State::default() };
        assert_eq!(status_text(&st("created", 0)), "Created");
        assert_eq!(status_text(&st("exited", 3)), "Exited (3)");
        let mut s = st("running", 0);
        s.started_at = now_rfc3339();
        assert_eq!(status_text(&s), "Up Less than a second");
        s.status = "paused".into();
        assert!(status_text(&s).ends_with("(Paused)"));
    }
}
