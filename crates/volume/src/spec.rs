//! What a container asks to mount, in Docker's three forms: a `Binds` entry
//! (`src:dst[:mode]`, `dst` alone for an anonymous volume), a `Mounts` item of the API, and a
//! `VolumesFrom` entry (`container[:ro|:rw]`). Parsed with moby's Linux rules and messages
//! (`volume/mounts/linux_parser.go`); nothing here touches the file system.

use std::collections::HashMap;

use berth_api::models::{Mount, MountType};

use crate::Error;

/// The kinds of mount a container config can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// A host path.
    #[default]
    Bind,
    /// A named or anonymous volume.
    Volume,
    /// A tmpfs (`Mounts` only; the runtime builds it).
    Tmpfs,
}

impl Kind {
    /// The API's word: `bind`, `volume`, `tmpfs`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Bind => "bind",
            Kind::Volume => "volume",
            Kind::Tmpfs => "tmpfs",
        }
    }
}

/// One parsed mount request (moby's `MountPoint` before its volume is resolved).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// What is mounted.
    pub kind: Kind,
    /// A bind's cleaned host path, or a volume's name (`""`: anonymous).
    pub source: String,
    /// The cleaned path in the container.
    pub destination: String,
    /// Writable.
    pub rw: bool,
    /// The mode string of a `Binds` entry as given (`ro`, `z`, `rw,nocopy`); `""` otherwise.
    pub mode: String,
    /// A bind's propagation (`rprivate` by default); `""` for volumes.
    pub propagation: String,
    /// Copy the image's content into an empty volume (not with `nocopy`).
    pub copy_data: bool,
    /// The volume driver asked for (`""`: the container's `VolumeDriver`, else `local`).
    pub driver: String,
    /// Options for creating the volume (`VolumeOptions.DriverConfig.Options`).
    pub driver_opts: HashMap<String, String>,
    /// Labels for creating the volume (`VolumeOptions.Labels`).
    pub labels: HashMap<String, String>,
    /// Came from `Binds` (a missing host path is created) rather than `Mounts` (it is an error).
    pub from_binds: bool,
}

const PROPAGATIONS: [&str; 6] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];

/// Go's `path.Clean` for absolute and relative slash paths.
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if p.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// moby's `linuxValidMountMode`: known words, each kind at most once.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let i = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            p if PROPAGATIONS.contains(&p) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[i] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

fn mount_config(kind: Kind, why: impl std::fmt::Display) -> String {
    format!("invalid mount config for type \"{}\": {why}", kind.as_str())
}

/// Target checks shared by both forms.
fn check_target(kind: Kind, target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err(mount_config(kind, "field Target must not be empty"));
    }
    if clean_path(target) == "/" {
        return Err(mount_config(kind, "invalid specification: destination can't be '/'"));
    }
    if !target.starts_with('/') {
        return Err(mount_config(kind, format!("invalid mount path: '{target}' mount path must be absolute")));
    }
    Ok(())
}

/// Parse a `Binds` entry; `volume_driver` is the container's `VolumeDriver`.
pub fn parse_bind(raw: &str, volume_driver: &str) -> Result<Request, Error> {
    let bad = |m: String| Error::InvalidOption(m);
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(bad(invalid_spec(raw)));
    }
    let (source, target, mode) = match arr.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => {
            if valid_mode(dst) {
                return Err(bad(invalid_spec(raw)));
            }
            (*src, *dst, "")
        }
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(bad(invalid_spec(raw))),
    };
    if !valid_mode(mode) {
        return Err(bad(format!("invalid mode: {mode}")));
    }
    let kind = if source.starts_with('/') { Kind::Bind } else { Kind::Volume };
    let words: Vec<&str> = mode.split(',').filter(|s| !s.is_empty()).collect();
    let propagation = words.iter().find(|w| PROPAGATIONS.contains(w)).map(|s| s.to_string());
    let wrap = |m: String| bad(format!("{}: {m}", invalid_spec(raw)));
    check_target(kind, target).map_err(wrap)?;
    let mut req = Request {
        kind,
        destination: clean_path(target),
        rw: !words.contains(&"ro"),
        mode: mode.to_string(),
        from_binds: true,
        ..Request::default()
    };
    match kind {
        Kind::Bind => {
            req.source = clean_path(source);
            req.propagation = propagation.unwrap_or_else(|| "rprivate".into());
        }
        _ => {
            if propagation.is_some() {
                return Err(wrap(mount_config(kind, "field BindOptions must not be specified")));
            }
            req.source = source.to_string();
            req.copy_data = !words.contains(&"nocopy");
            req.driver = volume_driver.to_string();
        }
    }
    Ok(req)
}

