//! The classic builder: a Dockerfile and a context tar to an image, with a cache of steps.
//!
//! - [`context`]: the request body extracted safely into `<data-root>/tmp/build-*`, removed at
//!   the end; context paths resolved without leaving it.
//! - [`plan`]: which stages the target needs, step numbering (pure).
//! - [`exec`]: the stages as concurrent tasks; each step probes the [`cache`] and on a miss
//!   makes an image: config only (ENV, CMD, ...), a layer staged by [`copy`] (COPY, ADD,
//!   WORKDIR of a missing directory), or a container's changes ([`run`]).
//! - [`auth`]: `X-Registry-Config` to the credentials of a base image's pull.
//! - [`report`]: the JSON messages (`stream`, `aux`, `error`), held back in quiet mode.
//!
//! Output follows dockerd's classic builder: `Step i/n : ...`, ` ---> <id>`, ` ---> Using
//! cache`, ` ---> Running in <id>` (RUN only: config steps need no container here), the RUN's
//! output, `Successfully built`, `Successfully tagged`. Each step's image is a real, untagged
//! image whose parent is the previous step's.

mod auth;
mod cache;
mod context;
mod copy;
mod exec;
mod plan;
mod report;
mod run;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use berth_api::models as m;
use berth_api::JsonMessage;
use berth_dockerfile::{Instruction, Kind};
use berth_errdefs::{Error, Result};

use self::exec::{short, Build, Failure, StageOut, StepResult};
use self::report::Reporter;
use crate::service::{BuildBackend, BuildRequest, ByteStream, Filters, ProgressSender};
use crate::Engine;

/// Build args dockerd accepts without an ARG (proxy settings).
const BUILTIN_ARGS: [&str; 5] = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"];

/// Quote a `--label` value so that the shell-word expansion gives it back unchanged.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Engine {
    /// The build cache for `GET /system/df` (`SystemDataUsage.build_cache`).
    pub(crate) fn build_cache_usage(&self) -> Result<Vec<m::BuildCache>> {
        let c = cache::Cache { db: self.store.clone() };
        let store = self.images.store();
        Ok(cache::df_entries(&c.all()?, &|id| store.contains(id)))
    }
}

/// Remove the build directories a crash left in `<data-root>/tmp` (for `Engine::open`).
pub(crate) fn sweep_tmp(data_root: &std::path::Path) {
    let n = context::sweep(&data_root.join("tmp"));
    if n > 0 {
        tracing::info!("removed {n} build directories left by an earlier run");
    }
}

