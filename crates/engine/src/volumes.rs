//! Volumes: records, the `local` driver and volume plugins, and how containers use them.
//!
//! Words: a *volume* is a record in the `volumes` table (name, driver, labels, options) plus
//! what its driver keeps (`<data-root>/volumes/<name>/_data` for `local`). A container's
//! *mount points* ([`MountPoint`], in its record) are resolved once, at create, from
//! `VolumesFrom`, `Binds`, `Mounts` and the config's `Volumes` (moby's `registerMountPoints`
//! order: later forms override earlier ones at the same destination; the config's volumes only
//! fill destinations nothing else took, as anonymous volumes). A volume is *in use* while any
//! container, running or not, has a mount point on it.
//!
//! At start every volume mount point is *mounted* through its driver (local volumes with
//! `type`/`device`/`o` options get mount(2) on their first user, plugins get
//! `VolumeDriver.Mount` with the container id) and an empty volume receives the image's content
//! at its destination (copy-up, unless `nocopy`); at exit it is unmounted again.
//!
//! Architecture invariant: driver work (directories, mount(2), plugin calls) lives in
//! `berth-volume`; this module decides which volume, when, and for whom.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use berth_api::models as m;
use berth_errdefs::{Error, HasKind, Kind, Result};
use berth_volume::local::{Local, MountOptions};
use berth_volume::plugin::{Dirs, Plugin};
use berth_volume::spec::{self as vspec, Kind as MountKind};
use serde::{Deserialize, Serialize};

use crate::containers::{self, Container, Record};
use crate::service::{Filters, VolumeBackend};
use crate::{Config, Engine};

/// The metadata table of volume records.
const TABLE: berth_metadata::Table = berth_metadata::Table::new("volumes");

/// The label that marks a volume made for one container (`rm -v` and `prune` take them).
pub(crate) const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// The driver of volumes that name none.
const LOCAL: &str = "local";

fn kinded<E: HasKind>(e: E) -> Error {
    Error::from_kind(&e)
}

/// A volume error with Docker's `<op> <name>: ` prefix, kind kept.
fn op_err<'a, E: HasKind + std::fmt::Display>(op: &'a str, name: &'a str) -> impl FnOnce(E) -> Error + 'a {
    let op = op.to_string();
    move |e| Error::new(e.kind(), format!("{op} {name}: {e}"))
}

/// What is stored about a volume.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// RFC 3339, seconds.
    pub created_at: String,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub options: HashMap<String, String>,
}

impl VolumeRecord {
    fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// One mount of a container as it was resolved at create (moby's `MountPoint`), shown by
/// inspect as `Mounts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct MountPoint {
    /// `bind` or `volume`.
    pub typ: String,
    /// The volume's name (`""` for binds).
    pub name: String,
    /// The host path: a bind's source, a volume's data path (as last mounted).
    pub source: String,
    pub destination: String,
    pub driver: String,
    pub mode: String,
    pub rw: bool,
    pub propagation: String,
    /// Copy the image's content into the volume when it is empty at the next mount.
    pub copy_data: bool,
    /// A bind from `Binds`: a missing source is created at start.
    pub create_source: bool,
    /// A bind from `Mounts`: the runtime takes it from `HostConfig.Mounts` as given.
    pub from_mounts: bool,
    /// Made for this container: `rm -v` removes it.
    pub anonymous: bool,
}

impl MountPoint {
    fn is_volume(&self) -> bool {
        self.typ == "volume"
    }

    fn api(&self) -> m::MountPoint {
        m::MountPoint {
            typ: Some(self.typ.clone()),
            name: self.is_volume().then(|| self.name.clone()),
            source: Some(self.source.clone()),
            destination: Some(self.destination.clone()),
            driver: self.is_volume().then(|| self.driver.clone()),
            mode: Some(self.mode.clone()),
            rw: Some(self.rw),
            propagation: Some(self.propagation.clone()),
        }
    }
}

/// A driver a volume lives in.
enum Driver {
    Local,
    Plugin(Plugin),
}

/// The daemon's volumes.
pub(crate) struct Volumes {
    local: Local,
    store: berth_metadata::Store,
    dirs: Dirs,
    /// Serialises create, remove and rename (a name is checked and taken atomically).
    lock: Mutex<()>,
    /// Containers that have each volume mounted now.
    users: Mutex<HashMap<String, HashSet<String>>>,
    plugins: Mutex<HashMap<String, Plugin>>,
}

