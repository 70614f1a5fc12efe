//! The `service` traits, implemented by delegating to the engine's modules, plus the read-only
//! views (list, inspect) that shape records into Docker's answers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use berth_api::models as m;
use berth_errdefs::{Error, Result};
use futures_util::stream::BoxStream;

use crate::containers::{self, parse_rfc3339, status_text, Record};
use crate::service::*;
use crate::Engine;

fn enum_from<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// Bytes used by the files under `dir` (not following symlinks).
pub(crate) fn dir_size(dir: &Path) -> i64 {
    let mut total = 0i64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len() as i64;
            }
        }
    }
    total
}

/// The container ports a container publishes (`80/tcp`), from its port bindings.
fn published_keys(rec: &Record) -> Vec<String> {
    let mut keys: Vec<String> = rec.host_config.port_bindings.clone().unwrap_or_default().into_keys().collect();
    if rec.host_config.publish_all_ports.unwrap_or(false) {
        keys.extend(rec.config.exposed_ports.clone().unwrap_or_default());
    }
    keys
}

/// `publish`/`expose` filters: `80`, `80/udp`, `8000-8080/tcp` against `80/tcp`-style keys.
fn port_filter(filter: &str, keys: &[String]) -> bool {
    let (ports, proto) = filter.split_once('/').unwrap_or((filter, "tcp"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().ok(), b.parse::<u16>().ok()),
        None => (ports.parse::<u16>().ok(), ports.parse::<u16>().ok()),
    };
    let (Some(lo), Some(hi)) = (lo, hi) else { return false };
    keys.iter().any(|k| {
        let (p, pr) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
        pr == proto && p.parse::<u16>().is_ok_and(|p| (lo..=hi).contains(&p))
    })
}

pub(crate) fn label_matches(labels: &HashMap<String, String>, f: &str) -> bool {
    match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    }
}

impl Engine {
    fn summary(&self, rec: &Record, size: bool) -> m::ContainerSummary {
        let command = std::iter::once(rec.path.clone()).chain(rec.args.iter().cloned()).collect::<Vec<_>>().join(" ");
        let network = crate::sandbox::primary_network(&rec.host_config);
        let networks = self.endpoint_settings(rec);
        let (size_rw, size_root) = if size {
            let rw = dir_size(&containers::container_dir(&self.cfg.data_root, &rec.id).join("upper"));
            (Some(rw), Some(rw + self.images.size_of(&rec.image_id)))
        } else {
            (None, None)
        };
        let health = rec.state.health.as_ref().map(|h| m::ContainerSummaryHealth {
            status: h.status.and_then(|s| serde_json::to_value(s).ok()).and_then(|v| v.as_str().and_then(enum_from)),
            failing_streak: h.failing_streak,
        });
        m::ContainerSummary {
            id: Some(rec.id.clone()),
            names: Some(vec![rec.name.clone()]),
            image: Some(rec.image_ref.clone()),
            image_id: Some(rec.image_id.clone()),
            command: Some(command),
            created: Some(parse_rfc3339(&rec.created) as i64),
            ports: Some(self.port_summaries(&rec)),
            size_rw,
            size_root_fs: size_root,
            labels: Some(rec.config.labels.clone().unwrap_or_default()),
            state: enum_from(&rec.state.status),
            status: Some(status_text(&rec.state)),
            host_config: Some(m::ContainerSummaryHostConfig { network_mode: Some(network), annotations: None }),
            network_settings: Some(m::ContainerSummaryNetworkSettings { networks: Some(networks) }),
            mounts: Some(self.mount_points(&rec)),
            health,
            ..Default::default()
        }
    }

