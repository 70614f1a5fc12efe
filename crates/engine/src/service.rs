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

/// Progress of a pull or push: Docker's JSON messages, in order, as they happen. The server
/// streams them as they come; a send error means the client went away (the work goes on).
pub type ProgressSender = mpsc::Sender<berth_api::JsonMessage>;

/// A byte stream the engine produces (`docker save`, `docker export`). An `Err` item ends it:
/// the server then breaks the connection, so the client sees a truncated transfer.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Parameters of `POST /images/create?fromImage=` (pull).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRequest {
    /// `fromImage`: a reference, maybe with a tag or digest (`busybox`, `localhost:5000/a:1`).
    pub image: String,
    /// `tag`: a tag or a digest (`sha256:...`); wins over one in `image`.
    pub tag: Option<String>,
    /// `platform`: `os/arch[/variant]`; None for the host's.
    pub platform: Option<String>,
    /// The `X-Registry-Auth` header as sent (base64url JSON); undecodable means anonymous.
    pub registry_auth: Option<String>,
}

/// Parameters of `POST /images/{name}/push`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushRequest {
    /// The repository (`localhost:5000/app`), as in the path.
    pub name: String,
    /// `tag`; None pushes every local tag of the repository (`--all-tags`).
    pub tag: Option<String>,
    /// The `X-Registry-Auth` header as sent.
    pub registry_auth: Option<String>,
}

/// Parameters of `POST /commit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitRequest {
    /// `container`: a name, id or unique id prefix.
    pub container: String,
    /// `repo` (may carry a tag); None makes an untagged image.
    pub repo: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// `comment`: the history entry's comment.
    pub comment: Option<String>,
    /// `author`.
    pub author: Option<String>,
    /// Freeze the container while its changes are read (`pause`, default true).
    pub pause: bool,
    /// `changes`: Dockerfile instructions applied to the new image's config.
    pub changes: Vec<String>,
    /// The request body: a container config whose set fields override the container's.
    pub config: Option<m::ContainerConfig>,
}

/// Credentials of `POST /auth` (Docker's `AuthConfig`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LoginRequest {
    /// `serveraddress`: `localhost:5000`, `https://index.docker.io/v1/`, empty for Docker Hub.
    pub server_address: String,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `identitytoken`: a refresh token from an earlier login, used instead of the password.
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("LoginRequest")
            .field("server_address", &self.server_address)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
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
    /// The image `name` was committed from (`""` when none or gone): the `Parent` that image
    /// inspect shows before API 1.52.
    async fn image_parent(&self, name: &str) -> Result<String>;
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
    /// `POST /images/create?fromImage=`: pull from a registry, sending progress to `progress`
    /// (nothing is sent before the registry named the manifest, so an early failure has sent
    /// nothing and can be answered with a status). Ends with the `Digest:` and `Status:` lines.
    async fn image_pull(&self, req: PullRequest, progress: ProgressSender) -> Result<()>;
    /// `POST /images/{name}/push`: push to a registry, with progress as for a pull and an
    /// `aux` message (`{"Tag","Digest","Size"}`) per tag pushed. `NotFound` (Docker's `An image
    /// does not exist locally with the tag: x`) before any progress when nothing matches.
    async fn image_push(&self, req: PushRequest, progress: ProgressSender) -> Result<()>;
    /// `GET /images/{name}/get`, `GET /images/get?names=`: the `docker save` tar of the named
    /// images. Unknown names fail (`NotFound`) before the stream is returned.
    async fn image_save(&self, names: Vec<String>) -> Result<ByteStream>;
    /// `POST /images/load`: load a `docker save` archive (plain or compressed tar); returns
    /// the lines Docker prints (`Loaded image: busybox:latest`), without newlines.
    async fn image_load(&self, body: ByteStream, quiet: bool) -> Result<Vec<String>>;
    /// `POST /commit`: a new image from a container's changes; returns its id (`sha256:...`).
    async fn commit(&self, req: CommitRequest) -> Result<String>;
    /// `GET /containers/{id}/export`: a tar of the container's whole filesystem (image layers
    /// and its changes), running or not.
    async fn container_export(&self, id: &str) -> Result<ByteStream>;
    /// `GET /containers/{id}/changes` (`docker diff`): what the container changed in its
    /// image's filesystem, directories before their entries.
    async fn container_changes(&self, id: &str) -> Result<Vec<m::FilesystemChange>>;
    /// `POST /auth`: check credentials against a registry; returns the identity token it
    /// handed out, if any. Refused credentials are `PermissionDenied`.
    async fn registry_login(&self, req: LoginRequest) -> Result<Option<String>>;
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

fn unsupported<T>(what: &str) -> Result<T> {
    Err(berth_errdefs::Error::not_implemented(format!("{what} is not supported by this daemon")))
}

/// Volumes (`/volumes`), through the `local` driver or a volume plugin.
#[async_trait]
pub trait VolumeBackend: Send + Sync {
    /// `GET /volumes` with filters `dangling`, `driver`, `label`, `name`.
    async fn volume_list(&self, filters: Filters) -> Result<m::VolumeListResponse> {
        let _ = filters;
        unsupported("listing volumes")
    }
    /// `POST /volumes/create`. Creating an existing name with the same driver returns it.
    async fn volume_create(&self, req: m::VolumeCreateRequest) -> Result<m::Volume> {
        let _ = req;
        unsupported("creating volumes")
    }
    /// `GET /volumes/{name}`.
    async fn volume_inspect(&self, name: &str) -> Result<m::Volume> {
        let _ = name;
        unsupported("inspecting volumes")
    }
    /// `DELETE /volumes/{name}`: `Conflict` while a container uses it.
    async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let _ = (name, force);
        unsupported("removing volumes")
    }
    /// `POST /volumes/prune` with filters `label`, `all`.
    async fn volume_prune(&self, filters: Filters) -> Result<m::VolumePruneResponse> {
        let _ = filters;
        unsupported("pruning volumes")
    }
    /// `POST /volumes/{name}/rename?name=NEW` (a Berth extension): `Conflict` while in use.
    async fn volume_rename(&self, name: &str, new_name: &str) -> Result<()> {
        let _ = (name, new_name);
        unsupported("renaming volumes")
    }
}