impl Volumes {
    /// Open the volume records under the data root.
    pub(crate) fn open(cfg: &Config, store: berth_metadata::Store) -> Result<Volumes> {
        let root = cfg.data_root.join("volumes");
        std::fs::create_dir_all(&root).map_err(|e| Error::internal(format!("create {}: {e}", root.display())))?;
        Ok(Volumes {
            local: Local::new(root),
            store,
            dirs: Dirs::default(),
            lock: Mutex::new(()),
            users: Mutex::new(HashMap::new()),
            plugins: Mutex::new(HashMap::new()),
        })
    }

    fn get(&self, name: &str) -> Result<Option<VolumeRecord>> {
        self.store.get(TABLE, name).map_err(kinded)
    }

    fn all(&self) -> Result<Vec<VolumeRecord>> {
        Ok(self.store.list::<VolumeRecord>(TABLE).map_err(kinded)?.into_iter().map(|(_, v)| v).collect())
    }

    fn driver(&self, name: &str) -> std::result::Result<Driver, berth_volume::Error> {
        if name.is_empty() || name == LOCAL {
            return Ok(Driver::Local);
        }
        if let Some(p) = self.plugins.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(Driver::Plugin(p.clone()));
        }
        let p = Plugin::connect(name, &self.dirs)?;
        self.plugins.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), p.clone());
        Ok(Driver::Plugin(p))
    }

    /// Create a volume (an existing one of that name is returned as it is). Returns the
    /// record and whether it was made now.
    fn create(&self, name: &str, driver: &str, opts: HashMap<String, String>, labels: HashMap<String, String>) -> Result<(VolumeRecord, bool)> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = self.get(name)? {
            // No driver asked for: whatever driver the volume has.
            if !driver.is_empty() && v.driver != driver {
                return Err(Error::conflict(format!(
                    "create {name}: volume name must be unique: a volume named {name} already exists with driver {}",
                    v.driver
                )));
            }
            return Ok((v, false));
        }
        let driver = if driver.is_empty() { LOCAL } else { driver };
        match self.driver(driver).map_err(op_err("create", name))? {
            Driver::Local => {
                berth_volume::validate_local_name(name).map_err(op_err("create", name))?;
                MountOptions::from_driver_opts(&opts).map_err(op_err("create", name))?;
                self.local.create(name).map_err(op_err("create", name))?;
            }
            Driver::Plugin(p) => p.create(name, &opts).map_err(op_err("create", name))?,
        }
        let now = chrono::Utc::now();
        let rec = VolumeRecord {
            name: name.to_string(),
            driver: driver.to_string(),
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            options: opts,
        };
        if let Err(e) = self.store.write(|tx| tx.put(TABLE, name, &rec)) {
            let _ = self.driver_remove(&rec);
            return Err(kinded(e));
        }
        Ok((rec, true))
    }

    fn driver_remove(&self, v: &VolumeRecord) -> Result<()> {
        match self.driver(&v.driver).map_err(op_err("remove", &v.name))? {
            Driver::Local => self.local.remove(&v.name).map_err(op_err("remove", &v.name)),
            Driver::Plugin(p) => p.remove(&v.name).map_err(op_err("remove", &v.name)),
        }
    }

    /// The host path of a volume: where it is (or would be) mounted.
    fn path(&self, v: &VolumeRecord) -> String {
        match self.driver(&v.driver) {
            Ok(Driver::Local) => self.local.data_path(&v.name).display().to_string(),
            Ok(Driver::Plugin(p)) => p.path(&v.name).or_else(|_| p.get(&v.name).map(|g| g.mountpoint)).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    fn api(&self, v: &VolumeRecord, usage: Option<m::VolumeUsageData>) -> m::Volume {
        m::Volume {
            name: v.name.clone(),
            driver: v.driver.clone(),
            mountpoint: self.path(v),
            created_at: chrono::DateTime::parse_from_rfc3339(&v.created_at).ok().map(|d| d.with_timezone(&chrono::Utc)),
            status: None,
            labels: v.labels.clone(),
            scope: Some(m::VolumeScopeEnum::LOCAL),
            cluster_volume: None,
            options: v.options.clone(),
            usage_data: usage,
        }
    }

    /// Mount `v` for container `id`; the host path to bind.
    fn mount(&self, v: &VolumeRecord, id: &str) -> Result<String> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let set = users.entry(v.name.clone()).or_default();
        let path = match self.driver(&v.driver).map_err(op_err("mount", &v.name))? {
            Driver::Local => {
                let opts = MountOptions::from_driver_opts(&v.options).map_err(op_err("mount", &v.name))?;
                // Mounted by its first user only; later users share it.
                let opts = if set.is_empty() { opts } else { None };
                self.local.mount(&v.name, opts.as_ref()).map_err(op_err("mount", &v.name))?.display().to_string()
            }
            Driver::Plugin(p) => p.mount(&v.name, id).map_err(op_err("mount", &v.name))?,
        };
        set.insert(id.to_string());
        Ok(path)
    }

    /// Undo [`Volumes::mount`] for container `id` (a volume it has not mounted is left alone).
    fn unmount(&self, v: &VolumeRecord, id: &str) -> Result<bool> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let Some(set) = users.get_mut(&v.name) else { return Ok(false) };
        if !set.remove(id) {
            return Ok(false);
        }
        let last = set.is_empty();
        if last {
            users.remove(&v.name);
        }
        match self.driver(&v.driver).map_err(op_err("unmount", &v.name))? {
            Driver::Local if last => {
                let opts = MountOptions::from_driver_opts(&v.options).map_err(op_err("unmount", &v.name))?;
                self.local.unmount(&v.name, opts.as_ref()).map_err(op_err("unmount", &v.name))?;
            }
            Driver::Local => {}
            Driver::Plugin(p) => p.unmount(&v.name, id).map_err(op_err("unmount", &v.name))?,
        }
        Ok(true)
    }

    /// Record that running container `id` has `name` mounted (after a berthd restart).
    fn adopt(&self, name: &str, id: &str) {
        self.users.lock().unwrap_or_else(|p| p.into_inner()).entry(name.to_string()).or_default().insert(id.to_string());
    }
}

