//! An in-memory backend that records what the router asked for.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use berth_api::models as m;
use berth_engine::service::*;
use berth_errdefs::{Error, Result};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone)]
pub(crate) struct FakeContainer {
    pub(crate) id: String,
    pub(crate) running: bool,
    pub(crate) tty: bool,
    /// Its attach session ended (the "process" exited).
    pub(crate) exited: bool,
}

/// What an import received: body, repo, tag, message, changes.
pub(crate) type Imported = (Vec<u8>, Option<String>, Option<String>, Option<String>, Vec<String>);

/// Everything the fake remembers; tests read it after a call.
#[derive(Default)]
pub(crate) struct Recorded {
    pub(crate) containers: BTreeMap<String, FakeContainer>,
    pub(crate) images: Vec<String>,
    pub(crate) list_opts: Option<ContainerListOptions>,
    pub(crate) filters: Option<Filters>,
    pub(crate) events_args: Option<(Option<f64>, Option<f64>)>,
    /// Pending waits: container id and where to send the result.
    pub(crate) waiters: Vec<(String, oneshot::Sender<m::ContainerWaitResponse>)>,
    pub(crate) stdin: Vec<u8>,
    pub(crate) stdin_closed: bool,
    pub(crate) stopped_with: Option<(Option<String>, Option<i64>)>,
    pub(crate) logs_opts: Option<LogsOptions>,
    pub(crate) attach_opts: Option<AttachOptions>,
    pub(crate) removed_image: Option<(String, bool, bool)>,
    pub(crate) tagged: Option<(String, String, Option<String>)>,
    pub(crate) imported: Option<Imported>,
    pub(crate) pulled: Option<PullRequest>,
    pub(crate) pushed: Option<PushRequest>,
    pub(crate) saved: Option<Vec<String>>,
    /// Body and `quiet` of a load.
    pub(crate) loaded: Option<(Vec<u8>, bool)>,
    pub(crate) committed: Option<CommitRequest>,
    pub(crate) exported: Option<String>,
    pub(crate) login: Option<LoginRequest>,
    pub(crate) exec_start: Option<(String, bool, Option<bool>)>,
    pub(crate) exec_resized: Option<(u16, u16)>,
    pub(crate) exec_stdin: bool,
    /// Sessions the server dropped while they were still going.
    pub(crate) detached: Vec<String>,
    /// Networks, in creation order.
    pub(crate) networks: Vec<m::NetworkInspect>,
    pub(crate) network_verbose: Option<bool>,
    pub(crate) network_created: Option<m::NetworkCreateRequest>,
    pub(crate) connected: Option<(String, m::NetworkConnectRequest)>,
    pub(crate) disconnected: Option<(String, m::NetworkDisconnectRequest)>,
}

/// The predefined networks of the fake: name and id.
pub(crate) const PREDEFINED: [(&str, &str); 3] =
    [("bridge", "bridgeid0001"), ("host", "hostid0002"), ("none", "noneid0003")];

fn fake_network(name: &str, id: &str, driver: &str) -> m::NetworkInspect {
    m::NetworkInspect {
        name: Some(name.into()),
        id: Some(id.into()),
        scope: Some("local".into()),
        driver: Some(driver.into()),
        containers: Some(Default::default()),
        ..Default::default()
    }
}

/// The endpoint settings of container `up` on the default bridge.
pub(crate) fn up_on_bridge() -> m::EndpointSettings {
    m::EndpointSettings {
        network_id: Some("bridgeid0001".into()),
        endpoint_id: Some("ep-up".into()),
        gateway: Some("172.17.0.1".into()),
        ip_address: Some("172.17.0.2".into()),
        ip_prefix_len: Some(16),
        mac_address: Some("02:42:ac:11:00:02".into()),
        ..Default::default()
    }
}

#[derive(Clone, Default)]
pub(crate) struct Fake {
    pub(crate) rec: Arc<Mutex<Recorded>>,
}

