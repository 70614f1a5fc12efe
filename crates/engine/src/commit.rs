//! `docker commit`: a new image from a container's changes, as dockerd makes it.
//!
//! 1. The container is frozen (unless `pause=false` or it does not run), and thawed at the end.
//! 2. Its overlay upper directory becomes a layer on top of its image's layers
//!    ([`berth_image::ImageStore::create_layer_from_dir`]). A container with no change that
//!    `docker diff` shows adds no layer: its history entry is marked `empty_layer`, as dockerd
//!    does for an empty diff. (When there are changes, the runtime's mount-point stubs in the
//!    upper directory go into the layer too: the store takes the directory as a whole.)
//! 3. The new image's run config is the request's config (or the container's) with the
//!    `changes` applied, completed from the container's config ([`merge`], moby's rule).
//! 4. The config document ([`image_config`]) extends the image's: its `rootfs.diff_ids` plus
//!    the new diff id, its history plus `{created, created_by: the container's Cmd, author,
//!    comment}`, and dockerd's `container` / `container_config` fields.
//! 5. The container's image is recorded as the new image's parent (outside the config, as
//!    dockerd does): inspect's `Parent`, the ids `docker history` shows.
//!
//! Everything but [`Engine::commit_container`] is pure and tested by tables.

use std::collections::HashMap;

use berth_api::models as m;
use berth_errdefs::{Error, Result};
use berth_image::RunConfig;
use berth_reference::Digest;
use serde_json::{Map, Value};

use crate::containers;
use crate::service::CommitRequest;
use crate::Engine;

/// The fields of a container config that an image's run config has (what `changes` touch).
const RUN_FIELDS: [&str; 13] = [
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

fn internal(what: &str) -> impl FnOnce(serde_json::Error) -> Error + '_ {
    move |e| Error::internal(format!("{what}: {e}"))
}

/// Apply Dockerfile-like `changes` (`CMD ["sh"]`, `ENV A=b`, ...) to a container config, as
/// dockerd's `BuildFromConfig`: only the fields the changes alter are rewritten.
pub(crate) fn apply_changes(config: &mut m::ContainerConfig, changes: &[String]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut cv = serde_json::to_value(&*config).map_err(internal("encode config"))?;
    let before: RunConfig = serde_json::from_value(cv.clone()).map_err(internal("read config"))?;
    let mut after = before.clone();
    berth_image::apply_changes(&mut after, changes).map_err(|e| Error::from_kind(&e))?;
    let (bv, av) = (
        serde_json::to_value(&before).map_err(internal("encode config"))?,
        serde_json::to_value(&after).map_err(internal("encode config"))?,
    );
    let Some(obj) = cv.as_object_mut() else {
        return Err(Error::internal("container config is not an object"));
    };
    for key in RUN_FIELDS {
        if bv.get(key) == av.get(key) {
            continue;
        }
        match av.get(key) {
            Some(v) => obj.insert(key.to_string(), v.clone()),
            None => obj.remove(key),
        };
    }
    *config = serde_json::from_value(cv).map_err(internal("decode config"))?;
    Ok(())
}

