//! Images as the API serves them: [`berth_image::ImageStore`]'s answers shaped like dockerd's
//! (moby's graphdriver image service), for the [`crate::service::ImageBackend`] methods.
//!
//! Everything here is synchronous except [`Images::import`], which bridges the request body
//! stream to the store's blocking reader ([`ChannelReader`], [`feed_body`]). Pull, push, save,
//! load and login live in `transfer.rs`, commit in `commit.rs`; they reach the store through
//! [`Images::store`]. Removal and prune ask the caller which container
//! uses an image (`in_use`, image id -> a container, preferably a running one, as an id
//! `String` or a [`berth_image::ImageUser`] that tells whether it runs).

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::models as m;
use berth_errdefs::{Error, Result};
use berth_image::{
    DeleteItem, HealthConfig, Image, ImageStore, ImageUser, ImportOptions, ListFilters,
    PruneFilters, RunConfig,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::service::{Filters, ImportRequest};

/// The message of an import without one, as dockerd's router sets it for `fromSrc=-`.
const DEFAULT_IMPORT_MESSAGE: &str = "Imported from -";

fn kinded(e: berth_image::Error) -> Error {
    Error::from_kind(&e)
}

/// What creating a container needs from its image.
#[derive(Debug, Clone)]
pub(crate) struct ContainerImage {
    /// `sha256:<hex>`.
    pub id: String,
    /// The image's run config as a container config (`None` when the image has none).
    pub config: Option<m::ContainerConfig>,
}

/// Image numbers for `GET /system/df`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImagesUsage {
    /// `LayersSize`: total size of all layers.
    pub layers_size: i64,
    /// `Images`: every image, with `Containers` and `SharedSize` filled in.
    pub images: Vec<m::ImageSummary>,
}

/// The image a committed image was made from, by image id (dockerd keeps this local
/// relation outside the image config too): `Parent` of inspect, the ids of `docker history`.
const PARENTS: berth_metadata::Table = berth_metadata::Table::new("image_parents");

/// The image service of the engine.
pub(crate) struct Images {
    store: Arc<ImageStore>,
    /// The metadata store, for [`PARENTS`].
    db: berth_metadata::Store,
}

impl Images {
    /// Open the image store rooted at `root` (`<data-root>/image`).
    pub(crate) fn open(root: &Path, store: berth_metadata::Store) -> Result<Images> {
        let s = ImageStore::open(store.clone(), root).map_err(kinded)?;
        Ok(Images { store: Arc::new(s), db: store })
    }

    /// Record that image `id` was made from image `parent` (`docker commit`).
    pub(crate) fn set_parent(&self, id: &str, parent: &str) -> Result<()> {
        self.db
            .write(|tx| tx.put(PARENTS, id, &parent.to_string()))
            .map_err(|e| Error::from_kind(&e))
    }

    /// The image `id` was made from, while that image exists.
    fn parent_of(&self, id: &str) -> Option<String> {
        let parent: String = self.db.get(PARENTS, id).ok()??;
        self.store.resolve(&parent).ok().filter(|p| *p == parent)
    }

    /// Every image that is recorded as some image's parent.
    fn parent_ids(&self) -> Result<std::collections::HashSet<String>> {
        Ok(self
            .db
            .list::<String>(PARENTS)
            .map_err(|e| Error::from_kind(&e))?
            .into_iter()
            .map(|(_, p)| p)
            .collect())
    }

    /// The parent of the image `name` designates (`""` for none), as inspect shows it.
    pub(crate) fn parent(&self, name: &str) -> Result<String> {
        let id = self.store.resolve(name).map_err(kinded)?;
        Ok(self.parent_of(&id).unwrap_or_default())
    }