/// Does volume `v` pass the list filters? `in_use`: some container has a mount point on it.
pub(crate) fn list_filter_matches(v: &VolumeRecord, in_use: bool, filters: &Filters) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| filters.get(key).is_none_or(|vs| vs.is_empty() || vs.iter().any(|x| pred(x)));
    any("name", &|x| v.name.contains(x))
        && any("driver", &|x| v.driver == x)
        && any("dangling", &|x| matches!(x, "true" | "1") != in_use)
        && filters.get("label").is_none_or(|ls| ls.iter().all(|l| crate::backend::label_matches(&v.labels, l)))
        && filters.get("label!").is_none_or(|ls| !ls.iter().any(|l| crate::backend::label_matches(&v.labels, l)))
}

/// Refuse filter keys and values `GET /volumes` does not know (Docker's messages).
pub(crate) fn check_list_filters(filters: &Filters) -> Result<()> {
    for (k, vs) in filters {
        if !["dangling", "driver", "label", "label!", "name"].contains(&k.as_str()) {
            return Err(Error::invalid(format!("invalid filter '{k}'")));
        }
        if k == "dangling" {
            if let Some(bad) = vs.iter().find(|v| !matches!(v.as_str(), "true" | "false" | "1" | "0")) {
                return Err(Error::invalid(format!("invalid filter 'dangling={bad}'")));
            }
        }
    }
    Ok(())
}

/// The HostConfig the spec is built from: named and anonymous volumes resolved to host paths.
pub(crate) fn spec_host_config(engine: &Engine, rec: &Record) -> Result<m::HostConfig> {
    let mut hc = rec.host_config.clone();
    // Mounts of type bind and tmpfs go to the runtime as given; volumes become binds.
    hc.mounts = hc.mounts.map(|ms| ms.into_iter().filter(|m| m.typ != Some(m::MountType::VOLUME)).collect());
    let mut binds = Vec::new();
    for mp in &rec.mounts {
        if mp.from_mounts {
            continue;
        }
        let source = if mp.is_volume() {
            let v = engine.volumes.get(&mp.name)?.ok_or_else(|| Error::not_found(format!("get {}: no such volume", mp.name)))?;
            let p = if mp.source.is_empty() { engine.volumes.path(&v) } else { mp.source.clone() };
            if p.is_empty() {
                return Err(Error::internal(format!("volume {} has no mount point", mp.name)));
            }
            p
        } else {
            if mp.create_source && std::fs::symlink_metadata(&mp.source).is_err() {
                std::fs::create_dir_all(&mp.source)
                    .map_err(|e| Error::invalid(format!("error while creating mount source path '{}': mkdir {}: {e}", mp.source, mp.source)))?;
            }
            mp.source.clone()
        };
        let mut opts = vec![if mp.rw { "rw" } else { "ro" }.to_string()];
        if !mp.propagation.is_empty() {
            opts.push(mp.propagation.clone());
        }
        binds.push(format!("{source}:{}:{}", mp.destination, opts.join(",")));
    }
    hc.binds = Some(binds);
    Ok(hc)
}

