//! Running a build: stages as tasks (independent ones at once), each step a cache probe and,
//! on a miss, a new image (config only, a staged COPY layer, or a RUN container's changes).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_api::models as m;
use berth_api::JsonMessage;
use berth_dockerfile::{Command, Dockerfile, Instruction, Kind};
use berth_errdefs::{Error, Result};
use tokio::sync::watch;

use super::cache::{Cache, Key};
use super::context::Context;
use super::copy;
use super::plan::{self, Source};
use super::report::Reporter;
use crate::service::BuildRequest;
use crate::Engine;

/// Linux's default PATH, which dockerd adds to every stage without one.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A failure, with the exit code of a failed RUN (errorDetail's `code`).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub err: Error,
    pub code: Option<i64>,
    /// A stage stopped because another failed (that one reports its own error).
    pub dependent: bool,
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure { err, code: None, dependent: false }
    }
}

impl Failure {
    /// A stage stopped by another's failure.
    pub(crate) fn dependent() -> Failure {
        Failure { err: Error::internal("another stage failed"), code: None, dependent: true }
    }
}

pub(crate) type StepResult<T> = std::result::Result<T, Failure>;

/// What a finished stage hands to the stages that use it.
#[derive(Debug, Clone)]
pub(crate) struct StageOut {
    /// Its image (`""` for an empty scratch stage).
    pub image: String,
    /// Its run config.
    pub config: m::ContainerConfig,
}

type Slot = watch::Sender<Option<std::result::Result<StageOut, Failure>>>;

/// One build in progress.
pub(crate) struct Build {
    pub engine: Arc<Engine>,
    pub req: BuildRequest,
    pub ctx: Context,
    pub df: Dockerfile,
    pub out: Reporter,
    pub cache: Cache,
    /// Meta ARG values (build args applied).
    pub meta: BTreeMap<String, Option<String>>,
    /// One result slot per stage.
    slots: Vec<Slot>,
    /// Set when a stage failed: the others stop at their next step.
    pub failed: AtomicBool,
    /// Cache records hit, to mark used at the end.
    pub hits: Mutex<Vec<String>>,
    /// Intermediate containers kept (failed steps without `forcerm`).
    pub tmp_root: PathBuf,
}

/// The state of a stage between steps.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub index: usize,
    /// The current image (`""`: scratch, nothing yet).
    pub image: String,
    pub config: m::ContainerConfig,
    /// ARGs in scope: name -> value (None: declared without a value).
    pub args: BTreeMap<String, Option<String>>,
    /// Whether CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    pub maintainer: String,
}

/// Go's `%q` of a string slice, as dockerd writes commands into history: `["a" "b"]`.
pub(crate) fn go_q(v: &[String]) -> String {
    let q: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", q.join(" "))
}

pub(crate) fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|e| e.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

fn env_set(env: &mut Vec<String>, key: &str, value: &str) {
    let kv = format!("{key}={value}");
    match env.iter_mut().find(|e| e.split_once('=').map(|(k, _)| k) == Some(key) || e.as_str() == key) {
        Some(e) => *e = kv,
        None => env.push(kv),
    }
}

/// The shell of a config (SHELL, default `/bin/sh -c`).
pub(crate) fn shell_of(c: &m::ContainerConfig) -> Vec<String> {
    match &c.shell {
        Some(s) if !s.is_empty() => s.clone(),
        _ => vec!["/bin/sh".into(), "-c".into()],
    }
}

/// A run config from an image's.
pub(crate) fn to_container_config(rc: Option<&berth_image::RunConfig>) -> m::ContainerConfig {
    rc.and_then(|c| serde_json::to_value(c).ok()).and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

/// The ARGs of `state` that RUN sees (declared with a value, not shadowed by ENV), sorted.
pub(crate) fn run_args(st: &State) -> Vec<(String, String)> {
    let env = st.config.env.clone().unwrap_or_default();
    st.args
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
        .filter(|(k, _)| env_get(&env, k).is_none())
        .collect()
}

/// Parse an EXPOSE word into `port/proto`.
pub(crate) fn port_spec(p: &str) -> Result<String> {
    let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::invalid(format!("invalid proto: {proto}")));
    }
    let ok = |s: &str| !s.is_empty() && s.parse::<u16>().is_ok();
    let valid = match port.split_once('-') {
        Some((a, b)) => ok(a) && ok(b),
        None => ok(port),
    };
    if !valid {
        return Err(Error::invalid(format!("invalid containerPort: {port}")));
    }
    Ok(format!("{port}/{proto}"))
}