/// Parse and check a `Mounts` item (bind sources are not checked for existence here).
pub fn parse_mount(m: &Mount) -> Result<Request, Error> {
    let kind = match m.typ {
        None | Some(MountType::BIND) => Kind::Bind,
        Some(MountType::VOLUME) => Kind::Volume,
        Some(MountType::TMPFS) => Kind::Tmpfs,
        Some(other) => return Err(Error::InvalidOption(format!("invalid mount config: mounts of type {other} are not supported"))),
    };
    let err = |why: &str| Error::InvalidOption(mount_config(kind, why));
    let target = m.target.as_deref().unwrap_or("");
    check_target(kind, target).map_err(Error::InvalidOption)?;
    let source = m.source.clone().unwrap_or_default();
    let mut req = Request { kind, destination: clean_path(target), rw: !m.read_only.unwrap_or(false), ..Request::default() };
    match kind {
        Kind::Bind => {
            if source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            if m.volume_options.is_some() {
                return Err(err("field VolumeOptions must not be specified"));
            }
            if !source.starts_with('/') {
                return Err(Error::InvalidOption(mount_config(kind, format!("invalid mount path: '{source}' mount path must be absolute"))));
            }
            req.source = clean_path(&source);
            req.propagation = m
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation)
                .map(|p| p.to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "rprivate".into());
        }
        Kind::Volume => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
            let vo = m.volume_options.clone().unwrap_or_default();
            if let Some(sub) = vo.subpath.as_deref().filter(|s| !s.is_empty()) {
                if source.is_empty() {
                    return Err(err("must not set Subpath when using anonymous volumes"));
                }
                let _ = sub;
                return Err(Error::InvalidOption("volume subpaths are not supported".into()));
            }
            if !req.rw && source.is_empty() {
                return Err(err("must not set ReadOnly mode when using anonymous volumes"));
            }
            req.source = source;
            req.copy_data = !vo.no_copy.unwrap_or(false);
            if let Some(dc) = vo.driver_config {
                req.driver = dc.name.unwrap_or_default();
                req.driver_opts = dc.options.unwrap_or_default();
            }
            req.labels = vo.labels.unwrap_or_default();
        }
        Kind::Tmpfs => {
            if !source.is_empty() {
                return Err(err("field Source must not be specified"));
            }
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
        }
    }
    Ok(req)
}

/// Parse a `VolumesFrom` entry: the container and the mode (`rw` when none is given).
pub fn parse_volumes_from(spec: &str) -> Result<(String, String), Error> {
    if spec.is_empty() {
        return Err(Error::InvalidOption("volumes-from specification cannot be an empty string".into()));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.to_string(), "rw".into()));
    }
    let bad_words = mode.split(',').any(|w| PROPAGATIONS.contains(&w) || w == "nocopy");
    if !valid_mode(mode) || bad_words {
        return Err(Error::InvalidOption(format!("invalid mode: {mode}")));
    }
    Ok((id.to_string(), mode.to_string()))
}