impl Engine {
    /// Ids of the containers with a mount point on volume `name`.
    fn volume_users(&self, name: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .all()
            .iter()
            .map(|c| c.record())
            .filter(|r| r.mounts.iter().any(|mp| mp.is_volume() && mp.name == name))
            .map(|r| r.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// How many containers use each volume.
    fn volume_ref_counts(&self) -> HashMap<String, i64> {
        let mut out: HashMap<String, i64> = HashMap::new();
        for c in self.all() {
            let names: HashSet<String> = c.record().mounts.iter().filter(|mp| mp.is_volume()).map(|mp| mp.name.clone()).collect();
            for n in names {
                *out.entry(n).or_default() += 1;
            }
        }
        out
    }

    fn emit_volume(&self, action: &str, name: &str, attrs: &[(&str, String)]) {
        let a: HashMap<String, String> = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        self.events.emit(m::EventMessageTypeEnum::VOLUME, action, name, a);
    }

    /// Create a volume and announce it when it is new.
    fn create_volume(&self, name: &str, driver: &str, opts: HashMap<String, String>, labels: HashMap<String, String>) -> Result<VolumeRecord> {
        let (v, made) = self.volumes.create(name, driver, opts, labels)?;
        if made {
            self.emit_volume("create", &v.name, &[("driver", v.driver.clone())]);
        }
        Ok(v)
    }

    fn remove_volume_record(&self, v: &VolumeRecord) -> Result<()> {
        self.volumes.driver_remove(v)?;
        self.store.write(|tx| tx.delete(TABLE, &v.name).map(|_| ())).map_err(kinded)?;
        self.emit_volume("destroy", &v.name, &[("driver", v.driver.clone())]);
        Ok(())
    }

    /// A volume mount point for `req` (a named volume is created when missing; an empty name
    /// makes an anonymous volume).
    fn volume_mount_point(&self, req: &vspec::Request, default_driver: &str, made: &mut Vec<VolumeRecord>) -> Result<MountPoint> {
        let anonymous = req.source.is_empty();
        let name = if anonymous { berth_volume::anonymous_name() } else { req.source.clone() };
        let driver = if req.driver.is_empty() { default_driver } else { req.driver.as_str() };
        let mut labels = req.labels.clone();
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let v = self.create_volume(&name, driver, req.driver_opts.clone(), labels)?;
        if anonymous {
            made.push(v.clone());
        }
        let mut mode = req.mode.clone();
        if req.from_binds && v.driver == LOCAL && mode.is_empty() {
            mode = "z".into();
        }
        Ok(MountPoint {
            typ: "volume".into(),
            name: v.name.clone(),
            source: if v.driver == LOCAL { self.volumes.path(&v) } else { String::new() },
            destination: req.destination.clone(),
            driver: v.driver.clone(),
            mode,
            rw: req.rw,
            propagation: String::new(),
            copy_data: req.copy_data,
            create_source: false,
            from_mounts: false,
            anonymous,
        })
    }

    /// Resolve a new container's mount points (moby's `registerMountPoints` and the config's
    /// volumes): creates the volumes it names and anonymous ones. On error nothing it made is
    /// left behind.
    pub(crate) fn prepare_mounts(&self, config: &m::ContainerConfig, hc: &m::HostConfig) -> Result<Vec<MountPoint>> {
        let mut made: Vec<VolumeRecord> = Vec::new();
        let res = self.prepare_mounts_inner(config, hc, &mut made);
        if res.is_err() {
            for v in made {
                let _ = self.remove_volume_record(&v);
            }
        }
        res
    }

    fn prepare_mounts_inner(&self, config: &m::ContainerConfig, hc: &m::HostConfig, made: &mut Vec<VolumeRecord>) -> Result<Vec<MountPoint>> {
        let bad = |e: berth_volume::Error| Error::invalid(e.to_string());
        let volume_driver = hc.volume_driver.clone().unwrap_or_default();
        // Parse everything before creating anything.
        let mut from: Vec<(Arc<Container>, String)> = Vec::new();
        for spec in hc.volumes_from.iter().flatten() {
            let (key, mode) = vspec::parse_volumes_from(spec).map_err(bad)?;
            from.push((self.get(&key)?, mode));
        }
        let binds: Vec<vspec::Request> = hc.binds.iter().flatten().map(|b| vspec::parse_bind(b, &volume_driver)).collect::<std::result::Result<_, _>>().map_err(bad)?;
        let mounts: Vec<vspec::Request> = hc.mounts.iter().flatten().map(vspec::parse_mount).collect::<std::result::Result<_, _>>().map_err(bad)?;
        let mut seen = HashSet::new();
        for r in &binds {
            if !seen.insert(r.destination.clone()) {
                return Err(Error::invalid(format!("Duplicate mount point: {}", r.destination)));
            }
        }
        for r in &mounts {
            if !seen.insert(r.destination.clone()) {
                return Err(Error::invalid(format!("Duplicate mount point: {}", r.destination)));
            }
            if r.kind == MountKind::Bind && std::fs::symlink_metadata(&r.source).is_err() {
                return Err(Error::invalid(format!("invalid mount config for type \"bind\": bind source path does not exist: {}", r.source)));
            }
        }

        let mut points: BTreeMap<String, MountPoint> = BTreeMap::new();
        for (c, mode) in from {
            for mp in c.record().mounts.clone() {
                // The copy is this container's: its Binds, not the other's Mounts, carry it.
                let cp = MountPoint {
                    rw: mp.rw && vspec::mode_is_rw(&mode),
                    mode: String::new(),
                    copy_data: false,
                    anonymous: false,
                    from_mounts: false,
                    create_source: false,
                    ..mp
                };
                points.insert(cp.destination.clone(), cp);
            }
        }
        for r in binds {
            let mp = match r.kind {
                MountKind::Volume => self.volume_mount_point(&r, &volume_driver, made)?,
                _ => MountPoint {
                    typ: "bind".into(),
                    source: r.source.clone(),
                    destination: r.destination.clone(),
                    mode: r.mode.clone(),
                    rw: r.rw,
                    propagation: r.propagation.clone(),
                    create_source: true,
                    ..MountPoint::default()
                },
            };
            points.insert(mp.destination.clone(), mp);
        }
        for r in mounts {
            let mp = match r.kind {
                MountKind::Volume => self.volume_mount_point(&r, "", made)?,
                MountKind::Bind => MountPoint {
                    typ: "bind".into(),
                    source: r.source.clone(),
                    destination: r.destination.clone(),
                    rw: r.rw,
                    propagation: r.propagation.clone(),
                    from_mounts: true,
                    ..MountPoint::default()
                },
                MountKind::Tmpfs => {
                    // The runtime mounts it; it only hides what an earlier form put there.
                    points.remove(&r.destination);
                    continue;
                }
            };
            points.insert(mp.destination.clone(), mp);
        }
        let tmpfs: HashSet<String> = hc.tmpfs.iter().flatten().map(|(d, _)| vspec::clean_path(d)).collect();
        let mut wanted: Vec<&String> = config.volumes.iter().flatten().collect();
        wanted.sort();
        for dest in wanted {
            let dest = vspec::clean_path(dest);
            if points.contains_key(&dest) || tmpfs.contains(&dest) || !dest.starts_with('/') {
                continue;
            }
            let req = vspec::Request { kind: MountKind::Volume, destination: dest.clone(), rw: true, copy_data: true, ..Default::default() };
            let mut mp = self.volume_mount_point(&req, &volume_driver, made)?;
            mp.mode = String::new();
            points.insert(dest, mp);
        }
        Ok(points.into_values().collect())
    }

    /// Mount a starting container's volumes through their drivers and copy the image's
    /// content into empty ones. On error the ones mounted so far are unmounted.
    pub(crate) fn mount_volumes(&self, c: &Container) -> Result<()> {
        let rec = c.record();
        let mut done: Vec<VolumeRecord> = Vec::new();
        let mut updated = rec.mounts.clone();
        let res = (|| -> Result<()> {
            for mp in updated.iter_mut().filter(|mp| mp.is_volume()) {
                let v = self.volumes.get(&mp.name)?.ok_or_else(|| Error::not_found(format!("get {}: no such volume", mp.name)))?;
                let path = self.volumes.mount(&v, &rec.id)?;
                done.push(v.clone());
                mp.source = path.clone();
                let mut copied = false;
                if mp.copy_data {
                    let dest = PathBuf::from(&path);
                    if berth_volume::copyup::is_empty_dir(&dest) {
                        let mut layers = vec![containers::container_dir(&self.cfg.data_root, &rec.id).join("upper")];
                        layers.extend(self.images.lower_dirs(&rec.image_id)?);
                        berth_volume::copyup::copy_up(&layers, &mp.destination, &dest).map_err(op_err("copy image content into volume", &mp.name))?;
                        copied = true;
                    }
                    mp.copy_data = false;
                }
                // A remapped container's root owns its local volumes, as with dockerd.
                let remapped = rec.host_config.userns_mode.as_deref() != Some("host");
                if let (true, "local", Some(maps)) = (remapped, v.driver.as_str(), crate::userns::id_mappings(self)) {
                    crate::userns::remap_volume(&maps, std::path::Path::new(&path), copied)
                        .map_err(|e| Error::internal(format!("hand volume {} to the remapped root: {e}", mp.name)))?;
                }
                self.emit_volume(
                    "mount",
                    &v.name,
                    &[
                        ("container", rec.id.clone()),
                        ("destination", mp.destination.clone()),
                        ("driver", v.driver.clone()),
                        ("propagation", mp.propagation.clone()),
                        ("read/write", mp.rw.to_string()),
                    ],
                );
            }
            Ok(())
        })();
        if let Err(e) = res {
            for v in done {
                let _ = self.volumes.unmount(&v, &rec.id);
            }
            return Err(e);
        }
        c.update(|r| r.mounts = updated);
        Ok(())
    }

    /// Unmount a stopped container's volumes (those it has mounted).
    pub(crate) fn unmount_volumes(&self, rec: &Record) {
        for mp in rec.mounts.iter().filter(|mp| mp.is_volume()) {
            let Ok(Some(v)) = self.volumes.get(&mp.name) else { continue };
            match self.volumes.unmount(&v, &rec.id) {
                Ok(true) => self.emit_volume("unmount", &v.name, &[("container", rec.id.clone()), ("driver", v.driver.clone())]),
                Ok(false) => {}
                Err(e) => tracing::warn!(volume = %v.name, container = %rec.id, "unmount: {e}"),
            }
        }
    }

    /// A running container found after a berthd restart keeps its volumes mounted.
    pub(crate) fn adopt_volumes(&self, rec: &Record) {
        for mp in rec.mounts.iter().filter(|mp| mp.is_volume()) {
            self.volumes.adopt(&mp.name, &rec.id);
        }
    }

    /// A removed container's volumes: with `remove_anonymous` (`rm -v`) its anonymous volumes
    /// go too, unless another container still uses them.
    pub(crate) fn release_volumes(&self, rec: &Record, remove_anonymous: bool) {
        self.unmount_volumes(rec);
        if !remove_anonymous {
            return;
        }
        for mp in rec.mounts.iter().filter(|mp| mp.is_volume() && mp.anonymous) {
            if !self.volume_users(&mp.name).iter().all(|id| *id == rec.id) {
                continue;
            }
            if let Ok(Some(v)) = self.volumes.get(&mp.name) {
                let _g = self.volumes.lock.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = self.remove_volume_record(&v) {
                    tracing::warn!(volume = %v.name, "remove anonymous volume: {e}");
                }
            }
        }
    }

    /// Inspect's `Mounts` of a container.
    pub(crate) fn mount_points(&self, rec: &Record) -> Vec<m::MountPoint> {
        rec.mounts.iter().map(MountPoint::api).collect()
    }

    /// Does the container have a mount of volume `name` or at destination `name`
    /// (`ps --filter volume=`)?
    pub(crate) fn uses_volume(rec: &Record, key: &str) -> bool {
        let dest = vspec::clean_path(key);
        rec.mounts.iter().any(|mp| (mp.is_volume() && mp.name == key) || mp.destination == dest)
    }

    /// `/system/df` volumes, with `UsageData`.
    pub(crate) fn volume_usage(&self) -> Result<Vec<m::Volume>> {
        let refs = self.volume_ref_counts();
        let mut out = Vec::new();
        for v in self.volumes.all()? {
            let size = if v.driver == LOCAL { berth_volume::dir_size(&self.volumes.local.data_path(&v.name)) } else { -1 };
            let usage = m::VolumeUsageData { size, ref_count: refs.get(&v.name).copied().unwrap_or(0) };
            out.push(self.volumes.api(&v, Some(usage)));
        }
        Ok(out)
    }

    fn list_volumes(&self, filters: &Filters) -> Result<m::VolumeListResponse> {
        check_list_filters(filters)?;
        let refs = self.volume_ref_counts();
        let mut vols = Vec::new();
        for v in self.volumes.all()? {
            if list_filter_matches(&v, refs.contains_key(&v.name), filters) {
                vols.push(self.volumes.api(&v, None));
            }
        }
        vols.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(m::VolumeListResponse { volumes: Some(vols), warnings: None })
    }

    fn inspect_volume(&self, name: &str) -> Result<m::Volume> {
        let v = self.volumes.get(name)?.ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))?;
        Ok(self.volumes.api(&v, None))
    }

    fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let _g = self.volumes.lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(v) = self.volumes.get(name)? else {
            if force {
                return Ok(());
            }
            return Err(Error::not_found(format!("get {name}: no such volume")));
        };
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        self.remove_volume_record(&v)
    }

    fn prune_volumes(&self, filters: &Filters) -> Result<m::VolumePruneResponse> {
        for k in filters.keys() {
            if !["label", "label!", "all"].contains(&k.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{k}'")));
            }
        }
        let all = filters.get("all").is_some_and(|v| v.iter().any(|x| matches!(x.as_str(), "true" | "1")));
        let mut deleted = Vec::new();
        let mut reclaimed = 0i64;
        for v in self.volumes.all()? {
            if !all && !v.anonymous() {
                continue;
            }
            if !list_filter_matches(&v, false, &filters.iter().filter(|(k, _)| k.starts_with("label")).map(|(k, v)| (k.clone(), v.clone())).collect()) {
                continue;
            }
            let size = if v.driver == LOCAL { berth_volume::dir_size(&self.volumes.local.data_path(&v.name)) } else { 0 };
            match self.remove_volume(&v.name, false) {
                Ok(()) => {
                    deleted.push(v.name.clone());
                    reclaimed += size;
                }
                Err(e) if e.kind() == Kind::Conflict => {}
                Err(e) => tracing::warn!(volume = %v.name, "prune: {e}"),
            }
        }
        self.emit_volume("prune", "", &[("reclaimed", reclaimed.to_string())]);
        Ok(m::VolumePruneResponse { volumes_deleted: Some(deleted), space_reclaimed: Some(reclaimed) })
    }

    fn rename_volume(&self, name: &str, new_name: &str) -> Result<()> {
        let _g = self.volumes.lock.lock().unwrap_or_else(|p| p.into_inner());
        let v = self.volumes.get(name)?.ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))?;
        if v.driver != LOCAL {
            return Err(Error::not_implemented(format!("rename {name}: volumes of driver {} cannot be renamed", v.driver)));
        }
        berth_volume::validate_local_name(new_name).map_err(op_err("rename", name))?;
        if name == new_name {
            return Err(Error::invalid(format!("rename {name}: the new name is the current name")));
        }
        if self.volumes.get(new_name)?.is_some() {
            return Err(Error::conflict(format!("rename {name}: a volume named {new_name} already exists")));
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::conflict(format!("rename {name}: volume is in use - [{}]", users.join(", "))));
        }
        self.volumes.local.rename(name, new_name).map_err(op_err("rename", name))?;
        let mut nv = v.clone();
        nv.name = new_name.to_string();
        let res = self.store.write(|tx| {
            tx.delete(TABLE, name)?;
            tx.put(TABLE, new_name, &nv)
        });
        if let Err(e) = res {
            let _ = self.volumes.local.rename(new_name, name);
            return Err(kinded(e));
        }
        self.emit_volume("rename", new_name, &[("driver", v.driver.clone()), ("oldName", name.to_string())]);
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::internal(e.to_string()))?
}