    /// Forget the parents of deleted images.
    fn forget_parents(&self, items: &[DeleteItem]) {
        let ids: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                DeleteItem::Deleted(id) => Some(id.as_str()),
                DeleteItem::Untagged(_) => None,
            })
            .collect();
        if ids.is_empty() {
            return;
        }
        let res = self.db.write(|tx| {
            for id in &ids {
                tx.delete(PARENTS, id)?;
            }
            Ok::<(), berth_metadata::Error>(())
        });
        if let Err(e) = res {
            tracing::warn!(error = %e, "cannot forget the parents of deleted images");
        }
    }

    /// The store itself, for the registry client and the archive functions.
    pub(crate) fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }

    /// Number of images (`Images` of `GET /info`).
    pub(crate) fn count(&self) -> usize {
        self.store.count().unwrap_or(0)
    }

    /// The id of the image `name` designates, if any (`ancestor` filters and the like).
    pub(crate) fn id_of(&self, name: &str) -> Option<String> {
        self.store.resolve(name).ok()
    }

    /// Size of an image's layers (0 when unknown), for `SizeRootFs`.
    pub(crate) fn size_of(&self, id: &str) -> i64 {
        self.store.get(id).map(|i| i.size).unwrap_or(0)
    }

    /// Overlay lower directories of an image, top layer first. Works for an image removed
    /// with force while a container still uses it.
    pub(crate) fn lower_dirs(&self, id: &str) -> Result<Vec<PathBuf>> {
        self.store.lower_dirs(id).map_err(kinded)
    }

    /// Resolve the image of a new container: id, run config, lower directories.
    pub(crate) fn for_container(&self, name: &str) -> Result<ContainerImage> {
        let img = self.store.get(name).map_err(kinded)?;
        Ok(ContainerImage {
            id: img.id.clone(),
            config: img.config.config.as_ref().map(container_config),
        })
    }

    /// `GET /images/json`. Without `all`, intermediate images (untagged parents of other
    /// images: the builder's steps) are hidden, as dockerd does. Digests are always listed.
    pub(crate) fn list(
        &self,
        all: bool,
        filters: Filters,
        _digests: bool,
    ) -> Result<Vec<m::ImageSummary>> {
        let f = ListFilters::parse(&filters, Utc::now()).map_err(|e| Error::from_kind(&e))?;
        let mut images = self.store.list(&f).map_err(kinded)?;
        if !all {
            let parents = self.parent_ids()?;
            images.retain(|i| {
                !(i.repo_tags.is_empty() && i.repo_digests.is_empty() && parents.contains(&i.id))
            });
        }
        Ok(images.iter().map(summary).collect())
    }

    /// The image part of `GET /system/df`: every image with its container count
    /// (`containers(image id)`) and shared size.
    pub(crate) fn df(&self, containers: &dyn Fn(&str) -> i64) -> Result<ImagesUsage> {
        let du = self.store.disk_usage().map_err(kinded)?;
        let images = self.store.list(&ListFilters::default()).map_err(kinded)?;
        let images = images
            .iter()
            .map(|img| {
                let mut s = summary(img);
                s.containers = containers(&img.id);
                s.shared_size = du.shared_size.get(&img.id).copied().unwrap_or(0);
                s
            })
            .collect();
        Ok(ImagesUsage {
            layers_size: du.layers_size,
            images,
        })
    }

    /// `GET /images/{name}/json`.
    pub(crate) fn inspect(&self, name: &str) -> Result<m::ImageInspect> {
        let img = self.store.get(name).map_err(kinded)?;
        Ok(inspect(&img))
    }

    /// `GET /images/{name}/history`.
    pub(crate) fn history(&self, name: &str) -> Result<Vec<m::ImageHistoryResponseItem>> {
        let mut entries = self.store.history(name).map_err(kinded)?;
        // As dockerd: the newest entry is the image, each older one its parent's, as far as
        // the chain of local parents goes (a commit adds one entry per image).
        let mut id = entries.first().map(|e| e.id.clone());
        for e in entries.iter_mut().skip(1) {
            let Some(parent) = id.as_deref().and_then(|i| self.parent_of(i)) else { break };
            e.tags = self.store.get(&parent).map(|i| i.familiar_tags()).unwrap_or_default();
            e.id = parent.clone();
            id = Some(parent);
        }
        Ok(entries
            .into_iter()
            .map(|h| m::ImageHistoryResponseItem {
                id: h.id,
                created: h.created,
                created_by: h.created_by,
                tags: h.tags,
                size: h.size,
                comment: h.comment,
            })
            .collect())
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub(crate) fn tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let target = berth_reference::repo_tag_reference(repo, tag)
            .map_err(|e| Error::from_kind(&e))?
            .ok_or_else(|| Error::invalid("repository name must have at least one component"))?;
        self.store.tag(name, &target).map_err(kinded)?;
        Ok(())
    }

    /// `DELETE /images/{name}?force=&noprune=`. As dockerd: an image with children (images
    /// recorded with it as [`PARENTS`]) is refused by id and only untagged by reference;
    /// unless `noprune`, the deleted image's untagged parents with no other child and no
    /// container are deleted too, up the chain.
    pub(crate) fn remove<U: Into<ImageUser>>(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
        in_use: &dyn Fn(&str) -> Option<U>,
    ) -> Result<Vec<m::ImageDeleteResponseItem>> {
        // Read before the store's lock is taken: the callback runs under it.
        let parents: HashMap<String, String> = self
            .db
            .list::<String>(PARENTS)
            .map_err(|e| Error::from_kind(&e))?
            .into_iter()
            .collect();
        let parent_of = |id: &str| parents.get(id).cloned();
        let items = self
            .store
            .remove_with_parents(name, force, !noprune, in_use, &parent_of)
            .map_err(kinded)?;
        self.forget_parents(&items);
        Ok(items.into_iter().map(delete_item).collect())
    }

    /// `POST /images/prune`.
    pub(crate) fn prune<U: Into<ImageUser>>(
        &self,
        filters: Filters,
        in_use: &dyn Fn(&str) -> Option<U>,
    ) -> Result<m::ImagePruneResponse> {
        let f = PruneFilters::parse(&filters, Utc::now()).map_err(|e| Error::from_kind(&e))?;
        // As dockerd, pruning dangling images leaves intermediate ones (the builder's steps,
        // parents of other images) alone: they are held like images in use.
        let parents = if f.dangling_only { self.parent_ids()? } else { Default::default() };
        let held = |id: &str| -> Option<ImageUser> {
            in_use(id).map(Into::into).or_else(|| {
                parents.contains(id).then(|| ImageUser { container_id: String::new(), running: false })
            })
        };
        let report = self.store.prune(&f, &held).map_err(kinded)?;
        self.forget_parents(&report.items);
        let items: Vec<m::ImageDeleteResponseItem> =
            report.items.into_iter().map(delete_item).collect();
        Ok(m::ImagePruneResponse {
            images_deleted: (!items.is_empty()).then_some(items),
            space_reclaimed: Some(report.space_reclaimed),
        })
    }

    /// Delete images removed with force while containers used them, once no container does.
    /// Call after removing containers. Returns the deleted image and layer ids.
    pub(crate) fn gc<U: Into<ImageUser>>(
        &self,
        in_use: &dyn Fn(&str) -> Option<U>,
    ) -> Result<Vec<String>> {
        self.store.gc(in_use).map_err(kinded)
    }

    /// `POST /images/create?fromSrc=-`: import the body as a one-layer image; returns its id.
    pub(crate) async fn import(&self, req: ImportRequest) -> Result<String> {
        let reference = berth_reference::repo_tag_reference(
            req.repo.as_deref().unwrap_or(""),
            req.tag.as_deref(),
        )
        .map_err(|e| Error::from_kind(&e))?;
        let opts = ImportOptions {
            reference,
            message: req
                .message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| DEFAULT_IMPORT_MESSAGE.into()),
            changes: req.changes,
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(16);
        let store = self.store.clone();
        let task = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx,
                current: Bytes::new(),
            };
            store.import(reader, &opts)
        });
        feed_body(req.body, tx).await;
        let img = task
            .await
            .map_err(|e| Error::internal(format!("import: {e}")))?
            .map_err(kinded)?;
        Ok(img.id)
    }
}