fn empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(|v| v.is_empty())
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Complete `user` (the new image's config) from `base` (the container's), as moby's
/// `merge`: empty fields are taken from `base`; ports, environment (by name), labels and
/// volumes are unions where `user` wins; the command comes from `base` only when `user` has
/// neither entrypoint nor command.
pub(crate) fn merge(user: &mut m::ContainerConfig, base: &m::ContainerConfig) {
    if user.user.as_deref().unwrap_or("").is_empty() {
        user.user = base.user.clone();
    }
    if empty(&user.exposed_ports) {
        user.exposed_ports = base.exposed_ports.clone();
    } else if let (Some(mine), Some(theirs)) = (user.exposed_ports.as_mut(), base.exposed_ports.as_ref()) {
        for p in theirs {
            if !mine.contains(p) {
                mine.push(p.clone());
            }
        }
    }
    if empty(&user.env) {
        user.env = base.env.clone();
    } else if let (Some(mine), Some(theirs)) = (user.env.as_mut(), base.env.as_ref()) {
        for e in theirs {
            if !mine.iter().any(|u| env_key(u) == env_key(e)) {
                mine.push(e.clone());
            }
        }
    }
    let labels = user.labels.get_or_insert_with(HashMap::new);
    for (k, v) in base.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if empty(&user.entrypoint) {
        if empty(&user.cmd) {
            user.cmd = base.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = base.entrypoint.clone();
        }
    }
    if let Some(bh) = &base.healthcheck {
        match user.healthcheck.as_mut() {
            None => user.healthcheck = Some(bh.clone()),
            Some(h) => {
                if empty(&h.test) {
                    h.test = bh.test.clone();
                }
                let zero = |v: &Option<i64>| v.unwrap_or(0) == 0;
                if zero(&h.interval) {
                    h.interval = bh.interval;
                }
                if zero(&h.timeout) {
                    h.timeout = bh.timeout;
                }
                if zero(&h.start_period) {
                    h.start_period = bh.start_period;
                }
                if zero(&h.start_interval) {
                    h.start_interval = bh.start_interval;
                }
                if zero(&h.retries) {
                    h.retries = bh.retries;
                }
            }
        }
    }
    if user.working_dir.as_deref().unwrap_or("").is_empty() {
        user.working_dir = base.working_dir.clone();
    }
    if empty(&user.volumes) {
        user.volumes = base.volumes.clone();
    } else if let (Some(mine), Some(theirs)) = (user.volumes.as_mut(), base.volumes.as_ref()) {
        for v in theirs {
            if !mine.contains(v) {
                mine.push(v.clone());
            }
        }
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = base.stop_signal.clone();
    }
}

/// What the new image's config is made of, besides its parent's config.
#[derive(Debug, Clone)]
pub(crate) struct Commit<'a> {
    /// The container's full id (`container`).
    pub container_id: &'a str,
    /// The container's config (`container_config`; its `Cmd` is the history's `created_by`).
    pub container_config: &'a m::ContainerConfig,
    /// The new image's run config (`config`).
    pub config: &'a m::ContainerConfig,
    /// `author` (empty: none).
    pub author: &'a str,
    /// The history entry's comment (empty: none).
    pub comment: &'a str,
    /// The new layer's diff id; None when the container changed nothing.
    pub diff_id: Option<&'a str>,
    /// Creation time, Go's RFC 3339 with nanoseconds.
    pub created: &'a str,
}