impl Fake {
    /// A fake with a stopped container `c1` (id `id1`), a running `up` (id `id2`), a TTY
    /// container `tty` (id `id3`), a running `silent` (id `id4`) whose attach session never
    /// ends by itself, and an image `localhost:5000/foo/bar:tag`.
    pub(crate) fn new() -> Self {
        let fake = Fake::default();
        {
            let mut r = fake.rec.lock().unwrap();
            for (name, id, running, tty) in [
                ("c1", "id1", false, false),
                ("up", "id2", true, false),
                ("tty", "id3", true, true),
                ("silent", "id4", true, false),
            ] {
                r.containers.insert(
                    name.into(),
                    FakeContainer { id: id.into(), running, tty, exited: false },
                );
            }
            r.images.push("localhost:5000/foo/bar:tag".into());
            for (name, id) in PREDEFINED {
                let driver = if name == "bridge" { "bridge" } else { name };
                r.networks.push(fake_network(name, id, driver));
            }
            // `up` is on the user network `front`.
            let mut front = fake_network("front", "frontid0004", "bridge");
            let ep = m::EndpointResource {
                name: Some("up".into()),
                ipv4_address: Some("172.18.0.2/16".into()),
                ..Default::default()
            };
            front.containers = Some([("id2".to_string(), ep)].into_iter().collect());
            r.networks.push(front);
        }
        fake
    }

    /// Docker's lookup: full id, then exact name, then unique id prefix.
    fn network(&self, term: &str) -> Result<m::NetworkInspect> {
        self.with(|r| {
            let id_of = |n: &m::NetworkInspect| n.id.clone().unwrap_or_default();
            if let Some(n) = r.networks.iter().find(|n| id_of(n) == term) {
                return Ok(n.clone());
            }
            if let Some(n) = r.networks.iter().find(|n| n.name.as_deref() == Some(term)) {
                return Ok(n.clone());
            }
            let by_prefix: Vec<_> =
                r.networks.iter().filter(|n| id_of(n).starts_with(term)).collect();
            match by_prefix.as_slice() {
                [n] => Ok((*n).clone()),
                [] => Err(Error::not_found(format!("network {term} not found"))),
                many => Err(Error::invalid(format!(
                    "network {term} is ambiguous ({} matches found based on ID prefix)",
                    many.len()
                ))),
            }
        })
    }