/// Send a request body to a [`ChannelReader`] until it ends, fails, or the reader stops
/// (a send error means the reader gave up: its own error says why). Dropping the sender at
/// the end is the reader's end of file.
pub(crate) async fn feed_body(
    mut body: futures_util::stream::BoxStream<'static, io::Result<Bytes>>,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) {
    while let Some(chunk) = body.next().await {
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
}

/// The body of a request as a blocking reader; the end of the stream is the end of file.
pub(crate) struct ChannelReader {
    pub(crate) rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    pub(crate) current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn delete_item(i: DeleteItem) -> m::ImageDeleteResponseItem {
    match i {
        DeleteItem::Untagged(r) => m::ImageDeleteResponseItem {
            untagged: Some(r),
            deleted: None,
        },
        DeleteItem::Deleted(id) => m::ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id),
        },
    }
}

fn labels_map(img: &Image) -> HashMap<String, String> {
    img.labels().into_iter().collect()
}

/// An `ImageSummary` as dockerd's list has it: `SharedSize` and `Containers` not computed.
fn summary(img: &Image) -> m::ImageSummary {
    m::ImageSummary {
        id: img.id.clone(),
        parent_id: String::new(),
        repo_tags: img.familiar_tags(),
        repo_digests: img.familiar_digests(),
        created: img.created.map(|c| c.timestamp()).unwrap_or(0),
        size: img.size,
        shared_size: -1,
        labels: labels_map(img),
        containers: -1,
        manifests: None,
        descriptor: None,
    }
}