fn dur_ns(d: Option<std::time::Duration>) -> Option<i64> {
    d.map(|d| d.as_nanos() as i64)
}

impl Build {
    pub(crate) fn new(engine: Arc<Engine>, req: BuildRequest, ctx: Context, df: Dockerfile, out: Reporter) -> Build {
        let slots = (0..df.stages.len()).map(|_| watch::channel(None).0).collect();
        let cache = Cache { db: engine.store.clone() };
        let tmp_root = engine.cfg.data_root.join("tmp");
        Build {
            engine,
            req,
            ctx,
            df,
            out,
            cache,
            meta: BTreeMap::new(),
            slots,
            failed: AtomicBool::new(false),
            hits: Mutex::new(Vec::new()),
            tmp_root,
        }
    }

    /// Expand a word with `lookup` values.
    fn expand_with(&self, word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
        berth_dockerfile::shell::expand(word, self.df.escape, lookup).map_err(|e| Error::invalid(e.message))
    }

    /// Expand with the meta ARGs only (FROM lines, `--from` values).
    pub(crate) fn expand_meta(&self, word: &str) -> Result<String> {
        self.expand_with(word, &|k| self.meta.get(k).cloned().flatten())
    }

    /// Expand with a stage's ENV, then its ARGs.
    fn expand(&self, st: &State, word: &str) -> Result<String> {
        let env = st.config.env.clone().unwrap_or_default();
        self.expand_with(word, &|k| env_get(&env, k).map(str::to_owned).or_else(|| st.args.get(k).cloned().flatten()))
    }

    fn expand_words(&self, st: &State, words: &str) -> Result<Vec<String>> {
        let env = st.config.env.clone().unwrap_or_default();
        berth_dockerfile::shell::expand_words(words, self.df.escape, &|k| {
            env_get(&env, k).map(str::to_owned).or_else(|| st.args.get(k).cloned().flatten())
        })
        .map_err(|e| Error::invalid(e.message))
    }

    /// Apply the meta ARGs: defaults expanded in order, build args win.
    pub(crate) fn set_meta_args(&mut self) -> Result<()> {
        for a in self.df.meta_args.clone() {
            let v = match self.req.build_args.get(&a.name) {
                Some(Some(v)) => Some(v.clone()),
                _ => match &a.default {
                    Some(d) => Some(self.expand_meta(d)?),
                    None => None,
                },
            };
            self.meta.insert(a.name.clone(), v);
        }
        Ok(())
    }

    /// Publish a stage's result.
    pub(crate) fn finish_stage(&self, i: usize, r: std::result::Result<StageOut, Failure>) {
        if r.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        // send_replace: stored even when nobody subscribed yet (a later stage may ask).
        self.slots[i].send_replace(Some(r));
    }

    /// Wait for stage `i` to finish.
    pub(crate) async fn stage_result(&self, i: usize) -> StepResult<StageOut> {
        let mut rx = self.slots[i].subscribe();
        let v = rx.wait_for(|v| v.is_some()).await.map_err(|_| Error::internal("stage result lost"))?;
        match v.as_ref() {
            Some(Ok(o)) => Ok(o.clone()),
            // The stage's own failure is reported by that stage.
            _ => Err(Failure::dependent()),
        }
    }