/// The config document of a committed image, from its parent's exact config bytes (moby's
/// `NewChildImage`): architecture, variant, `os.version` and `os.features` of the parent,
/// its diff ids and history extended by the commit.
pub(crate) fn image_config(parent_raw: &[u8], c: &Commit<'_>) -> Result<Vec<u8>> {
    let parent: Value = serde_json::from_slice(parent_raw).map_err(internal("read the image's config"))?;
    let text = |k: &str| parent.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut out = Map::new();
    let arch = text("architecture").unwrap_or(berth_image::host_architecture());
    out.insert("architecture".into(), arch.into());
    if let Some(v) = text("variant") {
        out.insert("variant".into(), v.into());
    }
    out.insert("os".into(), "linux".into());
    for k in ["os.version", "os.features"] {
        if let Some(v) = parent.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    if !c.author.is_empty() {
        out.insert("author".into(), c.author.into());
    }
    out.insert("config".into(), serde_json::to_value(c.config).map_err(internal("encode config"))?);
    out.insert("container".into(), c.container_id.into());
    out.insert(
        "container_config".into(),
        serde_json::to_value(c.container_config).map_err(internal("encode config"))?,
    );
    out.insert("created".into(), c.created.into());

    let mut diff_ids: Vec<Value> = parent
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(d) = c.diff_id {
        diff_ids.push(d.into());
    }
    let mut rootfs = Map::new();
    rootfs.insert("type".into(), "layers".into());
    rootfs.insert("diff_ids".into(), Value::Array(diff_ids));
    out.insert("rootfs".into(), Value::Object(rootfs));

    let mut history: Vec<Value> = parent.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut entry = Map::new();
    entry.insert("created".into(), c.created.into());
    if !c.author.is_empty() {
        entry.insert("author".into(), c.author.into());
    }
    let created_by = c.container_config.cmd.clone().unwrap_or_default().join(" ");
    entry.insert("created_by".into(), created_by.into());
    if !c.comment.is_empty() {
        entry.insert("comment".into(), c.comment.into());
    }
    if c.diff_id.is_none() {
        entry.insert("empty_layer".into(), true.into());
    }
    history.push(Value::Object(entry));
    out.insert("history".into(), Value::Array(history));
    serde_json::to_vec(&Value::Object(out)).map_err(internal("encode image config"))
}

/// The diff id of a tar with no entry (1024 zero bytes): a commit that changed nothing.
fn empty_tar_diff_id() -> String {
    Digest::sha256_of(&[0u8; 1024]).to_string()
}


impl Engine {
    /// `POST /commit`. Emits the image's `tag` (when tagged) and the container's `commit`
    /// events.
    pub(crate) async fn commit_container(&self, req: CommitRequest) -> Result<String> {
        let c = self.get(&req.container)?;
        let rec = c.record();
        match rec.state.status.as_str() {
            "dead" => return Err(Error::conflict(format!("You cannot commit container {} which is Dead", rec.id))),
            "removing" => {
                return Err(Error::conflict(format!("You cannot commit container {} which is being removed", rec.id)))
            }
            _ => {}
        }
        let tag = berth_reference::repo_tag_reference(req.repo.as_deref().unwrap_or(""), req.tag.as_deref())
            .map_err(|e| Error::from_kind(&e))?;

        let mut config = req.config.clone().unwrap_or_else(|| rec.config.clone());
        apply_changes(&mut config, &req.changes)?;
        merge(&mut config, &rec.config);

        // As dockerd: freeze a running container (a failure to is not fatal), thaw it after.
        let paused = req.pause && rec.state.status == "running" && self.pause_container(&rec.id, true).await.is_ok();
        let store = self.images.store().clone();
        let upper = containers::container_dir(&self.cfg.data_root, &rec.id).join("upper");
        let (author, comment) = (req.author.clone().unwrap_or_default(), req.comment.clone().unwrap_or_default());
        let (id, container_config) = (rec.id.clone(), rec.config.clone());
        let tags: Vec<_> = tag.iter().cloned().collect();
        let image_id = rec.image_id.clone();
        let made = tokio::task::spawn_blocking(move || -> Result<String> {
            let kinded = |e: berth_image::Error| Error::from_kind(&e);
            let image = store.get(&image_id).map_err(kinded)?;
            let parent = image.layers.last().map(|l| l.chain_id.clone());
            // Nothing `docker diff` would show (the runtime's mount points do not count): no
            // layer, as dockerd's commit of an unchanged container.
            let changed = !crate::export::changes(&upper, &image.lower_dirs())
                .map_err(|e| Error::internal(format!("read the changes of {id}: {e}")))?
                .is_empty();
            let diff_id = if changed {
                let (layer, _) = store.create_layer_from_dir_skipping(parent.as_deref(), &upper, &crate::export::INIT_PATHS).map_err(kinded)?;
                (layer.diff_id != empty_tar_diff_id()).then_some(layer.diff_id)
            } else {
                None
            };
            let created = berth_image::go_time(chrono::Utc::now());
            let raw = image_config(
                image.raw_config.as_bytes(),
                &Commit {
                    container_id: &id,
                    container_config: &container_config,
                    config: &config,
                    author: &author,
                    comment: &comment,
                    diff_id: diff_id.as_deref(),
                    created: &created,
                },
            )?;
            Ok(store.create_image(&raw, &tags, &[]).map_err(kinded)?.id)
        })
        .await
        .map_err(|e| Error::internal(format!("commit: {e}")))
        .and_then(|r| r);
        let tag = tag.map(|t| t.familiar_string());
        let made = made.and_then(|new_id| {
            self.images.set_parent(&new_id, &rec.image_id)?;
            Ok(new_id)
        });
        if let Ok(new_id) = &made {
            // In dockerd's order: the tag, the commit, then the thaw (its unpause is deferred).
            if let Some(t) = &tag {
                let attrs = HashMap::from([("name".to_string(), t.clone())]);
                self.events.emit(m::EventMessageTypeEnum::IMAGE, "tag", new_id, attrs);
            }
            self.emit_container(
                "commit",
                &rec,
                &[
                    ("comment", req.comment.unwrap_or_default()),
                    ("imageID", new_id.clone()),
                    ("imageRef", tag.clone().unwrap_or_default()),
                ],
            );
        }
        if paused {
            let _ = self.pause_container(&rec.id, false).await;
        }
        made
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_errdefs::HasKind;
    use serde_json::json;

    fn cfg(v: Value) -> m::ContainerConfig {
        serde_json::from_value(v).unwrap()
    }

    fn val(c: &m::ContainerConfig) -> Value {
        serde_json::to_value(c).unwrap()
    }

    #[test]
    fn changes_rewrite_only_what_they_touch() {
        let base = json!({"Hostname":"abc","Image":"busybox","Env":["PATH=/bin","A=1"],"Cmd":["sh"],
            "Tty":true,"Labels":{"x":"y"}});
        let cases: Vec<(Vec<&str>, Value)> = vec![
            (vec![], base.clone()),
            (
                vec!["ENV A=2 B=3"],
                json!({"Hostname":"abc","Image":"busybox","Env":["PATH=/bin","A=2","B=3"],"Cmd":["sh"],"Tty":true,"Labels":{"x":"y"}}),
            ),
            (
                vec![r#"CMD ["top"]"#, "EXPOSE 80", "WORKDIR /srv", "USER nobody"],
                json!({"Hostname":"abc","Image":"busybox","Env":["PATH=/bin","A=1"],"Cmd":["top"],"Tty":true,
                    "Labels":{"x":"y"},"ExposedPorts":{"80/tcp":{}},"WorkingDir":"/srv","User":"nobody"}),
            ),
            (
                vec![r#"ENTRYPOINT ["/app"]"#, "LABEL z=1", "VOLUME /data"],
                json!({"Hostname":"abc","Image":"busybox","Env":["PATH=/bin","A=1"],"Entrypoint":["/app"],"Tty":true,
                    "Labels":{"x":"y","z":"1"},"Volumes":{"/data":{}}}),
            ),
        ];
        for (changes, want) in cases {
            let mut c = cfg(base.clone());
            let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
            apply_changes(&mut c, &changes).unwrap();
            assert_eq!(val(&c), want, "{changes:?}");
        }
        let mut c = cfg(base);
        let e = apply_changes(&mut c, &["RUN rm -rf /".to_string()]).unwrap_err();
        assert_eq!(e.kind(), berth_errdefs::Kind::InvalidArgument);
    }

    #[test]
    fn merge_follows_moby() {
        let container = json!({"Hostname":"abc","User":"app","Env":["PATH=/bin","A=1"],"Cmd":["sh"],
            "Entrypoint":["/init"],"ExposedPorts":{"80/tcp":{}},"Labels":{"x":"y"},"WorkingDir":"/w",
            "Volumes":{"/v":{}},"StopSignal":"SIGUSR1","Healthcheck":{"Test":["CMD","true"],"Interval":5}});
        let cases: Vec<(Value, Value)> = vec![
            // The CLI sends no config: the container's own, unchanged.
            (container.clone(), container.clone()),
            // An SDK's partial override: completed from the container.
            (
                json!({"Cmd":["top"],"Env":["A=2","B=3"],"ExposedPorts":{"443/tcp":{}},"Labels":{"x":"z"},
                    "Healthcheck":{"Retries":3}}),
                json!({"User":"app","Env":["A=2","B=3","PATH=/bin"],"Cmd":["top"],"Entrypoint":["/init"],
                    "ExposedPorts":{"443/tcp":{},"80/tcp":{}},"Labels":{"x":"z"},"WorkingDir":"/w",
                    "Volumes":{"/v":{}},"StopSignal":"SIGUSR1",
                    "Healthcheck":{"Test":["CMD","true"],"Interval":5,"Retries":3}}),
            ),
            // An entrypoint of its own: the container's command is not inherited.
            (
                json!({"Entrypoint":["/other"]}),
                json!({"User":"app","Env":["PATH=/bin","A=1"],"Entrypoint":["/other"],"ExposedPorts":{"80/tcp":{}},
                    "Labels":{"x":"y"},"WorkingDir":"/w","Volumes":{"/v":{}},"StopSignal":"SIGUSR1",
                    "Healthcheck":{"Test":["CMD","true"],"Interval":5}}),
            ),
            // An explicitly empty entrypoint stays empty; the command is inherited.
            (
                json!({"Entrypoint":[]}),
                json!({"User":"app","Env":["PATH=/bin","A=1"],"Cmd":["sh"],"Entrypoint":[],"ExposedPorts":{"80/tcp":{}},
                    "Labels":{"x":"y"},"WorkingDir":"/w","Volumes":{"/v":{}},"StopSignal":"SIGUSR1",
                    "Healthcheck":{"Test":["CMD","true"],"Interval":5}}),
            ),
        ];
        let base = cfg(container);
        for (user, want) in cases {
            let mut u = cfg(user.clone());
            merge(&mut u, &base);
            assert_eq!(val(&u), want, "{user}");
        }
    }

    #[test]
    fn image_configs_extend_the_parent() {
        let parent = json!({"architecture":"arm64","variant":"v8","os":"linux","os.version":"x",
            "config":{"Cmd":["sh"]},"created":"2024-01-01T00:00:00Z",
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},
            "history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD rootfs"}]});
        let container_config = cfg(json!({"Hostname":"abc","Image":"busybox","Cmd":["sh","-c","echo hi > /f"]}));
        let config = cfg(json!({"Hostname":"abc","Image":"busybox","Cmd":["sh"]}));
        let commit = |author: &'static str, comment: &'static str, diff: Option<&'static str>| Commit {
            container_id: "c0ffee",
            container_config: &container_config,
            config: &config,
            author,
            comment,
            diff_id: diff,
            created: "2025-02-03T04:05:06.7Z",
        };
        let cases: Vec<(Commit<'_>, Value, Value)> = vec![
            (
                commit("me", "msg", Some("sha256:bb")),
                json!(["sha256:aa", "sha256:bb"]),
                json!({"created":"2025-02-03T04:05:06.7Z","author":"me","created_by":"sh -c echo hi > /f","comment":"msg"}),
            ),
            (
                commit("", "", Some("sha256:bb")),
                json!(["sha256:aa", "sha256:bb"]),
                json!({"created":"2025-02-03T04:05:06.7Z","created_by":"sh -c echo hi > /f"}),
            ),
            (
                commit("", "", None),
                json!(["sha256:aa"]),
                json!({"created":"2025-02-03T04:05:06.7Z","created_by":"sh -c echo hi > /f","empty_layer":true}),
            ),
        ];
        for (c, diff_ids, entry) in cases {
            let raw = image_config(serde_json::to_vec(&parent).unwrap().as_slice(), &c).unwrap();
            let v: Value = serde_json::from_slice(&raw).unwrap();
            assert_eq!(v["rootfs"], json!({"type":"layers","diff_ids":diff_ids}), "{c:?}");
            assert_eq!(v["history"][0], parent["history"][0]);
            assert_eq!(v["history"][1], entry, "{c:?}");
            assert_eq!(v["history"].as_array().unwrap().len(), 2);
            assert_eq!((&v["architecture"], &v["variant"], &v["os"], &v["os.version"]), (&json!("arm64"), &json!("v8"), &json!("linux"), &json!("x")));
            assert_eq!(v["container"], "c0ffee");
            assert_eq!(v["container_config"], val(&container_config));
            assert_eq!(v["config"], val(&config));
            assert_eq!(v["created"], "2025-02-03T04:05:06.7Z");
            assert_eq!(v.get("author").is_some(), !c.author.is_empty());
            assert!(v.get("comment").is_none(), "dockerd keeps the comment in the history only");
            // What the store reads back.
            let parsed: berth_image::ImageConfig = serde_json::from_slice(&raw).unwrap();
            assert_eq!(parsed.config.unwrap().cmd, Some(vec!["sh".to_string()]));
        }
        // A parent without architecture or history (an old import).
        let raw = image_config(br#"{"rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#, &commit("", "", Some("sha256:bb"))).unwrap();
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["architecture"], berth_image::host_architecture());
        assert_eq!(v["history"].as_array().unwrap().len(), 1);
        assert!(image_config(b"not json", &commit("", "", None)).is_err());
    }

    #[test]
    fn an_empty_tar_is_an_empty_layer() {
        assert_eq!(empty_tar_diff_id(), "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
    }
}