/// Go's zero time, which dockerd prints for an image never tagged.
fn zero_time() -> DateTime<Utc> {
    DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or_default()
}

fn inspect(img: &Image) -> m::ImageInspect {
    let cfg = &img.config;
    let comment = cfg
        .comment
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| cfg.history.last().and_then(|h| h.comment.clone()))
        .unwrap_or_default();
    let lower = img.lower_dirs();
    let mut data = HashMap::new();
    if let Some((upper, rest)) = lower.split_first() {
        data.insert("UpperDir".to_string(), upper.display().to_string());
        if !rest.is_empty() {
            let joined: Vec<String> = rest.iter().map(|p| p.display().to_string()).collect();
            data.insert("LowerDir".to_string(), joined.join(":"));
        }
    }
    m::ImageInspect {
        id: Some(img.id.clone()),
        repo_tags: Some(img.familiar_tags()),
        repo_digests: Some(img.familiar_digests()),
        comment: Some(comment),
        created: img.created,
        author: Some(cfg.author.clone().unwrap_or_default()),
        config: Some(image_config(
            cfg.config.as_ref().cloned().unwrap_or_default(),
        )),
        architecture: Some(cfg.architecture.clone()),
        variant: cfg.variant.clone(),
        os: Some(cfg.os.clone()),
        os_version: cfg.os_version.clone(),
        size: Some(img.size),
        graph_driver: Some(m::DriverData {
            name: "overlay2".into(),
            data,
        }),
        root_fs: Some(m::ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(cfg.rootfs.diff_ids.clone()),
        }),
        metadata: Some(m::ImageInspectMetadata {
            last_tag_time: Some(img.last_tag_time.unwrap_or_else(zero_time)),
        }),
        ..Default::default()
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn health(h: &HealthConfig) -> m::HealthConfig {
    let opt = |n: i64| (n != 0).then_some(n);
    m::HealthConfig {
        test: non_empty(h.test.clone()),
        interval: opt(h.interval),
        timeout: opt(h.timeout),
        retries: opt(h.retries),
        start_period: opt(h.start_period),
        start_interval: opt(h.start_interval),
    }
}

