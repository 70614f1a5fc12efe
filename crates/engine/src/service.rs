//! The services the engine offers to the API server.
//!
//! The server parses a request, calls one of these methods and encodes the answer; it knows no
//! more of the engine than this file. Payloads reuse the Docker API models (re-exported by
//! `berth-api`) because Docker's container configuration *is* the contract; streams are plain
//! byte chunks tagged with the standard stream they belong to, and the server frames them
//! (raw for a TTY, 8-byte multiplexed headers otherwise).
//!
//! Every method returns a kinded [`Error`]; the server maps kinds to HTTP statuses.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_api::models as m;
use berth_errdefs::Result;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;

/// Filters as the API sends them: `{"label": ["a=b"], "status": ["running"]}`.
pub type Filters = BTreeMap<String, Vec<String>>;

/// Which standard stream a chunk belongs to; the values are the multiplexing stream ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdStream {
    /// Standard input (0).
    Stdin = 0,
    /// Standard output (1).
    Stdout = 1,
    /// Standard error (2).
    Stderr = 2,
}

/// A piece of output from a container or exec process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The stream it came from. With a TTY everything is [`StdStream::Stdout`].
    pub stream: StdStream,
    /// The bytes, already prefixed with a timestamp when timestamps were asked for.
    pub data: Bytes,
}

/// Options of `GET /containers/{id}/json` list.
#[derive(Debug, Clone, Default)]
pub struct ContainerListOptions {
    /// Include stopped containers.
    pub all: bool,
    /// Return at most this many, newest first (implies `all`).
    pub limit: Option<usize>,
    /// Compute `SizeRw` and `SizeRootFs`.
    pub size: bool,
    /// `id`, `name`, `label`, `status`, `exited`, `ancestor`, `before`, `since`, `health`, ...
    pub filters: Filters,
}

/// Options of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Keep the stream open and send new output as it comes.
    pub follow: bool,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Only entries at or after this time (seconds since the epoch, fractional).
    pub since: Option<f64>,
    /// Only entries before this time (seconds since the epoch, fractional).
    pub until: Option<f64>,
    /// Prefix every line with its RFC 3339 nanosecond timestamp and a space.
    pub timestamps: bool,
    /// Only the last N lines (None: all).
    pub tail: Option<usize>,
}

/// Log output: whether the container has a TTY (raw framing) and the chunks.
pub struct LogStream {
    /// True when the container was created with a TTY: the server sends raw bytes.
    pub tty: bool,
    /// The entries, in order. Ends when the log ends (or, following, when the container stops).
    pub chunks: BoxStream<'static, Chunk>,
}

/// Options of `POST /containers/{id}/attach`.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Forward the client's input to the container's stdin.
    pub stdin: bool,
    /// Send stdout.
    pub stdout: bool,
    /// Send stderr.
    pub stderr: bool,
    /// Stream output as it comes (attach proper).
    pub stream: bool,
    /// Replay the container's logs first.
    pub logs: bool,
    /// The key sequence that detaches, e.g. `ctrl-p,ctrl-q`.
    pub detach_keys: Option<String>,
}

/// A live connection to a process's standard streams, for attach and attached exec.
///
/// The output channel closes when the process exits (or the session is detached); dropping the
/// `stdin` sender closes the process's stdin (the half-close a client does after piping a file).
pub struct Session {
    /// True when the process has a TTY: output is one raw stream.
    pub tty: bool,
    /// Output chunks.
    pub output: mpsc::Receiver<Chunk>,
    /// Input, when stdin was asked for and the process has it open.
    pub stdin: Option<mpsc::Sender<Bytes>>,
}

/// The condition `POST /containers/{id}/wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// Until the container is not running (returns at once if it is not).
    #[default]
    NotRunning,
    /// Until the container next exits, even if it is not running now.
    NextExit,
    /// Until the container is removed.
    Removed,
}

/// What a wait call resolves to once its condition is met.
pub type WaitFuture = futures_util::future::BoxFuture<'static, m::ContainerWaitResponse>;

/// Parameters of `POST /images/create?fromSrc=-` (import of a rootfs tarball).
pub struct ImportRequest {
    /// The tarball, plain or gzip-compressed, as it arrives.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
    /// `repo` query parameter (may carry a tag).
    pub repo: Option<String>,
    /// `tag` query parameter.
    pub tag: Option<String>,
    /// Commit message recorded in the image's history.
    pub message: Option<String>,
    /// Dockerfile-like changes: `CMD ["sh"]`, `ENV A=b`, `WORKDIR /x`, ...
    pub changes: Vec<String>,
}

/// System-wide information and events.
#[async_trait]
pub trait SystemBackend: Send + Sync {
    /// `GET /info`.
    async fn info(&self) -> Result<m::SystemInfo>;
    /// `GET /version` (the server fills in `ApiVersion` and `MinAPIVersion`).
    async fn version(&self) -> Result<m::SystemVersion>;
    /// `GET /system/df`.
    async fn df(&self) -> Result<berth_api::SystemDataUsage>;
    /// `GET /events`: past events from `since` (seconds), then live ones until `until` (if set),
    /// matching `filters` (`type`, `event`, `container`, `image`, `label`, ...).
    async fn events(
        &self,
        since: Option<f64>,
        until: Option<f64>,
        filters: Filters,
    ) -> Result<BoxStream<'static, m::EventMessage>>;
}

