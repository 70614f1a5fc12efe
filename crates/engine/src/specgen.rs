//! From a container record to its OCI spec: gather what `berth_runtime::spec::build` needs
//! (user database of the image, per-container files, host facts) and call it.

use std::path::{Path, PathBuf};

use berth_errdefs::{Error, Result};
use berth_runtime::spec::{self, ContainerFiles, NetworkNamespace, SpecInput};
use berth_runtime::user;
use oci_spec::runtime::Spec;

use crate::containers::{container_dir, Record};
use crate::Engine;

/// Read `/etc/<name>` as the container would see it: the writable layer first, then the image
/// layers from the top.
fn read_layered(upper: &Path, lower: &[PathBuf], rel: &str) -> Option<String> {
    std::iter::once(upper).chain(lower.iter().map(PathBuf::as_path)).find_map(|d| std::fs::read_to_string(d.join(rel)).ok())
}

pub(crate) fn build(engine: &Engine, rec: &Record, rootfs: &Path, lower: &[PathBuf], cgroups_path: String, network: NetworkNamespace) -> Result<Spec> {
    let cdir = container_dir(&engine.cfg.data_root, &rec.id);
    let upper = cdir.join("upper");
    let passwd = read_layered(&upper, lower, "etc/passwd");
    let group = read_layered(&upper, lower, "etc/group");
    let user_s = rec.config.user.clone().unwrap_or_default();
    let groups = rec.host_config.group_add.clone().unwrap_or_default();
    let resolved = user::resolve(&user_s, &groups, passwd.as_deref(), group.as_deref())
        .map_err(|e| Error::from_kind(&e))?;
    let input = SpecInput {
        container_id: rec.id.clone(),
        config: rec.config.clone(),
        host_config: crate::volumes::spec_host_config(engine, rec)?,
        rootfs: rootfs.to_path_buf(),
        user: resolved,
        hostname: rec.config.hostname.clone().unwrap_or_default(),
        files: ContainerFiles {
            hostname: Some(cdir.join("hostname")),
            hosts: Some(cdir.join("hosts")),
            resolv_conf: Some(cdir.join("resolv.conf")),
        },
        network,
        cgroups_path,
        cgroup_v2: engine.cgroups.as_ref().is_some_and(|l| l.version() == berth_cgroups::Version::V2),
        init: rec.host_config.init.unwrap_or(false).then(|| engine.cfg.shim.clone()),
        terminal: rec.config.tty.unwrap_or(false),
        annotations: Default::default(),
        default_ulimits: Vec::new(),
        devices: crate::resources::devices(engine, rec)?,
        host: host_facts(engine, rec),
        seccomp: crate::security::seccomp(engine, rec)?,
        id_mappings: crate::userns::id_mappings(engine),
    };
    spec::build(&input).map_err(|e| Error::from_kind(&e))
}

/// The host facts for this container's spec: a privileged container also gets the host's
/// devices, listed at its start (as moby does) so that hot-plugged ones are seen.
fn host_facts(engine: &Engine, rec: &Record) -> spec::HostFacts {
    let mut host = engine.host.spec_facts.clone();
    if rec.host_config.privileged.unwrap_or(false) {
        match spec::devices::host_devices() {
            Ok(devices) => host.devices = devices,
            Err(e) => tracing::warn!("listing the host's devices for a privileged container: {e}"),
        }
    }
    host
}