    /// Apply `f` to the stored network with id `id`.
    fn update_network(&self, id: &Option<String>, f: impl FnOnce(&mut m::NetworkInspect)) {
        self.with(|r| {
            if let Some(n) = r.networks.iter_mut().find(|n| &n.id == id) {
                f(n)
            }
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.rec.lock().unwrap())
    }

    fn lookup(&self, id: &str) -> Result<FakeContainer> {
        self.with(|r| {
            r.containers
                .iter()
                .find(|(name, c)| name.as_str() == id || c.id == id)
                .map(|(_, c)| c.clone())
                .ok_or_else(|| Error::not_found(format!("No such container: {id}")))
        })
    }

    fn set_running(&self, id: &str, running: bool) {
        self.with(|r| {
            for (name, c) in r.containers.iter_mut() {
                if name == id || c.id == id {
                    c.running = running;
                }
            }
        })
    }

    /// A session that says hello, collects stdin until it closes, then reports and ends. For
    /// an attach (`container` is its id) the container then counts as exited.
    fn session(&self, tty: bool, with_stdin: bool, container: Option<String>) -> Session {
        let (out_tx, out_rx) = mpsc::channel(16);
        let (in_tx, mut in_rx) = mpsc::channel::<Bytes>(16);
        let rec = self.rec.clone();
        tokio::spawn(async move {
            let hello = Chunk { stream: StdStream::Stdout, data: Bytes::from_static(b"hello\n") };
            let _ = out_tx.send(hello).await;
            if container.as_deref() == Some("id4") {
                // Silent: keep the session until the server lets go of it (a detach).
                out_tx.closed().await;
                rec.lock().unwrap().detached.push("id4".into());
                return;
            }
            if with_stdin {
                let mut n = 0;
                while let Some(data) = in_rx.recv().await {
                    n += data.len();
                    rec.lock().unwrap().stdin.extend_from_slice(&data);
                }
                rec.lock().unwrap().stdin_closed = true;
                let msg = format!("stdin closed after {n} bytes\n");
                let _ =
                    out_tx.send(Chunk { stream: StdStream::Stderr, data: Bytes::from(msg) }).await;
            }
            // The "process" exits once its input is done: release whoever waits for it.
            let Some(id) = container else { return };
            let mut r = rec.lock().unwrap();
            for c in r.containers.values_mut().filter(|c| c.id == id) {
                c.exited = true;
            }
            let (done, pending): (Vec<_>, Vec<_>) =
                std::mem::take(&mut r.waiters).into_iter().partition(|(w, _)| *w == id);
            r.waiters = pending;
            for (_, w) in done {
                let _ = w.send(m::ContainerWaitResponse { status_code: 0, error: None });
            }
        });
        Session { tty, output: out_rx, stdin: with_stdin.then_some(in_tx) }
    }

    /// Complete every pending wait with `code`.
    pub(crate) fn finish_waits(&self, code: i64) {
        let waiters = self.with(|r| std::mem::take(&mut r.waiters));
        for (_, w) in waiters {
            let _ = w.send(m::ContainerWaitResponse { status_code: code, error: None });
        }
    }

    pub(crate) fn pending_waits(&self) -> usize {
        self.with(|r| r.waiters.len())
    }
}

#[async_trait]
impl SystemBackend for Fake {
    async fn info(&self) -> Result<m::SystemInfo> {
        Ok(m::SystemInfo { name: Some("fake".into()), ..Default::default() })
    }
    async fn version(&self) -> Result<m::SystemVersion> {
        Ok(m::SystemVersion {
            version: Some("0.1.0".into()),
            api_version: Some("wrong".into()),
            ..Default::default()
        })
    }
    async fn df(&self) -> Result<berth_api::SystemDataUsage> {
        Ok(Default::default())
    }
    async fn events(
        &self,
        since: Option<f64>,
        until: Option<f64>,
        filters: Filters,
    ) -> Result<BoxStream<'static, m::EventMessage>> {
        self.with(|r| {
            r.events_args = Some((since, until));
            r.filters = Some(filters);
        });
        let evs = ["create", "start"].map(|a| m::EventMessage {
            action: Some(a.into()),
            time: Some(1),
            ..Default::default()
        });
        Ok(stream::iter(evs).boxed())
    }
}