#[async_trait]
impl VolumeBackend for Arc<Engine> {
    async fn volume_list(&self, filters: Filters) -> Result<m::VolumeListResponse> {
        let e = self.clone();
        blocking(move || e.list_volumes(&filters)).await
    }

    async fn volume_create(&self, req: m::VolumeCreateRequest) -> Result<m::Volume> {
        let e = self.clone();
        blocking(move || {
            let name = req.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(berth_volume::anonymous_name);
            let mut labels = req.labels.clone().unwrap_or_default();
            if req.name.as_deref().is_none_or(str::is_empty) {
                labels.insert(ANONYMOUS_LABEL.into(), String::new());
            }
            let v = e.create_volume(&name, req.driver.as_deref().unwrap_or(""), req.driver_opts.clone().unwrap_or_default(), labels)?;
            Ok(e.volumes.api(&v, None))
        })
        .await
    }

    async fn volume_inspect(&self, name: &str) -> Result<m::Volume> {
        let (e, name) = (self.clone(), name.to_string());
        blocking(move || e.inspect_volume(&name)).await
    }

    async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let (e, name) = (self.clone(), name.to_string());
        blocking(move || e.remove_volume(&name, force)).await
    }

    async fn volume_prune(&self, filters: Filters) -> Result<m::VolumePruneResponse> {
        let e = self.clone();
        blocking(move || e.prune_volumes(&filters)).await
    }

    async fn volume_rename(&self, name: &str, new_name: &str) -> Result<()> {
        let (e, name, new_name) = (self.clone(), name.to_string(), new_name.to_string());
        blocking(move || e.rename_volume(&name, &new_name)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, driver: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: driver.into(),
            created_at: String::new(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            options: HashMap::new(),
        }
    }

    fn f(pairs: &[(&str, &str)]) -> Filters {
        let mut out = Filters::new();
        for (k, v) in pairs {
            out.entry(k.to_string()).or_default().push(v.to_string());
        }
        out
    }

    #[test]
    fn list_filters_match_as_docker() {
        let data = vol("data", "local", &[("env", "prod"), ("team", "")]);
        let cases: &[(&[(&str, &str)], bool, bool)] = &[
            (&[], false, true),
            (&[("name", "at")], false, true),
            (&[("name", "xyz")], false, false),
            (&[("name", "xyz"), ("name", "dat")], false, true),
            (&[("driver", "local")], false, true),
            (&[("driver", "plug")], false, false),
            (&[("dangling", "true")], false, true),
            (&[("dangling", "true")], true, false),
            (&[("dangling", "false")], true, true),
            (&[("dangling", "0")], false, false),
            (&[("label", "env")], false, true),
            (&[("label", "env=prod")], false, true),
            (&[("label", "env=dev")], false, false),
            (&[("label", "env=prod"), ("label", "team")], false, true),
            (&[("label", "env=prod"), ("label", "other")], false, false),
            (&[("label!", "env=dev")], false, true),
            (&[("label!", "env")], false, false),
        ];
        for (pairs, in_use, want) in cases {
            assert_eq!(list_filter_matches(&data, *in_use, &f(pairs)), *want, "{pairs:?} in_use={in_use}");
        }
    }

    #[test]
    fn list_filter_keys_and_values_are_checked() {
        assert!(check_list_filters(&f(&[("name", "x"), ("dangling", "1"), ("label!", "a")])).is_ok());
        assert_eq!(check_list_filters(&f(&[("until", "1h")])).unwrap_err().message(), "invalid filter 'until'");
        assert_eq!(check_list_filters(&f(&[("dangling", "maybe")])).unwrap_err().message(), "invalid filter 'dangling=maybe'");
    }

    #[test]
    fn ps_volume_filter_matches_names_and_destinations() {
        let mut rec: Record = serde_json::from_value(serde_json::json!({
            "id": "c", "name": "/c", "created": "", "image_ref": "", "image_id": "", "config": {}, "host_config": {},
            "state": {"status": "created", "pid": 0, "exit_code": 0, "error": "", "started_at": "", "finished_at": "", "oom_killed": false, "health": null},
            "restart_count": 0, "manually_stopped": false, "path": "", "args": []
        }))
        .unwrap();
        rec.mounts = vec![
            MountPoint { typ: "volume".into(), name: "data".into(), destination: "/var/data".into(), ..MountPoint::default() },
            MountPoint { typ: "bind".into(), source: "/srv".into(), destination: "/srv".into(), ..MountPoint::default() },
        ];
        for (key, want) in [("data", true), ("/var/data", true), ("/var/data/", true), ("/srv", true), ("srv", false), ("other", false), ("/var", false)] {
            assert_eq!(Engine::uses_volume(&rec, key), want, "{key}");
        }
    }

    #[test]
    fn mount_points_show_as_docker() {
        let mp = MountPoint {
            typ: "volume".into(),
            name: "data".into(),
            source: "/var/lib/berth/volumes/data/_data".into(),
            destination: "/data".into(),
            driver: "local".into(),
            mode: "z".into(),
            rw: true,
            ..MountPoint::default()
        };
        let j = serde_json::to_value(mp.api()).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"Type": "volume", "Name": "data", "Source": "/var/lib/berth/volumes/data/_data", "Destination": "/data",
                "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""})
        );
        let b = MountPoint { typ: "bind".into(), source: "/srv".into(), destination: "/srv".into(), mode: "ro".into(), propagation: "rprivate".into(), ..MountPoint::default() };
        let j = serde_json::to_value(b.api()).unwrap();
        assert_eq!(j, serde_json::json!({"Type": "bind", "Source": "/srv", "Destination": "/srv", "Mode": "ro", "RW": false, "Propagation": "rprivate"}));
    }
}