    /// Resolve an image for FROM or `--from`: present locally, or pulled (always with `pull`).
    /// Returns its id and run config. A tag is looked up with two record reads (the cached
    /// rebuild's hot path); ids, prefixes and the rest through the store's full resolution.
    pub(crate) async fn image(&self, name: &str, pull: bool) -> StepResult<(String, m::ContainerConfig)> {
        let store = self.engine.images.store().clone();
        let found = |store: &berth_image::ImageStore, name: &str| -> Option<(String, m::ContainerConfig)> {
            if let Ok(r) = berth_reference::Reference::parse_normalized(name) {
                if let Some(id) = store.reference_target(&r) {
                    if let Some(raw) = store.raw_config_of(&id) {
                        if let Ok(cfg) = serde_json::from_str::<berth_image::ImageConfig>(&raw) {
                            return Some((id, to_container_config(cfg.config.as_ref())));
                        }
                    }
                }
            }
            let img = store.get(name).ok()?;
            Some((img.id.clone(), to_container_config(img.config.config.as_ref())))
        };
        if !pull {
            if let Some(v) = found(&store, name) {
                return Ok(v);
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<JsonMessage>(64);
        let out = self.out.current();
        let fwd = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                out.send(m).await;
            }
        });
        let req = crate::service::PullRequest {
            image: name.to_string(),
            tag: None,
            platform: self.req.platform.clone(),
            registry_auth: berth_reference::Reference::parse_normalized(name)
                .ok()
                .and_then(|r| super::auth::auth_for(self.req.registry_config.as_deref(), r.domain())),
        };
        let res = self.engine.pull_image(req, tx).await;
        let _ = fwd.await;
        match res {
            Ok(r) => found(&store, &r.reference.to_string()).ok_or_else(|| Error::not_found(format!("No such image: {name}")).into()),
            Err(e) if !pull => Err(Error::not_found(format!(
                "pull access denied for {name}, repository does not exist or may require 'docker login': {}",
                e.message()
            ))
            .into()),
            Err(e) => found(&store, name).ok_or_else(|| e.into()),
        }
    }

    /// The initial state of stage `i` (its FROM), and the id to print.
    pub(crate) async fn begin_stage(&self, i: usize) -> StepResult<State> {
        let stage = &self.df.stages[i];
        let base = self.expand_meta(&stage.base)?;
        if base.is_empty() {
            return Err(Error::invalid(format!("base name ({}) should not be blank", stage.base)).into());
        }
        let (image, mut config) = match plan::resolve_base(&self.df, i, &base) {
            Source::Stage(j) => {
                let o = self.stage_result(j).await?;
                (o.image, o.config)
            }
            Source::Image(name) if name.eq_ignore_ascii_case("scratch") => (String::new(), m::ContainerConfig::default()),
            Source::Image(name) => self.image(&name, self.req.pull).await?,
        };
        let env = config.env.get_or_insert_with(Vec::new);
        if env_get(env, "PATH").is_none() {
            env.push(DEFAULT_PATH.to_string());
        }
        config.open_stdin = Some(false);
        config.stdin_once = Some(false);
        Ok(State { index: i, image, config, args: BTreeMap::new(), cmd_set: false, maintainer: String::new() })
    }

    /// Probe the cache; on a hit the state moves to the cached image.
    pub(crate) fn probe(&self, st: &mut State, key: &str) -> bool {
        if self.req.no_cache {
            return false;
        }
        let Some(rec) = self.cache.get(key) else { return false };
        if !self.engine.images.store().contains(&rec.image) {
            return false;
        }
        st.image = rec.image;
        self.hits.lock().unwrap_or_else(|p| p.into_inner()).push(key.to_string());
        true
    }

    /// Make the image of a step: the state's config on top of its image, with the layer
    /// staged in `layer_dir` (if any), recorded with `created_by` (the history's command).
    pub(crate) async fn commit(
        &self,
        st: &State,
        container_cmd: Vec<String>,
        container_id: &str,
        layer_dir: Option<(PathBuf, bool)>,
    ) -> Result<String> {
        let store = self.engine.images.store().clone();
        let parent = st.image.clone();
        let mut config = st.config.clone();
        config.image = Some(parent.clone()).filter(|p| !p.is_empty());
        let mut container_config = config.clone();
        container_config.cmd = Some(container_cmd);
        let author = st.maintainer.clone();
        let cid = container_id.to_string();
        let new_id = tokio::task::spawn_blocking(move || -> Result<String> {
            let kinded = |e: berth_image::Error| Error::from_kind(&e);
            let (raw, chain) = if parent.is_empty() {
                ("{}".to_string(), None)
            } else {
                let img = store.get(&parent).map_err(kinded)?;
                let chain = img.layers.last().map(|l| l.chain_id.clone());
                (img.raw_config, chain)
            };
            let diff_id = match layer_dir {
                Some((dir, is_upper)) => {
                    let changed = !is_upper || {
                        let lowers = if parent.is_empty() { Vec::new() } else { store.lower_dirs(&parent).map_err(kinded)? };
                        !crate::export::changes(&dir, &lowers).map_err(|e| Error::internal(format!("read changes: {e}")))?.is_empty()
                    };
                    if changed {
                        let skip: &[&str] = if is_upper { &crate::export::INIT_PATHS } else { &[] };
                        let (layer, _) = store.create_layer_from_dir_skipping(chain.as_deref(), &dir, skip).map_err(kinded)?;
                        Some(layer.diff_id)
                    } else {
                        None
                    }
                }
                None => None,
            };
            let created = berth_image::go_time(chrono::Utc::now());
            let raw = crate::commit::image_config(
                raw.as_bytes(),
                &crate::commit::Commit {
                    container_id: &cid,
                    container_config: &container_config,
                    config: &config,
                    author: &author,
                    comment: "",
                    diff_id: diff_id.as_deref(),
                    created: &created,
                },
            )?;
            Ok(store.create_image(&raw, &[], &[]).map_err(kinded)?.id)
        })
        .await
        .map_err(|e| Error::internal(format!("commit a build step: {e}")))??;
        if !st.image.is_empty() {
            self.engine.images.set_parent(&new_id, &st.image)?;
        }
        Ok(new_id)
    }

    /// A config-only step: probe, else commit with the `#(nop)` command Docker records.
    async fn config_step(&self, st: &mut State, key: Key, comment: String) -> StepResult<()> {
        let k = key.digest();
        if self.probe(st, &k) {
            self.out.line(" ---> Using cache\n").await;
            return Ok(());
        }
        let mut cmd = shell_of(&st.config);
        cmd.push("#(nop) ".into());
        cmd.push(comment.clone());
        let id = self.commit(st, cmd, "", None).await?;
        self.cache.put(&k, &id, &comment)?;
        st.image = id;
        Ok(())
    }

    pub(crate) fn key(&self, st: &State, ins: &Instruction, args: Vec<String>) -> Key {
        Key {
            parent: if st.image.is_empty() { "scratch".into() } else { st.image.clone() },
            keyword: ins.kind.keyword().into(),
            args,
            extra: BTreeMap::new(),
        }
    }

    /// Run one instruction.
    pub(crate) async fn step(&self, st: &mut State, ins: &Instruction) -> StepResult<()> {
        match &ins.kind {
            Kind::Env(pairs) => {
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    let k = self.expand(st, k)?;
                    if k.is_empty() {
                        return Err(Error::invalid("ENV names can not be blank").into());
                    }
                    expanded.push((k, self.expand(st, v)?));
                }
                let env = st.config.env.get_or_insert_with(Vec::new);
                for (k, v) in &expanded {
                    env_set(env, k, v);
                }
                let text: Vec<String> = expanded.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let key = self.key(st, ins, text.clone());
                self.config_step(st, key, format!("ENV {}", text.join(" "))).await
            }
            Kind::Arg(decls) => {
                let mut text = Vec::new();
                for a in decls {
                    let v = match self.req.build_args.get(&a.name) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => match &a.default {
                            Some(d) => Some(self.expand(st, d)?),
                            None => self.meta.get(&a.name).cloned().flatten(),
                        },
                    };
                    // The step is keyed and recorded by its declaration, as dockerd does: the
                    // value reaches the image only through the RUN steps that use it, whose
                    // keys carry the build args in scope.
                    text.push(match &a.default {
                        Some(d) => format!("{}={d}", a.name),
                        None => a.name.clone(),
                    });
                    st.args.insert(a.name.clone(), v);
                }
                let key = self.key(st, ins, text.clone());
                self.config_step(st, key, format!("ARG {}", text.join(" "))).await
            }
            Kind::Label(pairs) => {
                let mut text = Vec::new();
                for (k, v) in pairs {
                    let (k, v) = (self.expand(st, k)?, self.expand(st, v)?);
                    text.push(format!("{k}={v}"));
                    st.config.labels.get_or_insert_with(HashMap::new).insert(k, v);
                }
                let key = self.key(st, ins, text.clone());
                self.config_step(st, key, format!("LABEL {}", text.join(" "))).await
            }
            Kind::Maintainer(who) => {
                st.maintainer = who.clone();
                let key = self.key(st, ins, vec![who.clone()]);
                self.config_step(st, key, format!("MAINTAINER {who}")).await
            }
            Kind::Expose(words) => {
                let mut ports = Vec::new();
                for w in words {
                    for p in self.expand_words(st, w)? {
                        ports.push(port_spec(&p)?);
                    }
                }
                let ex = st.config.exposed_ports.get_or_insert_with(Vec::new);
                for p in &ports {
                    if !ex.contains(p) {
                        ex.push(p.clone());
                    }
                }
                let key = self.key(st, ins, ports.clone());
                self.config_step(st, key, format!("EXPOSE {}", ports.join(" "))).await
            }
            Kind::Volume(paths) => {
                let mut vols = Vec::new();
                for p in paths {
                    let v = self.expand(st, p)?;
                    if v.trim().is_empty() {
                        return Err(Error::invalid("VOLUME specified can not be an empty string").into());
                    }
                    vols.push(v);
                }
                let vs = st.config.volumes.get_or_insert_with(Vec::new);
                for v in &vols {
                    if !vs.contains(v) {
                        vs.push(v.clone());
                    }
                }
                let key = self.key(st, ins, vols.clone());
                self.config_step(st, key, format!("VOLUME {}", go_q(&vols))).await
            }
            Kind::User(u) => {
                let u = self.expand(st, u)?;
                st.config.user = Some(u.clone());
                let key = self.key(st, ins, vec![u.clone()]);
                self.config_step(st, key, format!("USER {u}")).await
            }
            Kind::StopSignal(s) => {
                let s = self.expand(st, s)?;
                st.config.stop_signal = Some(s.clone());
                let key = self.key(st, ins, vec![s.clone()]);
                self.config_step(st, key, format!("STOPSIGNAL {s}")).await
            }
            Kind::Shell(sh) => {
                if sh.is_empty() {
                    return Err(Error::invalid("SHELL requires at least one argument").into());
                }
                st.config.shell = Some(sh.clone());
                let key = self.key(st, ins, sh.clone());
                self.config_step(st, key, format!("SHELL {}", go_q(sh))).await
            }
            Kind::Onbuild(t) => {
                st.config.on_build.get_or_insert_with(Vec::new).push(t.clone());
                let key = self.key(st, ins, vec![t.clone()]);
                self.config_step(st, key, format!("ONBUILD {t}")).await
            }
            Kind::Cmd(c) => {
                let cmd = match c {
                    Command::Exec(v) => v.clone(),
                    Command::Shell(s) => {
                        let mut v = shell_of(&st.config);
                        v.push(s.clone());
                        v
                    }
                };
                st.config.cmd = Some(cmd.clone());
                st.cmd_set = true;
                let key = self.key(st, ins, cmd.clone());
                self.config_step(st, key, format!("CMD {}", go_q(&cmd))).await
            }
            Kind::Entrypoint(c) => {
                let ep = match c {
                    Command::Exec(v) => v.clone(),
                    Command::Shell(s) => {
                        let mut v = shell_of(&st.config);
                        v.push(s.clone());
                        v
                    }
                };
                st.config.entrypoint = Some(ep.clone());
                if !st.cmd_set {
                    st.config.cmd = None;
                }
                let mut args = ep.clone();
                args.push(format!("cmd_set={}", st.cmd_set));
                let key = self.key(st, ins, args);
                self.config_step(st, key, format!("ENTRYPOINT {}", go_q(&ep))).await
            }
            Kind::Healthcheck(h) => {
                let hc = match h {
                    berth_dockerfile::Healthcheck::None => m::HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() },
                    berth_dockerfile::Healthcheck::Check { test, interval, timeout, start_period, start_interval, retries } => {
                        m::HealthConfig {
                            test: Some(test.clone()),
                            interval: dur_ns(*interval),
                            timeout: dur_ns(*timeout),
                            start_period: dur_ns(*start_period),
                            start_interval: dur_ns(*start_interval),
                            retries: *retries,
                        }
                    }
                };
                let text = serde_json::to_string(&hc).unwrap_or_default();
                st.config.healthcheck = Some(hc);
                let key = self.key(st, ins, vec![text.clone()]);
                self.config_step(st, key, format!("HEALTHCHECK {text}")).await
            }
            Kind::Workdir(w) => self.workdir(st, ins, w).await,
            Kind::Copy(c) => self.copy(st, ins, c, false).await,
            Kind::Add(c) => self.copy(st, ins, c, true).await,
            Kind::Run(r) => self.run(st, ins, r).await,
        }
    }

    /// WORKDIR: the config, and the directory made in the image when it lacks it.
    async fn workdir(&self, st: &mut State, ins: &Instruction, w: &str) -> StepResult<()> {
        let w = self.expand(st, w)?;
        let cur = st.config.working_dir.clone().unwrap_or_default();
        let abs = copy::dest_path(if cur.is_empty() { "/" } else { &cur }, &w);
        let abs = abs.trim_end_matches('/').to_string();
        let abs = if abs.is_empty() { "/".to_string() } else { abs };
        st.config.working_dir = Some(abs.clone());
        let key = self.key(st, ins, vec![abs.clone()]);
        let k = key.digest();
        if self.probe(st, &k) {
            self.out.line(" ---> Using cache\n").await;
            return Ok(());
        }
        let lowers = self.lowers(&st.image)?;
        let layers = copy::Layers(lowers);
        use copy::ImageFs;
        let exists = abs == "/" || layers.stat(&abs).is_some_and(|m| m.is_dir());
        let comment = format!("WORKDIR {abs}");
        let mut cmd = shell_of(&st.config);
        cmd.push("#(nop) ".into());
        cmd.push(comment.clone());
        let id = if exists {
            self.commit(st, cmd, "", None).await?
        } else {
            let dir = super::context::temp_dir(&self.tmp_root, "workdir")?;
            let _cleanup = RemoveOnDrop(dir.clone());
            let made = copy::stage_mkdir(&dir, &abs, &layers);
            made.map_err(|e| Error::internal(format!("WORKDIR {abs}: {e}")))?;
            self.commit(st, cmd, "", Some((dir.clone(), false))).await?
        };
        self.cache.put(&k, &id, &comment)?;
        st.image = id;
        Ok(())
    }

    /// Lower directories of an image, top first (none for scratch).
    pub(crate) fn lowers(&self, image: &str) -> Result<Vec<PathBuf>> {
        if image.is_empty() {
            return Ok(Vec::new());
        }
        self.engine.images.lower_dirs(image)
    }

    /// COPY / ADD.
    async fn copy(&self, st: &mut State, ins: &Instruction, c: &berth_dockerfile::Copy, add: bool) -> StepResult<()> {
        let cmd_name = if add { "ADD" } else { "COPY" };
        let mut sources = Vec::new();
        for s in &c.sources {
            sources.push(self.expand(st, s)?);
        }
        let dest_raw = self.expand(st, &c.dest)?;
        let wd = st.config.working_dir.clone().unwrap_or_default();
        let dest = copy::dest_path(if wd.is_empty() { "/" } else { &wd }, &dest_raw);
        if add && sources.iter().any(|s| s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")) {
            return Err(Error::not_implemented(format!("{cmd_name} failed: remote URLs are not supported by berthd's builder")).into());
        }
        // Where the sources come from: the context, heredocs, or a stage / image.
        let heredoc_dir = if c.heredocs.is_empty() {
            None
        } else {
            let d = super::context::temp_dir(&self.tmp_root, "heredoc")?;
            Some(RemoveOnDrop(d))
        };
        let mut from_id = String::new();
        if let Some(f) = &c.from {
            let f = self.expand_meta(f)?;
            from_id = match plan::resolve_from(&self.df, st.index, &f)? {
                Source::Stage(j) => self.stage_result(j).await?.image,
                Source::Image(name) => self.image(&name, false).await?.0,
            };
        }
        let mut srcs = Vec::new();
        let mut plain = Vec::new();
        for s in &sources {
            match (c.heredocs.iter().find(|h| &h.name == s), &heredoc_dir) {
                (Some(h), Some(d)) => {
                    let content = if h.expand { self.expand_heredoc(st, &h.content)? } else { h.content.clone() };
                    srcs.push(copy::heredoc_file(&d.0, &h.name, &content)?);
                }
                _ => plain.push(s.clone()),
            }
        }
        // Content from an image is immutable: its id and the paths say it all, so a cache hit
        // needs no look at its files. Context files are hashed.
        let mut view: Option<super::run::ImageView> = None;
        let digest = if from_id.is_empty() && c.from.is_none() {
            let root = self.ctx.root().to_path_buf();
            let cmd2 = cmd_name.to_string();
            let mut heredocs = std::mem::take(&mut srcs);
            let plain = plain.clone();
            let (all, digest) = tokio::task::spawn_blocking(move || -> Result<(Vec<copy::Source>, String)> {
                heredocs.extend(copy::resolve_sources(&root, &plain, &cmd2)?);
                let d = copy::hash_sources(&heredocs).map_err(|e| Error::internal(format!("{cmd2} failed: {e}")))?;
                Ok((heredocs, d))
            })
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
            srcs = all;
            digest
        } else {
            format!("{}:{}", if from_id.is_empty() { "scratch" } else { &from_id }, plain.join(","))
        };
        let mut key = self.key(st, ins, vec![dest.clone()]);
        key.extra.insert("sources".into(), digest.clone());
        key.extra.insert("chown".into(), c.chown.clone().unwrap_or_default());
        key.extra.insert("chmod".into(), c.chmod.clone().unwrap_or_default());
        let k = key.digest();
        if self.probe(st, &k) {
            self.out.line(" ---> Using cache\n").await;
            return Ok(());
        }
        if c.from.is_some() {
            let v = super::run::ImageView::open(&self.tmp_root, &self.lowers(&from_id)?)?;
            let root = v.root().to_path_buf();
            view = Some(v);
            let cmd2 = cmd_name.to_string();
            let found = tokio::task::spawn_blocking(move || copy::resolve_sources(&root, &plain, &cmd2))
                .await
                .map_err(|e| Error::internal(e.to_string()))??;
            srcs.extend(found);
        }
        let lowers = self.lowers(&st.image)?;
        let owner = match &c.chown {
            Some(ch) => Some(self.chown_ids(&lowers, &self.expand(st, ch)?)?),
            None if c.from.is_some() => None,
            None => Some((0, 0)),
        };
        let chmod = match &c.chmod {
            Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| Error::invalid(format!("invalid chmod parameter: {m}")))?),
            None => None,
        };
        let opts = copy::CopyOptions { owner, chmod, extract_archives: add };
        let stage = super::context::temp_dir(&self.tmp_root, "copy")?;
        let _cleanup = RemoveOnDrop(stage.clone());
        let stage2 = stage.clone();
        let dest2 = dest.clone();
        let cmd2 = cmd_name.to_string();
        tokio::task::spawn_blocking(move || copy::stage_copy(&srcs, &dest2, &stage2, &copy::Layers(lowers), &opts, &cmd2))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        drop(view);
        let short_digest = digest.rsplit(':').next().unwrap_or(&digest).to_string();
        let comment = format!("{cmd_name} {}:{} in {dest} ", if from_id.is_empty() { "file" } else { "dir" }, short_digest);
        let mut cmd = shell_of(&st.config);
        cmd.push(format!("#(nop) {comment}"));
        let id = self.commit(st, cmd, "", Some((stage.clone(), false))).await?;
        self.cache.put(&k, &id, &comment)?;
        st.image = id;
        Ok(())
    }

    fn expand_heredoc(&self, st: &State, content: &str) -> Result<String> {
        // Expand `$VAR` in an unquoted heredoc as a shell would, line by line, keeping quotes.
        let env = st.config.env.clone().unwrap_or_default();
        let lookup = |k: &str| env_get(&env, k).map(str::to_owned).or_else(|| st.args.get(k).cloned().flatten());
        let mut out = String::new();
        for line in content.split_inclusive('\n') {
            let (body, nl) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
            let escaped = body.replace('\\', "\\\\").replace('\'', "\\'").replace('"', "\\\"");
            out.push_str(&self.expand_with(&escaped, &lookup).unwrap_or_else(|_| body.to_string()));
            out.push_str(nl);
        }
        Ok(out)
    }

    /// `--chown=user[:group]` to ids, names looked up in the image's /etc/passwd and /etc/group.
    fn chown_ids(&self, lowers: &[PathBuf], spec: &str) -> Result<(u32, u32)> {
        let read = |rel: &str| lowers.iter().find_map(|l| std::fs::read_to_string(l.join(rel)).ok());
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let lookup = |file: &str, name: &str, what: &str| -> Result<(u32, u32)> {
            if let Ok(n) = name.parse::<u32>() {
                return Ok((n, n));
            }
            let content = read(file).unwrap_or_default();
            for line in content.lines() {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() >= 4 && f[0] == name {
                    let id = f[2].parse().unwrap_or(0);
                    let gid = if file == "etc/passwd" { f[3].parse().unwrap_or(0) } else { id };
                    return Ok((id, gid));
                }
            }
            Err(Error::invalid(format!("unable to convert uid/gid chown string to host mapping: can't find {what} {name}")))
        };
        let (uid, primary) = lookup("etc/passwd", user, "uid for user")?;
        let gid = match group {
            Some(g) => lookup("etc/group", g, "gid for group")?.0,
            None if user.parse::<u32>().is_ok() => uid,
            None => primary,
        };
        Ok((uid, gid))
    }
}