#[async_trait]
impl ContainerBackend for Fake {
    async fn create(
        &self,
        name: Option<String>,
        config: m::ContainerCreateBody,
    ) -> Result<m::ContainerCreateResponse> {
        let name = name.unwrap_or_else(|| "generated".into());
        self.with(|r| {
            if r.containers.contains_key(&name) {
                return Err(Error::conflict(format!(
                    "the container name \"/{name}\" is already in use"
                )));
            }
            let tty = config.tty.unwrap_or(false);
            r.containers.insert(
                name.clone(),
                FakeContainer { id: format!("id-{name}"), running: false, tty, exited: false },
            );
            Ok(m::ContainerCreateResponse { id: format!("id-{name}"), warnings: vec![] })
        })
    }
    async fn list(&self, opts: ContainerListOptions) -> Result<Vec<m::ContainerSummary>> {
        self.with(|r| {
            r.list_opts = Some(opts);
            Ok(r.containers
                .iter()
                .map(|(name, c)| m::ContainerSummary {
                    id: Some(c.id.clone()),
                    names: Some(vec![format!("/{name}")]),
                    ..Default::default()
                })
                .collect())
        })
    }
    async fn inspect(&self, id: &str, _size: bool) -> Result<m::ContainerInspectResponse> {
        let c = self.lookup(id)?;
        // `up` is on the default bridge and on `front`; the others have no network settings.
        let network_settings = (c.id == "id2").then(|| m::NetworkSettings {
            sandbox_id: Some("sandbox-up".into()),
            sandbox_key: Some("/run/berth/netns/id2".into()),
            ports: Some(Default::default()),
            networks: Some(
                [
                    ("bridge".to_string(), up_on_bridge()),
                    (
                        "front".to_string(),
                        m::EndpointSettings {
                            network_id: Some("frontid0004".into()),
                            ip_address: Some("172.18.0.2".into()),
                            ..Default::default()
                        },
                    ),
                ]
                .into_iter()
                .collect(),
            ),
        });
        Ok(m::ContainerInspectResponse {
            id: Some(c.id),
            config: Some(m::ContainerConfig { tty: Some(c.tty), ..Default::default() }),
            network_settings,
            ..Default::default()
        })
    }
    async fn start(&self, id: &str) -> Result<()> {
        if self.lookup(id)?.running {
            return Err(Error::not_modified());
        }
        self.set_running(id, true);
        Ok(())
    }
    async fn stop(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()> {
        if !self.lookup(id)?.running {
            return Err(Error::not_modified());
        }
        self.with(|r| r.stopped_with = Some((signal, timeout)));
        self.set_running(id, false);
        Ok(())
    }
    async fn restart(
        &self,
        id: &str,
        _signal: Option<String>,
        _timeout: Option<i64>,
    ) -> Result<()> {
        self.lookup(id).map(drop)
    }
    async fn kill(&self, id: &str, _signal: Option<String>) -> Result<()> {
        if !self.lookup(id)?.running {
            return Err(Error::conflict(format!("container {id} is not running")));
        }
        Ok(())
    }
    async fn pause(&self, id: &str) -> Result<()> {
        self.lookup(id).map(drop)
    }
    async fn unpause(&self, id: &str) -> Result<()> {
        self.lookup(id).map(drop)
    }
    async fn wait(&self, id: &str, _condition: WaitCondition) -> Result<WaitFuture> {
        let c = self.lookup(id)?;
        let (tx, rx) = oneshot::channel();
        if c.exited {
            let _ = tx.send(m::ContainerWaitResponse { status_code: 0, error: None });
        } else {
            self.with(|r| r.waiters.push((c.id, tx)));
        }
        Ok(Box::pin(async move {
            rx.await.unwrap_or(m::ContainerWaitResponse { status_code: -1, error: None })
        }))
    }
    async fn remove(&self, id: &str, _force: bool, _volumes: bool) -> Result<()> {
        self.lookup(id)?;
        self.with(|r| r.containers.retain(|name, c| name != id && c.id != id));
        Ok(())
    }
    async fn rename(&self, id: &str, _new_name: &str) -> Result<()> {
        self.lookup(id).map(drop)
    }
    async fn top(&self, id: &str, _ps_args: Option<String>) -> Result<m::ContainerTopResponse> {
        self.lookup(id)?;
        Ok(Default::default())
    }
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream> {
        let c = self.lookup(id)?;
        self.with(|r| r.logs_opts = Some(opts));
        let chunks = vec![
            Chunk { stream: StdStream::Stdout, data: Bytes::from_static(b"out\n") },
            Chunk { stream: StdStream::Stderr, data: Bytes::new() },
            Chunk { stream: StdStream::Stderr, data: Bytes::from_static(b"err\n") },
        ];
        Ok(LogStream { tty: c.tty, chunks: stream::iter(chunks).boxed() })
    }
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<Session> {
        let c = self.lookup(id)?;
        let with_stdin = opts.stdin;
        self.with(|r| r.attach_opts = Some(opts));
        Ok(self.session(c.tty, with_stdin, Some(c.id)))
    }
    async fn resize(&self, id: &str, _height: u16, _width: u16) -> Result<()> {
        self.lookup(id).map(drop)
    }
    async fn prune(&self, filters: Filters) -> Result<m::ContainerPruneResponse> {
        self.with(|r| r.filters = Some(filters));
        Ok(m::ContainerPruneResponse { containers_deleted: Some(vec![]), space_reclaimed: Some(0) })
    }
}

#[async_trait]
impl ExecBackend for Fake {
    async fn exec_create(&self, container: &str, config: m::ExecConfig) -> Result<String> {
        if !self.lookup(container)?.running {
            return Err(Error::conflict(format!("container {container} is not running")));
        }
        self.with(|r| r.exec_stdin = config.attach_stdin.unwrap_or(false));
        Ok("exec1".into())
    }
    async fn exec_start(
        &self,
        id: &str,
        detach: bool,
        tty: Option<bool>,
    ) -> Result<Option<Session>> {
        if id != "exec1" {
            return Err(Error::not_found(format!("No such exec instance: {id}")));
        }
        self.with(|r| r.exec_start = Some((id.into(), detach, tty)));
        let with_stdin = self.with(|r| r.exec_stdin);
        Ok((!detach).then(|| self.session(tty.unwrap_or(false), with_stdin, None)))
    }
    async fn exec_inspect(&self, id: &str) -> Result<m::ExecInspectResponse> {
        if id != "exec1" {
            return Err(Error::not_found(format!("No such exec instance: {id}")));
        }
        Ok(m::ExecInspectResponse { id: Some(id.into()), ..Default::default() })
    }
    async fn exec_resize(&self, _id: &str, height: u16, width: u16) -> Result<()> {
        self.with(|r| r.exec_resized = Some((height, width)));
        Ok(())
    }
}

#[async_trait]
impl ImageBackend for Fake {
    async fn image_list(
        &self,
        _all: bool,
        filters: Filters,
        _digests: bool,
    ) -> Result<Vec<m::ImageSummary>> {
        self.with(|r| r.filters = Some(filters));
        Ok(vec![])
    }
    async fn image_inspect(&self, name: &str) -> Result<m::ImageInspect> {
        if self.with(|r| r.images.iter().any(|i| i == name)) {
            Ok(m::ImageInspect { id: Some(name.into()), ..Default::default() })
        } else {
            Err(Error::not_found(format!("No such image: {name}")))
        }
    }
    /// Images whose name starts with `child` were committed from `sha256:fff...`.
    async fn image_parent(&self, name: &str) -> Result<String> {
        self.image_inspect(name).await?;
        Ok(if name.starts_with("child") { format!("sha256:{}", "f".repeat(64)) } else { String::new() })
    }
    async fn image_history(&self, name: &str) -> Result<Vec<m::ImageHistoryResponseItem>> {
        self.image_inspect(name).await?;
        Ok(vec![])
    }
    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        self.image_inspect(name).await?;
        self.with(|r| r.tagged = Some((name.into(), repo.into(), tag.map(Into::into))));
        Ok(())
    }
    async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<m::ImageDeleteResponseItem>> {
        self.image_inspect(name).await?;
        self.with(|r| r.removed_image = Some((name.into(), force, noprune)));
        Ok(vec![m::ImageDeleteResponseItem { untagged: Some(name.into()), deleted: None }])
    }
    async fn image_import(&self, req: ImportRequest) -> Result<String> {
        let mut body = req.body;
        let mut data = Vec::new();
        while let Some(piece) = body.next().await {
            data.extend_from_slice(&piece?);
        }
        let id = format!("sha256:{:064x}", data.len());
        self.with(|r| r.imported = Some((data, req.repo, req.tag, req.message, req.changes)));
        Ok(id)
    }
    async fn image_prune(&self, filters: Filters) -> Result<m::ImagePruneResponse> {
        self.with(|r| r.filters = Some(filters));
        Ok(Default::default())
    }
    /// `nope...` is unknown to the registry (an error before any progress); `broken...` fails
    /// after the first message; anything else pulls one layer and becomes `<image>:<tag>`.
    async fn image_pull(&self, req: PullRequest, progress: ProgressSender) -> Result<()> {
        self.with(|r| r.pulled = Some(req.clone()));
        let tag = req.tag.clone().unwrap_or_else(|| "latest".into());
        // The CLI sends the normalised name (`docker.io/library/busybox`).
        let image = req.image.trim_start_matches("docker.io/library/").to_string();
        if image.starts_with("nope") {
            return Err(Error::not_found(format!(
                "manifest for {image}:{tag} not found: manifest unknown: manifest unknown"
            )));
        }
        let send = |m: berth_api::JsonMessage| {
            let p = progress.clone();
            async move {
                let _ = p.send(m).await;
            }
        };
        send(berth_api::JsonMessage::update(tag.clone(), format!("Pulling from library/{image}"))).await;
        if image.starts_with("broken") {
            return Err(Error::new(berth_errdefs::Kind::Unavailable, "unexpected EOF"));
        }
        send(berth_api::JsonMessage::update("abc123", "Pulling fs layer")).await;
        send(berth_api::JsonMessage::update("abc123", "Pull complete")).await;
        send(berth_api::JsonMessage::status(format!("Digest: sha256:{}", "d".repeat(64)))).await;
        let name = format!("{image}:{tag}");
        send(berth_api::JsonMessage::status(format!("Status: Downloaded newer image for {name}"))).await;
        self.with(|r| r.images.push(name));
        Ok(())
    }
    async fn image_push(&self, req: PushRequest, progress: ProgressSender) -> Result<()> {
        self.with(|r| r.pushed = Some(req.clone()));
        let name = match &req.tag {
            Some(t) => format!("{}:{t}", req.name),
            None => req.name.clone(),
        };
        if !self.with(|r| r.images.contains(&name)) {
            return Err(Error::not_found(format!("An image does not exist locally with the tag: {name}")));
        }
        let msgs = [
            berth_api::JsonMessage::status(format!("The push refers to repository [{}]", req.name)),
            berth_api::JsonMessage::update("abc123", "Pushed"),
            berth_api::JsonMessage {
                aux: Some(serde_json::json!({"Tag": req.tag, "Digest": "sha256:0", "Size": 1})),
                ..Default::default()
            },
        ];
        for m in msgs {
            let _ = progress.send(m).await;
        }
        Ok(())
    }
    async fn image_save(&self, names: Vec<String>) -> Result<ByteStream> {
        for n in &names {
            self.image_inspect(n).await?;
        }
        self.with(|r| r.saved = Some(names.clone()));
        let chunks: Vec<std::io::Result<Bytes>> =
            vec![Ok(Bytes::from_static(b"tar of ")), Ok(Bytes::from(names.join(",")))];
        Ok(stream::iter(chunks).boxed())
    }
    async fn image_load(&self, body: ByteStream, quiet: bool) -> Result<Vec<String>> {
        let mut body = body;
        let mut data = Vec::new();
        while let Some(piece) = body.next().await {
            data.extend_from_slice(&piece?);
        }
        if data.is_empty() {
            return Err(Error::invalid("unexpected EOF"));
        }
        self.with(|r| r.loaded = Some((data, quiet)));
        Ok(vec!["Loaded image: loaded:latest".into(), format!("Loaded image ID: sha256:{}", "e".repeat(64))])
    }
    async fn commit(&self, req: CommitRequest) -> Result<String> {
        self.lookup(&req.container)?;
        self.with(|r| r.committed = Some(req));
        Ok(format!("sha256:{}", "c".repeat(64)))
    }
    async fn container_export(&self, id: &str) -> Result<ByteStream> {
        let c = self.lookup(id)?;
        self.with(|r| r.exported = Some(c.id.clone()));
        if c.id == "id4" {
            // `silent`: the export breaks half way.
            let chunks = vec![Ok(Bytes::from_static(b"half")), Err(std::io::Error::other("disk on fire"))];
            return Ok(stream::iter(chunks).boxed());
        }
        Ok(stream::iter(vec![Ok(Bytes::from(format!("rootfs of {}", c.id)))]).boxed())
    }
    async fn container_changes(&self, id: &str) -> Result<Vec<m::FilesystemChange>> {
        self.lookup(id)?;
        Ok(vec![
            m::FilesystemChange { path: "/etc".into(), kind: m::ChangeType::_0 },
            m::FilesystemChange { path: "/etc/group".into(), kind: m::ChangeType::_2 },
            m::FilesystemChange { path: "/made.txt".into(), kind: m::ChangeType::_1 },
        ])
    }
    /// Password `wrong` is refused; user `token` gets an identity token.
    async fn registry_login(&self, req: LoginRequest) -> Result<Option<String>> {
        self.with(|r| r.login = Some(req.clone()));
        if req.password == "wrong" {
            return Err(Error::new(
                berth_errdefs::Kind::PermissionDenied,
                format!("login attempt to http://{}/v2/ failed with status: 401 Unauthorized", req.server_address),
            ));
        }
        Ok((req.username == "token").then(|| "refresh-me".to_string()))
    }
}