/// The build, start to end; errors are the caller's to report.
async fn run_build(engine: Arc<Engine>, req: BuildRequest, body: ByteStream, out: Reporter) -> StepResult<()> {
    // Tags are checked before anything is done, as dockerd does.
    let mut tags = Vec::new();
    for t in &req.tags {
        let r = berth_reference::Reference::parse_normalized(t)
            .map_err(|e| Error::from_kind(&e))
            .and_then(|r| if r.digest().is_some() { Err(Error::invalid(format!("invalid reference format: {t}"))) } else { Ok(r) })?;
        tags.push(r.with_default_tag());
    }
    let ctx = context::extract(body, &engine.cfg.data_root.join("tmp")).await?;
    let name = req.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into());
    let rel = context::context_path(&name).map_err(|_| Error::invalid(format!("Cannot locate specified Dockerfile: {name}")))?;
    let mut text = std::fs::read_to_string(ctx.root().join(&rel));
    if text.is_err() && req.dockerfile.is_none() {
        text = std::fs::read_to_string(ctx.root().join("dockerfile"));
    }
    let text = text.map_err(|_| Error::invalid(format!("Cannot locate specified Dockerfile: {name}")))?;
    let df = berth_dockerfile::parse(&text).map_err(|e| Error::invalid(e.to_string()))?;

    let mut b = Build::new(engine.clone(), req, ctx, df, out.clone());
    b.set_meta_args()?;
    let target = plan::target_index(&b.df, b.req.target.as_deref())?;
    // `--label`s are LABEL steps at the end of the target stage, sorted, as dockerd adds them.
    let mut labels: Vec<(&String, &String)> = b.req.labels.iter().collect();
    labels.sort();
    let extra: Vec<Instruction> = labels
        .into_iter()
        .map(|(k, v)| Instruction {
            line: 0,
            original: format!("LABEL {}={}", quoted(k), quoted(v)),
            kind: Kind::Label(vec![(quoted(k), quoted(v))]),
        })
        .collect();
    b.df.stages[target].instructions.extend(extra);
    let needed = {
        let expand = |w: &str| b.expand_meta(w).unwrap_or_else(|_| w.to_string());
        plan::needed(&b.df, target, &expand)
    };
    let (firsts, total) = plan::numbering(&b.df, &needed, 0);
    for (n, a) in (1..).zip(b.df.meta_args.iter()) {
        let text = match &a.default {
            Some(d) => format!("ARG {}={d}", a.name),
            None => format!("ARG {}", a.name),
        };
        out.line(format!("Step {n}/{total} : {text}\n")).await;
    }
    let b = Arc::new(b);
    // Concurrent stages, output in Dockerfile order (see `report`).
    out.stages(firsts.iter().map(|(i, _)| *i)).await;
    let mut tasks = Vec::new();
    for (i, first) in firsts {
        let b = b.clone();
        tasks.push((i, tokio::spawn(report::STAGE.scope(i, async move {
            let r = stage(&b, i, first, total).await;
            b.finish_stage(i, r.clone());
            b.out.finish(i).await;
            r
        }))));
    }
    let mut first_failure: Option<Failure> = None;
    let mut result: Option<StageOut> = None;
    for (i, t) in tasks {
        match t.await {
            Ok(Ok(o)) if i == target => result = Some(o),
            Ok(Ok(_)) => {}
            Ok(Err(f)) if !f.dependent => {
                if first_failure.is_none() {
                    first_failure = Some(f);
                }
            }
            Ok(Err(_)) => {}
            Err(e) => {
                if first_failure.is_none() {
                    first_failure = Some(Error::internal(format!("build stage: {e}")).into());
                }
            }
        }
    }
    // A stage task that died never said it finished.
    out.finish_all().await;
    let hits = std::mem::take(&mut *b.hits.lock().unwrap_or_else(|p| p.into_inner()));
    b.cache.touch(&hits);
    if let Some(f) = first_failure {
        return Err(f);
    }
    let image = result.map(|o| o.image).filter(|i| !i.is_empty());
    let Some(image) = image else {
        return Err(Error::invalid("No image was generated. Is your Dockerfile empty?").into());
    };
    // As dockerd: build args no ARG of the built stages declares (proxies aside).
    let mut declared: std::collections::HashSet<&str> = b.df.meta_args.iter().map(|a| a.name.as_str()).collect();
    for &i in &needed {
        for ins in &b.df.stages[i].instructions {
            if let Kind::Arg(decls) = &ins.kind {
                declared.extend(decls.iter().map(|a| a.name.as_str()));
            }
        }
    }
    let unused: Vec<&str> = b
        .req
        .build_args
        .keys()
        .map(String::as_str)
        .filter(|k| !declared.contains(k) && !BUILTIN_ARGS.contains(&k.to_ascii_uppercase().as_str()))
        .collect();
    if !unused.is_empty() {
        out.line(format!("[Warning] One or more build-args [{}] were not consumed\n", unused.join(" "))).await;
    }
    out.send(JsonMessage { aux: Some(serde_json::json!({ "ID": image })), ..Default::default() }).await;
    out.line(format!("Successfully built {}\n", short(&image))).await;
    let store = engine.images.store().clone();
    for t in &tags {
        // A rebuild that changed nothing finds its tags in place: no store write.
        if store.reference_target(t).as_deref() != Some(image.as_str()) {
            store.tag(&image, t).map_err(|e| Error::from_kind(&e))?;
        }
        let name = t.familiar_string();
        engine.events.emit(m::EventMessageTypeEnum::IMAGE, "tag", &image, HashMap::from([("name".to_string(), name.clone())]));
        out.line(format!("Successfully tagged {name}\n")).await;
    }
    if b.req.quiet {
        out.always(JsonMessage::stream(format!("{image}\n"))).await;
    }
    Ok(())
}