    fn list_containers(&self, opts: ContainerListOptions) -> Result<Vec<m::ContainerSummary>> {
        // One snapshot of each record (an `Arc`), newest first.
        let mut all: Vec<Arc<Record>> = self.all().iter().map(|c| c.record()).collect();
        all.sort_by(|ra, rb| rb.created.cmp(&ra.created).then(rb.id.cmp(&ra.id)));
        let f = &opts.filters;
        for key in f.keys() {
            if !["id", "name", "label", "status", "exited", "ancestor", "before", "since", "health", "is-task", "network", "volume", "publish", "expose"].contains(&key.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{key}'")));
            }
        }
        if let Some(st) = f.get("status") {
            for s in st {
                if !["created", "restarting", "running", "removing", "paused", "exited", "dead"].contains(&s.as_str()) {
                    return Err(Error::invalid(format!("invalid filter 'status={s}'")));
                }
            }
        }
        let created_of = |key: &str| -> Result<String> { Ok(self.get(key)?.record().created.clone()) };
        let before = f.get("before").and_then(|v| v.first()).map(|k| created_of(k)).transpose()?;
        let since = f.get("since").and_then(|v| v.first()).map(|k| created_of(k)).transpose()?;
        let image_ids: Option<Vec<String>> = f.get("ancestor").map(|v| v.iter().filter_map(|r| self.images.id_of(r)).collect());
        let all_flag = opts.all || opts.limit.is_some() || f.contains_key("status") || f.contains_key("exited");
        let mut out = Vec::new();
        let no_labels = HashMap::new();
        for rec in all {
            if !all_flag && !rec.state.running() {
                continue;
            }
            let any = |key: &str, pred: &dyn Fn(&str) -> bool| f.get(key).is_none_or(|v| v.is_empty() || v.iter().any(|x| pred(x)));
            let labels = rec.config.labels.as_ref().unwrap_or(&no_labels);
            let name = rec.name.trim_start_matches('/');
            let ok = f.is_empty()
                || (any("id", &|x| rec.id.starts_with(x))
                && any("name", &|x| name.contains(x.trim_start_matches('/')))
                && f.get("label").is_none_or(|v| v.iter().all(|x| label_matches(labels, x)))
                && any("status", &|x| x == rec.state.status)
                && any("exited", &|x| rec.state.status == "exited" && x.parse::<i64>().ok() == Some(rec.state.exit_code))
                && any("health", &|x| {
                    let h = rec.state.health.as_ref().and_then(|h| h.status).map(|s| containers::wire_name(&s)).unwrap_or_else(|| "none".into());
                    x == h
                })
                && any("network", &|x| rec.networks.keys().any(|k| k == x || self.net.st.resolve(k).is_ok_and(|n| n.name == x || n.id.starts_with(x))))
                && any("volume", &|x| Engine::uses_volume(&rec, x))
                && any("publish", &|x| port_filter(x, &published_keys(&rec)))
                && any("expose", &|x| port_filter(x, &rec.config.exposed_ports.clone().unwrap_or_default()))
                && image_ids.as_ref().is_none_or(|ids| ids.contains(&rec.image_id))
                && before.as_ref().is_none_or(|b| rec.created < *b)
                && since.as_ref().is_none_or(|s| rec.created > *s));
            if ok {
                out.push(self.summary(&rec, opts.size));
            }
            if opts.limit.is_some_and(|l| l > 0 && out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    fn inspect_container(&self, key: &str, size: bool) -> Result<m::ContainerInspectResponse> {
        let c = self.get(key)?;
        let rec = c.record();
        let cdir = containers::container_dir(&self.cfg.data_root, &rec.id);
        let st = &rec.state;
        let state = m::ContainerState {
            status: enum_from(&st.status),
            running: Some(st.running() || st.status == "restarting"),
            paused: Some(st.status == "paused"),
            restarting: Some(st.status == "restarting"),
            oom_killed: Some(st.oom_killed),
            dead: Some(st.status == "dead"),
            pid: Some(st.pid),
            exit_code: Some(st.exit_code),
            error: Some(st.error.clone()),
            started_at: Some(if st.started_at.is_empty() { "0001-01-01T00:00:00Z".into() } else { st.started_at.clone() }),
            finished_at: Some(if st.finished_at.is_empty() { "0001-01-01T00:00:00Z".into() } else { st.finished_at.clone() }),
            health: st.health.clone(),
        };
        let mut gd = HashMap::new();
        let lower = self.images.lower_dirs(&rec.image_id).unwrap_or_default();
        gd.insert("LowerDir".to_string(), lower.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"));
        gd.insert("UpperDir".to_string(), cdir.join("upper").display().to_string());
        gd.insert("WorkDir".to_string(), cdir.join("work").display().to_string());
        gd.insert("MergedDir".to_string(), cdir.join("rootfs").display().to_string());
        let (size_rw, size_root) = if size {
            let rw = dir_size(&cdir.join("upper"));
            (Some(rw), Some(rw + self.images.size_of(&rec.image_id)))
        } else {
            (None, None)
        };
        let mut hc = rec.host_config.clone();
        if hc.network_mode.as_deref().is_none_or(|n| n.is_empty()) {
            hc.network_mode = Some("bridge".into());
        }
        if hc.log_config.is_none() {
            hc.log_config = Some(m::HostConfigLogConfig { typ: Some("json-file".into()), config: Some(HashMap::new()) });
        }
        Ok(m::ContainerInspectResponse {
            id: Some(rec.id.clone()),
            created: chrono::DateTime::parse_from_rfc3339(&rec.created).ok().map(|d| d.with_timezone(&chrono::Utc)),
            path: Some(rec.path.clone()),
            args: Some(rec.args.clone()),
            state: Some(state),
            image: Some(rec.image_id.clone()),
            resolv_conf_path: Some(cdir.join("resolv.conf").display().to_string()),
            hostname_path: Some(cdir.join("hostname").display().to_string()),
            hosts_path: Some(cdir.join("hosts").display().to_string()),
            log_path: Some(self.log_path(&rec.id).display().to_string()),
            name: Some(rec.name.clone()),
            restart_count: Some(rec.restart_count),
            driver: Some("overlay2".into()),
            platform: Some("linux".into()),
            mount_label: Some(String::new()),
            process_label: Some(String::new()),
            app_armor_profile: Some(String::new()),
            exec_ids: if rec.exec_ids.is_empty() { None } else { Some(rec.exec_ids.clone()) },
            host_config: Some(hc),
            graph_driver: Some(m::DriverData { name: "overlay2".into(), data: gd }),
            size_rw,
            size_root_fs: size_root,
            mounts: Some(self.mount_points(&rec)),
            config: Some(rec.config.clone()),
            network_settings: Some(self.network_settings(&rec)),
            ..Default::default()
        })
    }

    async fn prune_containers(&self, filters: Filters) -> Result<m::ContainerPruneResponse> {
        let until = filters.get("until").and_then(|v| v.first()).map(|u| {
            u.parse::<f64>().ok().unwrap_or_else(|| parse_rfc3339(u))
        });
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        let no_labels = HashMap::new();
        for c in self.all() {
            let rec = c.record();
            if rec.state.running() || rec.state.status == "restarting" {
                continue;
            }
            let labels = rec.config.labels.as_ref().unwrap_or(&no_labels);
            if let Some(ls) = filters.get("label") {
                if !ls.iter().all(|l| label_matches(labels, l)) {
                    continue;
                }
            }
            if let Some(ls) = filters.get("label!") {
                if ls.iter().any(|l| label_matches(labels, l)) {
                    continue;
                }
            }
            if until.is_some_and(|u| parse_rfc3339(&rec.created) >= u) {
                continue;
            }
            let size = dir_size(&containers::container_dir(&self.cfg.data_root, &rec.id).join("upper"));
            if self.remove_container(&rec.id, false, false).await.is_ok() {
                deleted.push(rec.id.clone());
                reclaimed += size;
            }
        }
        self.events.emit(m::EventMessageTypeEnum::CONTAINER, "prune", "", HashMap::from([("reclaimed".to_string(), reclaimed.to_string())]));
        Ok(m::ContainerPruneResponse { containers_deleted: Some(deleted), space_reclaimed: Some(reclaimed) })
    }

    /// (image id, container id, running) of every container, taken before calling into the
    /// image store (whose lock must not be held while we look at containers).
    pub(crate) fn image_users(&self) -> Vec<(String, berth_image::ImageUser)> {
        self.all()
            .into_iter()
            .map(|c| {
                let r = c.record();
                (r.image_id.clone(), berth_image::ImageUser { container_id: r.id.clone(), running: r.state.running() })
            })
            .collect()
    }

    pub(crate) fn image_in_use(users: &[(String, berth_image::ImageUser)], image_id: &str) -> Option<berth_image::ImageUser> {
        let mut found = users.iter().filter(|(i, _)| i == image_id).map(|(_, u)| u.clone());
        let first = found.next()?;
        if first.running {
            return Some(first);
        }
        Some(found.find(|u| u.running).unwrap_or(first))
    }

    fn emit_image(&self, action: &str, id: &str, name: &str) {
        let mut a = HashMap::new();
        a.insert("name".to_string(), name.to_string());
        self.events.emit(m::EventMessageTypeEnum::IMAGE, action, id, a);
    }
}

#[async_trait]
impl SystemBackend for Arc<Engine> {
    async fn info(&self) -> Result<m::SystemInfo> {
        Engine::info(self)
    }
    async fn version(&self) -> Result<m::SystemVersion> {
        Ok(self.version_info())
    }
    async fn df(&self) -> Result<berth_api::SystemDataUsage> {
        let e = self.clone();
        let containers = tokio::task::spawn_blocking(move || e.list_containers(ContainerListOptions { all: true, size: true, ..Default::default() }))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        let users = self.image_users();
        let usage = self.images.df(&|id| users.iter().filter(|(i, _)| i == id).count() as i64)?;
        Ok(berth_api::SystemDataUsage {
            layers_size: usage.layers_size,
            images: usage.images,
            containers,
            volumes: self.volume_usage()?,
            build_cache: self.build_cache_usage()?,
        })
    }
    async fn events(&self, since: Option<f64>, until: Option<f64>, filters: Filters) -> Result<BoxStream<'static, m::EventMessage>> {
        Ok(self.events.subscribe(since, until, filters))
    }
}

#[async_trait]
impl ContainerBackend for Arc<Engine> {
    async fn create(&self, name: Option<String>, config: m::ContainerCreateBody) -> Result<m::ContainerCreateResponse> {
        self.create_container(name, config).await
    }
    async fn list(&self, opts: ContainerListOptions) -> Result<Vec<m::ContainerSummary>> {
        let e = self.clone();
        tokio::task::spawn_blocking(move || e.list_containers(opts)).await.map_err(|e| Error::internal(e.to_string()))?
    }
    async fn inspect(&self, id: &str, size: bool) -> Result<m::ContainerInspectResponse> {
        self.inspect_container(id, size)
    }
    async fn start(&self, id: &str) -> Result<()> {
        self.start_container(id).await
    }
    async fn stop(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()> {
        self.stop_container(id, signal, timeout).await
    }
    async fn restart(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()> {
        self.restart_container(id, signal, timeout).await
    }
    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()> {
        self.kill_container(id, signal).await
    }
    async fn pause(&self, id: &str) -> Result<()> {
        self.pause_container(id, true).await
    }
    async fn unpause(&self, id: &str) -> Result<()> {
        self.pause_container(id, false).await
    }
    async fn wait(&self, id: &str, condition: WaitCondition) -> Result<WaitFuture> {
        self.wait_container(id, condition).await
    }
    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        self.remove_container(id, force, volumes).await
    }
    async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        self.rename_container(id, new_name).await
    }
    async fn top(&self, id: &str, ps_args: Option<String>) -> Result<m::ContainerTopResponse> {
        let c = self.get(id)?;
        let rec = c.record();
        if !rec.state.running() {
            return Err(Error::conflict(format!("Container {} is not running", rec.id)));
        }
        let pids = crate::top::pids_in_namespace(rec.state.pid);
        crate::top::top(pids, ps_args).await
    }
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream> {
        let c = self.get(id)?;
        let rec = c.record();
        if rec.host_config.log_config.as_ref().and_then(|l| l.typ.as_deref()) == Some("none") {
            return Err(Error::not_implemented("configured logging driver does not support reading"));
        }
        self.container_logs_of(&c, opts).await
    }
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<Session> {
        self.attach_container(id, opts).await
    }
    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        self.resize_container(id, height, width).await
    }
    async fn prune(&self, filters: Filters) -> Result<m::ContainerPruneResponse> {
        self.prune_containers(filters).await
    }
}

#[async_trait]
impl ExecBackend for Arc<Engine> {
    async fn exec_create(&self, container: &str, config: m::ExecConfig) -> Result<String> {
        self.create_exec(container, config).await
    }
    async fn exec_start(&self, id: &str, detach: bool, tty: Option<bool>) -> Result<Option<Session>> {
        self.start_exec(id, detach, tty).await
    }
    async fn exec_inspect(&self, id: &str) -> Result<m::ExecInspectResponse> {
        self.inspect_exec(id).await
    }
    async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        self.resize_exec(id, height, width).await
    }
}

#[async_trait]
impl ImageBackend for Arc<Engine> {
    async fn image_list(&self, all: bool, filters: Filters, digests: bool) -> Result<Vec<m::ImageSummary>> {
        self.images.list(all, filters, digests)
    }
    async fn image_inspect(&self, name: &str) -> Result<m::ImageInspect> {
        self.images.inspect(name)
    }
    async fn image_parent(&self, name: &str) -> Result<String> {
        self.images.parent(name)
    }
    async fn image_history(&self, name: &str) -> Result<Vec<m::ImageHistoryResponseItem>> {
        self.images.history(name)
    }
    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        self.images.tag(name, repo, tag)?;
        let id = self.images.id_of(name).unwrap_or_default();
        let target = match tag {
            Some(t) if !t.is_empty() => format!("{repo}:{t}"),
            _ => repo.to_string(),
        };
        self.emit_image("tag", &id, &target);
        Ok(())
    }
    async fn image_remove(&self, name: &str, force: bool, noprune: bool) -> Result<Vec<m::ImageDeleteResponseItem>> {
        let users = self.image_users();
        let items = self.images.remove(name, force, noprune, &|id| Engine::image_in_use(&users, id))?;
        for it in &items {
            if let Some(t) = &it.untagged {
                self.emit_image("untag", t, t);
            }
            if let Some(d) = &it.deleted {
                self.emit_image("delete", d, d);
            }
        }
        Ok(items)
    }
    async fn image_import(&self, req: ImportRequest) -> Result<String> {
        let name = match (&req.repo, &req.tag) {
            (Some(r), Some(t)) if !t.is_empty() => format!("{r}:{t}"),
            (Some(r), _) => r.clone(),
            _ => String::new(),
        };
        let id = self.images.import(req).await?;
        self.emit_image("import", &id, &name);
        Ok(id)
    }
    async fn image_prune(&self, filters: Filters) -> Result<m::ImagePruneResponse> {
        let users = self.image_users();
        self.images.prune(filters, &|id| Engine::image_in_use(&users, id))
    }
    async fn image_pull(&self, req: PullRequest, progress: ProgressSender) -> Result<()> {
        let res = self.pull_image(req, progress).await?;
        // As dockerd: the actor is the reference pulled.
        let name = res.reference.familiar_string();
        self.emit_image("pull", &name, &name);
        Ok(())
    }
    async fn image_push(&self, req: PushRequest, progress: ProgressSender) -> Result<()> {
        let res = self.push_image(req, progress).await?;
        for t in &res.tags {
            let name = format!("{}:{}", res.repository.familiar_name(), t.tag);
            self.emit_image("push", &name, &name);
        }
        Ok(())
    }
    async fn image_save(&self, names: Vec<String>) -> Result<ByteStream> {
        let (ids, stream) = self.save_images(names).await?;
        for id in ids {
            self.emit_image("save", &id, &id);
        }
        Ok(stream)
    }
    async fn image_load(&self, body: ByteStream, _quiet: bool) -> Result<Vec<String>> {
        let loaded = self.load_images(body).await?;
        for l in &loaded {
            let id = match l {
                berth_image::archive::Loaded::Tag(t) => self.images.id_of(t),
                berth_image::archive::Loaded::Id(id) => Some(id.clone()),
                berth_image::archive::Loaded::Renamed { .. } => None,
            };
            if let Some(id) = id {
                self.emit_image("load", &id, &id);
            }
        }
        Ok(loaded.iter().map(|l| l.to_string()).collect())
    }
    async fn commit(&self, req: CommitRequest) -> Result<String> {
        self.commit_container(req).await
    }
    async fn container_export(&self, id: &str) -> Result<ByteStream> {
        let c = self.get(id)?;
        let rec = c.record();
        if rec.state.status == "dead" {
            return Err(Error::conflict(format!("You cannot export container {} which is Dead", rec.id)));
        }
        if rec.state.status == "removing" {
            return Err(Error::conflict(format!("You cannot export container {} which is being removed", rec.id)));
        }
        let mut layers = vec![containers::container_dir(&self.cfg.data_root, &rec.id).join("upper")];
        layers.extend(self.images.lower_dirs(&rec.image_id)?);
        let e = self.clone();
        crate::transfer::writer_stream(move |w| {
            crate::export::write_merged_tar(&layers, w)
                .map_err(|err| Error::internal(format!("Error exporting container {}: {err}", rec.id)))?;
            e.emit_container("export", &rec, &[]);
            Ok(())
        })
        .await
    }
    async fn container_changes(&self, id: &str) -> Result<Vec<m::FilesystemChange>> {
        let rec = self.get(id)?.record();
        let upper = containers::container_dir(&self.cfg.data_root, &rec.id).join("upper");
        let lowers = self.images.lower_dirs(&rec.image_id)?;
        let changes = tokio::task::spawn_blocking(move || crate::export::changes(&upper, &lowers))
            .await
            .map_err(|e| Error::internal(format!("changes: {e}")))?
            .map_err(|e| Error::internal(format!("changes of {}: {e}", rec.id)))?;
        Ok(changes
            .into_iter()
            .map(|(path, c)| m::FilesystemChange {
                path,
                kind: match c {
                    crate::export::Change::Modified => m::ChangeType::_0,
                    crate::export::Change::Added => m::ChangeType::_1,
                    crate::export::Change::Deleted => m::ChangeType::_2,
                },
            })
            .collect())
    }
    async fn registry_login(&self, req: LoginRequest) -> Result<Option<String>> {
        Engine::registry_login(self, req).await
    }
}