/// Removes a directory when dropped.
pub(crate) struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_updates_replace_in_place() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        env_set(&mut env, "A", "2");
        env_set(&mut env, "B", "x=y");
        assert_eq!(env, ["PATH=/bin", "A=2", "B=x=y"]);
        assert_eq!(env_get(&env, "B"), Some("x=y"));
        assert_eq!(env_get(&env, "C"), None);
    }

    #[test]
    fn ports_parse_as_expose_wants() {
        for (p, want) in [("80", Ok("80/tcp")), ("53/UDP", Ok("53/udp")), ("8000-8010", Ok("8000-8010/tcp")), ("x", Err(())), ("80/ipx", Err(()))] {
            assert_eq!(port_spec(p).map_err(|_| ()), want.map(str::to_string), "{p}");
        }
    }

    #[test]
    fn run_args_exclude_those_env_shadows() {
        let st = State {
            index: 0,
            image: String::new(),
            config: m::ContainerConfig { env: Some(vec!["A=env".into()]), ..Default::default() },
            args: BTreeMap::from([("A".into(), Some("arg".into())), ("B".into(), Some("b".into())), ("C".into(), None)]),
            cmd_set: false,
            maintainer: String::new(),
        };
        assert_eq!(run_args(&st), vec![("B".to_string(), "b".to_string())]);
        assert_eq!(shell_of(&st.config), ["/bin/sh", "-c"]);
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(go_q(&["cat".into(), "/a b".into()]), r#"["cat" "/a b"]"#);
    }
}