#[async_trait]
impl NetworkBackend for Fake {
    async fn network_list(&self, filters: Filters) -> Result<Vec<m::NetworkInspect>> {
        self.with(|r| {
            r.filters = Some(filters);
            Ok(r.networks.clone())
        })
    }
    async fn network_inspect(&self, id: &str, verbose: bool) -> Result<m::NetworkInspect> {
        let n = self.network(id)?;
        self.with(|r| r.network_verbose = Some(verbose));
        Ok(n)
    }
    async fn network_create(
        &self,
        req: m::NetworkCreateRequest,
    ) -> Result<m::NetworkCreateResponse> {
        let name = req.name.clone();
        if PREDEFINED.iter().any(|(n, _)| *n == name) {
            return Err(Error::new(
                berth_errdefs::Kind::PermissionDenied,
                format!("operation is not permitted on predefined {name} network"),
            ));
        }
        if self.network(&name).is_ok_and(|n| n.name.as_deref() == Some(name.as_str())) {
            return Err(Error::conflict(format!("network with name {name} already exists")));
        }
        let id = format!("net-{name}");
        let driver = req.driver.clone().unwrap_or_else(|| "bridge".into());
        self.with(|r| {
            r.networks.push(fake_network(&name, &id, &driver));
            r.network_created = Some(req);
        });
        Ok(m::NetworkCreateResponse { id, warning: String::new() })
    }
    async fn network_remove(&self, id: &str) -> Result<()> {
        let n = self.network(id)?;
        let name = n.name.clone().unwrap_or_default();
        if PREDEFINED.iter().any(|(p, _)| *p == name) {
            return Err(Error::new(
                berth_errdefs::Kind::PermissionDenied,
                format!("{name} is a pre-defined network and cannot be removed"),
            ));
        }
        if n.containers.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(Error::conflict(format!(
                "error while removing network: network {name} id {} has active endpoints",
                n.id.clone().unwrap_or_default()
            )));
        }
        self.with(|r| r.networks.retain(|x| x.id != n.id));
        Ok(())
    }
    async fn network_connect(&self, id: &str, req: m::NetworkConnectRequest) -> Result<()> {
        let n = self.network(id)?;
        let c = self.lookup(&req.container)?;
        self.update_network(&n.id, |n| {
            let ep =
                m::EndpointResource { name: Some(req.container.clone()), ..Default::default() };
            n.containers.get_or_insert_with(Default::default).insert(c.id, ep);
        });
        self.with(|r| r.connected = Some((id.into(), req)));
        Ok(())
    }
    async fn network_disconnect(&self, id: &str, req: m::NetworkDisconnectRequest) -> Result<()> {
        let n = self.network(id)?;
        let c = self.lookup(&req.container)?;
        self.update_network(&n.id, |n| {
            if let Some(eps) = n.containers.as_mut() {
                eps.remove(&c.id);
            }
        });
        self.with(|r| r.disconnected = Some((id.into(), req)));
        Ok(())
    }
    /// Removes user networks without endpoints; reports nothing (`None`) when none went.
    async fn network_prune(&self, filters: Filters) -> Result<m::NetworkPruneResponse> {
        self.with(|r| {
            r.filters = Some(filters);
            let unused = |n: &m::NetworkInspect| {
                !PREDEFINED.iter().any(|(p, _)| n.name.as_deref() == Some(*p))
                    && n.containers.as_ref().is_none_or(|c| c.is_empty())
            };
            let deleted: Vec<String> =
                r.networks.iter().filter(|n| unused(n)).filter_map(|n| n.name.clone()).collect();
            r.networks.retain(|n| !unused(n));
            Ok(m::NetworkPruneResponse {
                networks_deleted: (!deleted.is_empty()).then_some(deleted),
            })
        })
    }
}

impl VolumeBackend for Fake {}
impl ArchiveBackend for Fake {}
impl ResourceBackend for Fake {}
impl BuildBackend for Fake {}