/// Containers and their lifecycle.
#[async_trait]
pub trait ContainerBackend: Send + Sync {
    /// `POST /containers/create`. `name` is checked and reserved atomically.
    async fn create(
        &self,
        name: Option<String>,
        config: m::ContainerCreateBody,
    ) -> Result<m::ContainerCreateResponse>;
    /// `GET /containers/json`.
    async fn list(&self, opts: ContainerListOptions) -> Result<Vec<m::ContainerSummary>>;
    /// `GET /containers/{id}/json`; `id` is a name, a full id or a unique id prefix.
    async fn inspect(&self, id: &str, size: bool) -> Result<m::ContainerInspectResponse>;
    /// `POST /containers/{id}/start`. Errors with kind `NotModified` if already running.
    async fn start(&self, id: &str) -> Result<()>;
    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after `timeout` seconds
    /// (None: the container's own `StopTimeout`, default 10). `NotModified` if not running.
    async fn stop(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()>;
    /// `POST /containers/{id}/restart`.
    async fn restart(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()>;
    /// `POST /containers/{id}/kill` with a signal name or number (default SIGKILL).
    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()>;
    /// `POST /containers/{id}/pause`.
    async fn pause(&self, id: &str) -> Result<()>;
    /// `POST /containers/{id}/unpause`.
    async fn unpause(&self, id: &str) -> Result<()>;
    /// `POST /containers/{id}/wait`: resolves the container now (404 before any header is sent)
    /// and returns a future that completes when the condition is met.
    async fn wait(&self, id: &str, condition: WaitCondition) -> Result<WaitFuture>;
    /// `DELETE /containers/{id}`.
    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()>;
    /// `POST /containers/{id}/rename`.
    async fn rename(&self, id: &str, new_name: &str) -> Result<()>;
    /// `GET /containers/{id}/top` with `ps` arguments (default `-ef`).
    async fn top(&self, id: &str, ps_args: Option<String>) -> Result<m::ContainerTopResponse>;
    /// `GET /containers/{id}/logs`.
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream>;
    /// `POST /containers/{id}/attach`.
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<Session>;
    /// `POST /containers/{id}/resize`.
    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()>;
    /// `POST /containers/prune`.
    async fn prune(&self, filters: Filters) -> Result<m::ContainerPruneResponse>;
}

/// Processes started in running containers.
#[async_trait]
pub trait ExecBackend: Send + Sync {
    /// `POST /containers/{id}/exec`; returns the exec id.
    async fn exec_create(&self, container: &str, config: m::ExecConfig) -> Result<String>;
    /// `POST /exec/{id}/start`. Detached: starts it and returns None. Otherwise returns the
    /// session to hijack. `tty` overrides the create-time setting when given.
    async fn exec_start(&self, id: &str, detach: bool, tty: Option<bool>) -> Result<Option<Session>>;
    /// `GET /exec/{id}/json`.
    async fn exec_inspect(&self, id: &str) -> Result<m::ExecInspectResponse>;
    /// `POST /exec/{id}/resize`.
    async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()>;
}

/// Images.
#[async_trait]
pub trait ImageBackend: Send + Sync {
    /// `GET /images/json`.
    async fn image_list(&self, all: bool, filters: Filters, digests: bool) -> Result<Vec<m::ImageSummary>>;
    /// `GET /images/{name}/json`.
    async fn image_inspect(&self, name: &str) -> Result<m::ImageInspect>;
    /// `GET /images/{name}/history`.
    async fn image_history(&self, name: &str) -> Result<Vec<m::ImageHistoryResponseItem>>;
    /// `POST /images/{name}/tag`.
    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()>;
    /// `DELETE /images/{name}`.
    async fn image_remove(&self, name: &str, force: bool, noprune: bool) -> Result<Vec<m::ImageDeleteResponseItem>>;
    /// `POST /images/create?fromSrc=-`; returns the new image id (`sha256:...`).
    async fn image_import(&self, req: ImportRequest) -> Result<String>;
    /// `POST /images/prune`.
    async fn image_prune(&self, filters: Filters) -> Result<m::ImagePruneResponse>;
}

/// Networks and the containers' endpoints on them.
#[async_trait]
pub trait NetworkBackend: Send + Sync {
    /// `GET /networks` with filters `driver`, `id`, `label`, `name`, `scope`, `type`, `dangling`.
    async fn network_list(&self, filters: Filters) -> Result<Vec<m::NetworkInspect>>;
    /// `GET /networks/{id}`; `id` is a name, a full id or a unique id prefix.
    async fn network_inspect(&self, id: &str, verbose: bool) -> Result<m::NetworkInspect>;
    /// `POST /networks/create`; returns the new network's id (and a warning, if any).
    async fn network_create(&self, req: m::NetworkCreateRequest) -> Result<m::NetworkCreateResponse>;
    /// `DELETE /networks/{id}`. Conflict while a container is connected; predefined networks
    /// (`bridge`, `host`, `none`) cannot be removed.
    async fn network_remove(&self, id: &str) -> Result<()>;
    /// `POST /networks/{id}/connect`.
    async fn network_connect(&self, id: &str, req: m::NetworkConnectRequest) -> Result<()>;
    /// `POST /networks/{id}/disconnect`.
    async fn network_disconnect(&self, id: &str, req: m::NetworkDisconnectRequest) -> Result<()>;
    /// `POST /networks/prune` with filters `until`, `label`.
    async fn network_prune(&self, filters: Filters) -> Result<m::NetworkPruneResponse>;
}

/// Everything the server needs, as one object.
pub trait Backend: SystemBackend + ContainerBackend + ExecBackend + ImageBackend + NetworkBackend {}
impl<T: SystemBackend + ContainerBackend + ExecBackend + ImageBackend + NetworkBackend> Backend for T {}