#[async_trait]
impl crate::service::NetworkBackend for Arc<Engine> {
    async fn network_list(&self, filters: Filters) -> Result<Vec<m::NetworkInspect>> {
        self.list_networks(filters)
    }
    async fn network_inspect(&self, id: &str, verbose: bool) -> Result<m::NetworkInspect> {
        self.inspect_network(id, verbose)
    }
    async fn network_create(&self, req: m::NetworkCreateRequest) -> Result<m::NetworkCreateResponse> {
        self.create_network(req).await
    }
    async fn network_remove(&self, id: &str) -> Result<()> {
        self.remove_network(id).await
    }
    async fn network_connect(&self, id: &str, req: m::NetworkConnectRequest) -> Result<()> {
        self.connect_network(id, req).await
    }
    async fn network_disconnect(&self, id: &str, req: m::NetworkDisconnectRequest) -> Result<()> {
        self.disconnect_network(id, req).await
    }
    async fn network_prune(&self, filters: Filters) -> Result<m::NetworkPruneResponse> {
        self.prune_networks(filters).await
    }
}

#[cfg(test)]
mod tests {
    use super::port_filter;

    #[test]
    fn port_filters_match_ports_ranges_and_protocols() {
        let keys = vec!["80/tcp".to_string(), "53/udp".to_string()];
        for (f, want) in [("80", true), ("80/tcp", true), ("80/udp", false), ("53/udp", true), ("53", false), ("70-90", true), ("81-90", false), ("x", false)] {
            assert_eq!(port_filter(f, &keys), want, "{f}");
        }
    }
}