/// A path's description in a container, `X-Docker-Container-Path-Stat` (base64 of its JSON).
pub type PathStat = berth_api::PathStat;

/// Parameters of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivePut {
    /// `path`: the directory the tar is extracted into.
    pub path: String,
    /// `noOverwriteDirNonDir`: refuse to replace a directory with a non-directory or back.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: keep the tar's owners instead of the container's root (`cp -a`).
    pub copy_uid_gid: bool,
}

/// Copying files in and out of containers (`docker cp`).
#[async_trait]
pub trait ArchiveBackend: Send + Sync {
    /// `HEAD /containers/{id}/archive?path=`.
    async fn archive_stat(&self, id: &str, path: &str) -> Result<PathStat> {
        let _ = (id, path);
        unsupported("the archive API")
    }
    /// `GET /containers/{id}/archive?path=`: the stat and a tar of the path.
    async fn archive_get(&self, id: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        let _ = (id, path);
        unsupported("the archive API")
    }
    /// `PUT /containers/{id}/archive`: extract a tar (plain or compressed) into a directory.
    async fn archive_put(&self, id: &str, req: ArchivePut, body: ByteStream) -> Result<()> {
        let _ = (id, req, body);
        unsupported("the archive API")
    }
}

/// Resource use and limits of running containers.
#[async_trait]
pub trait ResourceBackend: Send + Sync {
    /// `GET /containers/{id}/stats`: one sample (`stream=false`; `one_shot` skips the
    /// priming sample, so `precpu_stats` is empty) or one per second until the container stops
    /// or the client goes away.
    async fn stats(&self, id: &str, stream: bool, one_shot: bool) -> Result<BoxStream<'static, m::ContainerStatsResponse>> {
        let _ = (id, stream, one_shot);
        unsupported("stats")
    }
    /// `POST /containers/{id}/update`: new limits (and restart policy), applied to the live
    /// cgroup and recorded.
    async fn update(&self, id: &str, req: m::ContainerUpdateBody) -> Result<m::ContainerUpdateResponse> {
        let _ = (id, req);
        unsupported("update")
    }
}

/// Parameters of `POST /build` (the classic builder's query string and headers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildRequest {
    /// `dockerfile`: path of the Dockerfile in the context (default `Dockerfile`); a URL or
    /// `-` are not supported.
    pub dockerfile: Option<String>,
    /// `t`: every name to tag the result with.
    pub tags: Vec<String>,
    /// `buildargs` (JSON object; a null value means "take it from the environment", which the
    /// daemon cannot, so it stays unset).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `target`: the stage to build up to.
    pub target: Option<String>,
    /// `nocache`.
    pub no_cache: bool,
    /// `pull`: refresh base images from their registry.
    pub pull: bool,
    /// `rm` (default true): remove intermediate containers after a successful build.
    pub rm: bool,
    /// `forcerm`: remove intermediate containers always.
    pub force_rm: bool,
    /// `labels` (JSON object) set on the final image.
    pub labels: BTreeMap<String, String>,
    /// `networkmode` for RUN steps (`default`, `bridge`, `host`, `none`, a network name).
    pub network_mode: Option<String>,
    /// `platform`.
    pub platform: Option<String>,
    /// `q`: only print the image id at the end.
    pub quiet: bool,
    /// `extrahosts` (`host:ip` entries) for RUN steps.
    pub extra_hosts: Vec<String>,
    /// `shmsize`, `memory`, `memswap`, `cpushares`, `cpusetcpus`, `cpuquota`, `cpuperiod`
    /// for RUN steps, as given.
    pub resources: BTreeMap<String, String>,
    /// `cachefrom`: images whose layers may serve as cache.
    pub cache_from: Vec<String>,
    /// `X-Registry-Config` as sent (base64url JSON of auth configs by registry), for pulls.
    pub registry_config: Option<String>,
}

/// The classic builder (`docker build` with `DOCKER_BUILDKIT=0`) and its cache.
#[async_trait]
pub trait BuildBackend: Send + Sync {
    /// `POST /build`: build the context tar (plain or compressed, as it arrives) and send
    /// progress as JSON messages (`stream` lines, `aux` with `{"ID": "sha256:..."}`, `error`
    /// with `errorDetail`). Errors before any progress was sent are returned (the server answers
    /// with a status); afterwards they are sent as an error message and `Ok` is returned.
    async fn build(&self, req: BuildRequest, context: ByteStream, progress: ProgressSender) -> Result<()> {
        let _ = (req, context, progress);
        unsupported("building images")
    }
    /// `POST /build/prune` with filters `until`, `id`, `unused-for`; `all` drops every record.
    async fn build_prune(&self, all: bool, filters: Filters) -> Result<m::BuildPruneResponse> {
        let _ = (all, filters);
        unsupported("pruning the build cache")
    }
}

/// Everything the server needs, as one object.
pub trait Backend:
    SystemBackend + ContainerBackend + ExecBackend + ImageBackend + NetworkBackend + VolumeBackend + ArchiveBackend + ResourceBackend + BuildBackend
{
}
impl<T> Backend for T where
    T: SystemBackend + ContainerBackend + ExecBackend + ImageBackend + NetworkBackend + VolumeBackend + ArchiveBackend + ResourceBackend + BuildBackend
{
}