/// The image's run config as the `Config` of `docker image inspect`.
fn image_config(rc: RunConfig) -> m::ImageConfig {
    m::ImageConfig {
        user: Some(rc.user),
        exposed_ports: non_empty(rc.exposed_ports.into_keys().collect()),
        env: non_empty(rc.env),
        cmd: rc.cmd,
        healthcheck: rc.healthcheck.as_ref().map(health),
        args_escaped: rc.args_escaped.then_some(true),
        volumes: non_empty(rc.volumes.into_keys().collect()),
        working_dir: Some(rc.working_dir),
        entrypoint: rc.entrypoint,
        on_build: non_empty(rc.on_build),
        labels: (!rc.labels.is_empty()).then(|| rc.labels.into_iter().collect()),
        stop_signal: (!rc.stop_signal.is_empty()).then_some(rc.stop_signal),
        shell: non_empty(rc.shell),
    }
}

/// The image's run config as the image side of a container config merge.
fn container_config(rc: &RunConfig) -> m::ContainerConfig {
    let rc = rc.clone();
    m::ContainerConfig {
        user: (!rc.user.is_empty()).then_some(rc.user),
        exposed_ports: non_empty(rc.exposed_ports.into_keys().collect()),
        env: non_empty(rc.env),
        cmd: rc.cmd,
        healthcheck: rc.healthcheck.as_ref().map(health),
        args_escaped: rc.args_escaped.then_some(true),
        volumes: non_empty(rc.volumes.into_keys().collect()),
        working_dir: (!rc.working_dir.is_empty()).then_some(rc.working_dir),
        entrypoint: rc.entrypoint,
        on_build: non_empty(rc.on_build),
        labels: (!rc.labels.is_empty()).then(|| rc.labels.into_iter().collect()),
        stop_signal: (!rc.stop_signal.is_empty()).then_some(rc.stop_signal),
        shell: non_empty(rc.shell),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_errdefs::HasKind;

    fn import(images: &Images, tar: Vec<u8>, repo: &str, changes: &[&str]) -> String {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // Split the body in small chunks, as a client would send it.
        let chunks: Vec<io::Result<Bytes>> = tar
            .chunks(700)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let req = ImportRequest {
            body: futures_util::stream::iter(chunks).boxed(),
            repo: Some(repo.to_string()),
            tag: None,
            message: None,
            changes: changes.iter().map(|s| s.to_string()).collect(),
        };
        rt.block_on(images.import(req)).unwrap()
    }

    /// A one-file ustar archive (`bin/sh`, 5 bytes), written by hand: the engine has no tar
    /// dependency.
    fn rootfs() -> Vec<u8> {
        let data = b"shell";
        let mut h = [0u8; 512];
        let mut put = |at: usize, s: &str| h[at..at + s.len()].copy_from_slice(s.as_bytes());
        put(0, "bin/sh");
        put(100, "0000755\0");
        put(108, "0000000\0");
        put(116, "0000000\0");
        put(124, &format!("{:011o}\0", data.len()));
        put(136, "00000000000\0");
        put(148, "        ");
        put(156, "0");
        put(257, "ustar\0");
        put(263, "00");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let mut out = h.to_vec();
        out.extend_from_slice(data);
        out.resize(1024 + 1024, 0);
        out
    }

    /// A temporary directory removed on drop (the engine has no tempfile dependency).
    struct TmpDir(PathBuf);

    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn images() -> (TmpDir, Images) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-engine-images-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = TmpDir(dir);
        let db = berth_metadata::Store::open(&tmp.0.join("metadata.db")).unwrap();
        let images = Images::open(&tmp.0.join("image"), db).unwrap();
        (tmp, images)
    }

    #[test]
    fn import_inspect_list_history_remove_answer_like_dockerd() {
        let (_tmp, images) = images();
        let id = import(
            &images,
            rootfs(),
            "app:1",
            &[r#"CMD ["sh"]"#, "EXPOSE 80", "LABEL a=b"],
        );
        assert!(id.starts_with("sha256:"));

        let inspect = serde_json::to_value(images.inspect("app:1").unwrap()).unwrap();
        assert_eq!(inspect["Id"], id);
        assert_eq!(inspect["RepoTags"], serde_json::json!(["app:1"]));
        assert_eq!(inspect["RepoDigests"], serde_json::json!([]));
        assert_eq!(inspect["Comment"], DEFAULT_IMPORT_MESSAGE);
        assert_eq!(inspect["Os"], "linux");
        assert_eq!(inspect["Config"]["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(
            inspect["Config"]["ExposedPorts"],
            serde_json::json!({"80/tcp": {}})
        );
        assert_eq!(inspect["Config"]["Labels"], serde_json::json!({"a": "b"}));
        assert_eq!(inspect["RootFS"]["Type"], "layers");
        assert_eq!(inspect["Size"], 5);
        assert_eq!(inspect["GraphDriver"]["Name"], "overlay2");

        let list =
            serde_json::to_value(images.list(false, Filters::new(), false).unwrap()).unwrap();
        assert_eq!(list[0]["Id"], id);
        assert_eq!(list[0]["RepoTags"], serde_json::json!(["app:1"]));
        assert_eq!(list[0]["Containers"], -1);
        assert_eq!(list[0]["SharedSize"], -1);
        assert_eq!(list[0]["ParentId"], "");

        let hist = serde_json::to_value(images.history(&id[7..19]).unwrap()).unwrap();
        assert_eq!(hist[0]["Id"], id);
        assert_eq!(hist[0]["Comment"], DEFAULT_IMPORT_MESSAGE);
        assert_eq!(hist[0]["CreatedBy"], "");

        let c = images.for_container("app:1").unwrap();
        assert_eq!(c.id, id);
        assert_eq!(c.config.unwrap().cmd, Some(vec!["sh".to_string()]));
        assert!(images.lower_dirs(&c.id).unwrap()[0].join("bin/sh").exists());

        images.tag("app:1", "other", None).unwrap();
        let none = |_: &str| None::<String>;
        let out =
            serde_json::to_value(images.remove("other", false, false, &none).unwrap()).unwrap();
        assert_eq!(out, serde_json::json!([{"Untagged": "other:latest"}]));
        let err = images
            .remove("app:1", false, false, &|_: &str| Some("c".repeat(64)))
            .unwrap_err();
        assert_eq!(err.kind(), berth_errdefs::Kind::Conflict);
        let out =
            serde_json::to_value(images.remove("app:1", false, false, &none).unwrap()).unwrap();
        assert_eq!(out[0], serde_json::json!({"Untagged": "app:1"}));
        assert_eq!(out[1], serde_json::json!({"Deleted": id}));
        assert_eq!(
            images.inspect(&id).unwrap_err().message(),
            format!("No such image: {id}")
        );
    }

    #[test]
    fn import_errors_keep_their_kinds() {
        let (_tmp, images) = images();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let req = |repo: &str, changes: Vec<String>, body: Vec<io::Result<Bytes>>| ImportRequest {
            body: futures_util::stream::iter(body).boxed(),
            repo: Some(repo.into()),
            tag: None,
            message: None,
            changes,
        };
        let e = rt
            .block_on(images.import(req("Bad", vec![], vec![])))
            .unwrap_err();
        assert_eq!(e.kind(), berth_errdefs::Kind::InvalidArgument);
        let e = rt
            .block_on(images.import(req("ok", vec!["RUN x".into()], vec![])))
            .unwrap_err();
        assert_eq!(e.message(), "run is not a valid change command");
        let body = vec![
            Ok(Bytes::from_static(&[0u8; 10])),
            Err(io::Error::other("client went away")),
        ];
        let e = rt
            .block_on(images.import(req("ok", vec![], body)))
            .unwrap_err();
        assert_eq!(e.kind(), berth_errdefs::Kind::InvalidArgument);
        assert_eq!(images.count(), 0);
    }

    #[test]
    fn history_and_parent_follow_the_commit_chain() {
        let (_tmp, images) = images();
        let base = import(&images, rootfs(), "base", &[]);
        // A child as a commit of an unchanged container makes it: one more history entry.
        let parent_raw = images.store().get(&base).unwrap().raw_config;
        let cc = m::ContainerConfig { cmd: Some(vec!["sh".into()]), ..Default::default() };
        let child_config = crate::commit::Commit {
            container_id: "c0ffee",
            container_config: &cc,
            config: &cc,
            author: "",
            comment: "",
            diff_id: None,
            created: "2025-01-01T00:00:00Z",
        };
        let raw = crate::commit::image_config(parent_raw.as_bytes(), &child_config).unwrap();
        let tag = berth_reference::Reference::parse_normalized("child").unwrap();
        let child = images.store().create_image(&raw, &[tag], &[]).unwrap().id;
        assert_eq!(images.parent("child").unwrap(), "");
        let ids = |name: &str| -> Vec<(String, Vec<String>)> {
            images.history(name).unwrap().into_iter().map(|h| (h.id, h.tags)).collect()
        };
        assert_eq!(ids("child")[1].0, "<missing>");

        images.set_parent(&child, &base).unwrap();
        assert_eq!(images.parent("child").unwrap(), base);
        assert_eq!(images.parent(&base).unwrap(), "");
        assert_eq!(
            ids("child"),
            vec![(child.clone(), vec!["child:latest".to_string()]), (base.clone(), vec!["base:latest".to_string()])]
        );

        // A parent with a child: refused by id (even with force), only untagged by reference.
        let none = |_: &str| None::<String>;
        for force in [false, true] {
            let e = images.remove(&base, force, false, &none).unwrap_err();
            assert_eq!(e.kind(), berth_errdefs::Kind::Conflict);
            assert_eq!(
                e.message(),
                format!("conflict: unable to delete {} (cannot be forced) - image has dependent child images", &base[7..19])
            );
        }
        let items = serde_json::to_value(images.remove("base", false, false, &none).unwrap()).unwrap();
        assert_eq!(items, serde_json::json!([{"Untagged": "base:latest"}]));
        assert_eq!(images.parent("child").unwrap(), base);
        assert_eq!(ids("child")[1], (base.clone(), vec![]));

        // Deleting the child prunes the untagged parent (unless noprune); deleted images
        // forget their parents.
        let items = images.remove("child", false, false, &none).unwrap();
        let deleted: Vec<String> = items
            .iter()
            .filter_map(|i| i.deleted.clone())
            .filter(|d| *d == child || *d == base)
            .collect();
        assert_eq!(deleted, vec![child.clone(), base.clone()]);
        assert_eq!(images.count(), 0);
        assert_eq!(images.db.get::<String>(PARENTS, &child).unwrap(), None);
    }

    #[test]
    fn prune_and_df_shapes() {
        let (_tmp, images) = images();
        let id = import(&images, rootfs(), "app", &[]);
        images.tag("app", "app", Some("2")).unwrap();
        let usage = images.df(&|i| if i == id { 2 } else { 0 }).unwrap();
        assert_eq!(usage.layers_size, 5);
        assert_eq!(usage.images[0].containers, 2);
        assert_eq!(usage.images[0].shared_size, 0);
        let none = |_: &str| None::<String>;
        let r = images.prune(Filters::new(), &none).unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"SpaceReclaimed": 0})
        );
        let all: Filters = [("dangling".to_string(), vec!["false".to_string()])].into();
        let r = images.prune(all, &none).unwrap();
        assert_eq!(r.space_reclaimed, Some(5));
        assert_eq!(
            r.images_deleted.unwrap().len(),
            4,
            "two untags, the image, its layer"
        );
        let bad: Filters = [("bogus".to_string(), vec![])].into();
        assert_eq!(
            images.prune(bad, &none).unwrap_err().message(),
            "invalid filter 'bogus'"
        );
    }
}