/// Build one stage: its FROM, then its steps, printing as dockerd does.
async fn stage(b: &Build, i: usize, first: usize, total: usize) -> StepResult<StageOut> {
    let s = &b.df.stages[i];
    let mut n = first;
    b.out.line(format!("Step {n}/{total} : {}\n", s.original)).await;
    n += 1;
    let mut st = b.begin_stage(i).await?;
    // The base image's ONBUILD triggers run first, as dockerd runs them; the new image has none.
    let triggers = st.config.on_build.take().unwrap_or_default();
    if !triggers.is_empty() {
        let s = if triggers.len() == 1 { "" } else { "s" };
        b.out.line(format!("# Executing {} build trigger{s}\n", triggers.len())).await;
        for t in &triggers {
            let ins = berth_dockerfile::parse_instruction(t, b.df.escape).map_err(|e| Error::invalid(e.message.clone()))?;
            if matches!(ins.kind, Kind::Onbuild(_) | Kind::Maintainer(_)) {
                return Err(Error::invalid(format!("{} isn't allowed as an ONBUILD trigger", ins.kind.keyword().to_uppercase())).into());
            }
            b.step(&mut st, &ins).await?;
        }
    }
    b.out.line(format!(" ---> {}\n", short(&st.image))).await;
    for ins in &s.instructions {
        if b.failed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Failure::dependent());
        }
        b.out.line(format!("Step {n}/{total} : {}\n", ins.original)).await;
        n += 1;
        b.step(&mut st, ins).await.map_err(|mut f| {
            if f.code.is_none() && !f.dependent && ins.line > 0 && berth_errdefs::HasKind::kind(&f.err) == berth_errdefs::Kind::InvalidArgument {
                let msg = f.err.message().to_string();
                if !msg.contains("line ") && !msg.starts_with("COPY failed") && !msg.starts_with("ADD failed") && !msg.starts_with("When using") {
                    f.err = Error::invalid(format!("dockerfile error on line {}: {msg}", ins.line));
                }
            }
            f
        })?;
        b.out.line(format!(" ---> {}\n", short(&st.image))).await;
    }
    Ok(StageOut { image: st.image, config: st.config })
}

#[async_trait]
impl BuildBackend for Arc<Engine> {
    async fn build(&self, req: BuildRequest, context: ByteStream, progress: ProgressSender) -> Result<()> {
        let out = Reporter::new(progress, req.quiet);
        match run_build(self.clone(), req, context, out.clone()).await {
            Ok(()) => Ok(()),
            Err(f) if !out.said_anything() => Err(f.err),
            Err(f) => {
                out.flush_held().await;
                let msg = f.err.message().to_string();
                out.always(match f.code {
                    Some(c) => JsonMessage::error_with_code(msg, c),
                    None => JsonMessage::error(msg),
                })
                .await;
                Ok(())
            }
        }
    }

    async fn build_prune(&self, all: bool, filters: Filters) -> Result<m::BuildPruneResponse> {
        let c = cache::Cache { db: self.store.clone() };
        let store = self.images.store().clone();
        let records = c.all()?;
        let now = chrono::Utc::now().timestamp();
        let chosen = cache::select_for_prune(&records, all, &filters, &|id| store.contains(id), now)?;
        c.delete(&chosen)?;
        let keep: std::collections::HashSet<String> =
            c.all()?.into_iter().map(|(_, r)| r.image).collect();
        let before = store.disk_usage().map(|d| d.layers_size).unwrap_or(0);
        // The intermediate images only these records kept: untagged, unused by containers.
        let users = self.image_users();
        for (_, r) in records.iter().filter(|(k, _)| chosen.contains(k)) {
            if keep.contains(&r.image) {
                continue;
            }
            let Ok(img) = store.get(&r.image) else { continue };
            if !img.repo_tags.is_empty() || !img.repo_digests.is_empty() {
                continue;
            }
            let _ = self.images.remove(&r.image, false, false, &|id: &str| Engine::image_in_use(&users, id));
        }
        let after = store.disk_usage().map(|d| d.layers_size).unwrap_or(before);
        let mut reclaimed = (before - after).max(0);
        if all && filters.is_empty() {
            let dir = self.cfg.data_root.join("build/cache-mounts");
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    reclaimed += dir_size(&e.path()) as i64;
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(m::BuildPruneResponse { caches_deleted: Some(chosen), space_reclaimed: Some(reclaimed) })
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else { return 0 };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum()).unwrap_or(0)
}