/// Whether a mode string leaves the mount writable.
pub fn mode_is_rw(mode: &str) -> bool {
    valid_mode(mode) && !mode.split(',').any(|w| w == "ro")
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models::{MountBindOptions, MountVolumeOptions, MountVolumeOptionsDriverConfig};

    fn req(kind: Kind, source: &str, dest: &str, rw: bool, mode: &str, prop: &str, copy: bool) -> Request {
        Request {
            kind,
            source: source.into(),
            destination: dest.into(),
            rw,
            mode: mode.into(),
            propagation: prop.into(),
            copy_data: copy,
            from_binds: true,
            ..Request::default()
        }
    }

    #[test]
    fn binds_parse_as_moby() {
        use Kind::*;
        let ok = [
            ("/srv:/data", req(Bind, "/srv", "/data", true, "", "rprivate", false)),
            ("/srv/../x/:/data/:ro", req(Bind, "/x", "/data", false, "ro", "rprivate", false)),
            ("/srv:/data:rshared,z", req(Bind, "/srv", "/data", true, "rshared,z", "rshared", false)),
            ("data:/data", req(Volume, "data", "/data", true, "", "", true)),
            ("data:/data:ro,nocopy", req(Volume, "data", "/data", false, "ro,nocopy", "", false)),
            ("/data", req(Volume, "", "/data", true, "", "", true)),
            ("a/b:/x", req(Volume, "a/b", "/x", true, "", "", true)),
        ];
        for (raw, want) in ok {
            assert_eq!(parse_bind(raw, "").unwrap(), want, "{raw}");
        }
        assert_eq!(parse_bind("v:/x", "plug").unwrap().driver, "plug");
        assert_eq!(parse_bind("/h:/x", "plug").unwrap().driver, "");
        let bad = [
            ("", "invalid volume specification: ''"),
            (":/x", "invalid volume specification: ':/x'"),
            ("/data:rw", "invalid volume specification: '/data:rw'"),
            ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
            ("/srv:/data:rx", "invalid mode: rx"),
            ("/srv:/data:ro,rw", "invalid mode: ro,rw"),
            ("/srv:data", "invalid volume specification: '/srv:data': invalid mount config for type \"bind\": invalid mount path: 'data' mount path must be absolute"),
            ("v:data", "invalid volume specification: 'v:data': invalid mount config for type \"volume\": invalid mount path: 'data' mount path must be absolute"),
            ("/srv:/", "invalid volume specification: '/srv:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"),
            ("v:/x:shared", "invalid volume specification: 'v:/x:shared': invalid mount config for type \"volume\": field BindOptions must not be specified"),
        ];
        for (raw, want) in bad {
            assert_eq!(parse_bind(raw, "").unwrap_err().to_string(), want, "{raw}");
        }
    }

    #[test]
    fn api_mounts_parse_as_moby() {
        let m = |typ: MountType, src: Option<&str>, dst: &str| Mount {
            typ: Some(typ),
            source: src.map(String::from),
            target: Some(dst.into()),
            ..Mount::default()
        };
        let r = parse_mount(&m(MountType::BIND, Some("/srv/"), "/d")).unwrap();
        assert_eq!((r.kind, r.source.as_str(), r.propagation.as_str(), r.from_binds, r.mode.as_str()), (Kind::Bind, "/srv", "rprivate", false, ""));
        let mut b = m(MountType::BIND, Some("/srv"), "/d");
        b.bind_options = Some(MountBindOptions { propagation: serde_json::from_str("\"rslave\"").ok(), ..Default::default() });
        assert_eq!(parse_mount(&b).unwrap().propagation, "rslave");
        let mut v = m(MountType::VOLUME, Some("data"), "/d");
        v.read_only = Some(true);
        v.volume_options = Some(MountVolumeOptions {
            no_copy: Some(true),
            labels: Some(HashMap::from([("a".into(), "1".into())])),
            driver_config: Some(MountVolumeOptionsDriverConfig { name: Some("plug".into()), options: Some(HashMap::from([("o".into(), "x".into())])) }),
            subpath: None,
        });
        let r = parse_mount(&v).unwrap();
        assert_eq!((r.kind, r.source.as_str(), r.rw, r.copy_data, r.driver.as_str()), (Kind::Volume, "data", false, false, "plug"));
        assert_eq!(r.labels["a"], "1");
        assert_eq!(r.driver_opts["o"], "x");
        assert!(parse_mount(&m(MountType::VOLUME, None, "/d")).unwrap().copy_data);

        let mut ro_anon = m(MountType::VOLUME, None, "/d");
        ro_anon.read_only = Some(true);
        let mut vol_bind_opts = m(MountType::VOLUME, Some("v"), "/d");
        vol_bind_opts.bind_options = Some(MountBindOptions::default());
        let mut bind_vol_opts = m(MountType::BIND, Some("/s"), "/d");
        bind_vol_opts.volume_options = Some(MountVolumeOptions::default());
        let bad = [
            (m(MountType::BIND, None, "/d"), "invalid mount config for type \"bind\": field Source must not be empty"),
            (m(MountType::BIND, Some("rel"), "/d"), "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
            (m(MountType::BIND, Some("/s"), "d"), "invalid mount config for type \"bind\": invalid mount path: 'd' mount path must be absolute"),
            (m(MountType::VOLUME, Some("v"), ""), "invalid mount config for type \"volume\": field Target must not be empty"),
            (m(MountType::VOLUME, Some("v"), "/"), "invalid mount config for type \"volume\": invalid specification: destination can't be '/'"),
            (ro_anon, "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes"),
            (vol_bind_opts, "invalid mount config for type \"volume\": field BindOptions must not be specified"),
            (bind_vol_opts, "invalid mount config for type \"bind\": field VolumeOptions must not be specified"),
            (m(MountType::TMPFS, Some("x"), "/t"), "invalid mount config for type \"tmpfs\": field Source must not be specified"),
        ];
        for (mnt, want) in bad {
            assert_eq!(parse_mount(&mnt).unwrap_err().to_string(), want, "{mnt:?}");
        }
    }

    #[test]
    fn volumes_from_parse_as_moby() {
        let cases: &[(&str, Result<(&str, &str), &str>)] = &[
            ("web", Ok(("web", "rw"))),
            ("web:ro", Ok(("web", "ro"))),
            ("web:rw,z", Ok(("web", "rw,z"))),
            ("", Err("volumes-from specification cannot be an empty string")),
            ("web:shared", Err("invalid mode: shared")),
            ("web:nocopy", Err("invalid mode: nocopy")),
            ("web:bogus", Err("invalid mode: bogus")),
        ];
        for (spec, want) in cases {
            let got = parse_volumes_from(spec).map_err(|e| e.to_string());
            assert_eq!(got.as_ref().map(|(a, b)| (a.as_str(), b.as_str())).map_err(String::as_str), *want, "{spec}");
        }
        assert!(mode_is_rw("rw,z"));
        assert!(!mode_is_rw("ro"));
    }
}
