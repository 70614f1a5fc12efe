//! Volumes below the engine: the `local` driver, the client of Docker volume plugins, and the
//! copy-up of an image's content into a fresh volume.
//!
//! - [`validate_local_name`]: Docker's name rule for local volumes.
//! - [`local::Local`]: `data_root/volumes/<name>/_data` directories; volumes created with
//!   `type`/`device`/`o` options are mounted with mount(2) when first used and unmounted when
//!   the last user is gone (the caller counts users).
//! - [`plugin`]: discovery of a plugin by name (sockets under `/run/docker/plugins`, spec files
//!   under `/etc/docker/plugins` and `/usr/lib/docker/plugins`) and its JSON-over-HTTP protocol
//!   (`/Plugin.Activate`, `/VolumeDriver.*`).
//! - [`spec`]: `Binds` entries, `Mounts` items and `VolumesFrom` entries parsed with moby's rules.
//! - [`copyup::copy_up`]: the merged view of image layers at a path, copied into a directory.
//!
//! Architecture invariant: nothing here knows containers, records or HTTP servers; the engine
//! keeps which volume exists, who uses it and what is mounted.
#![deny(missing_docs)]

pub mod copyup;
mod http;
pub mod local;
pub mod plugin;
pub mod spec;

use berth_errdefs::{HasKind, Kind};

/// What can go wrong with a volume.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name the driver does not accept (Docker's whole message).
    #[error("{0}")]
    InvalidName(String),
    /// A driver option that is unknown or malformed.
    #[error("{0}")]
    InvalidOption(String),
    /// The volume does not exist in the driver.
    #[error("no such volume: {0}")]
    NotFound(String),
    /// No plugin of that name was found.
    #[error("error looking up volume plugin {0}: plugin \"{0}\" not found")]
    PluginNotFound(String),
    /// The plugin answered with an error (its `Err` field, prefixed by the method).
    #[error("{method}: {message}")]
    Plugin {
        /// `VolumeDriver.Create`, ...
        method: String,
        /// What the plugin said.
        message: String,
    },
    /// The plugin could not be reached or spoke something else than its protocol.
    #[error("{0}")]
    Protocol(String),
    /// A file system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::InvalidName(_) | Error::InvalidOption(_) => Kind::InvalidArgument,
            Error::NotFound(_) | Error::PluginNotFound(_) => Kind::NotFound,
            Error::Plugin { .. } | Error::Protocol(_) | Error::Io { .. } => Kind::Internal,
        }
    }
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (at least two
/// characters). The message is Docker's, without the `create NAME: ` prefix the caller adds.
pub fn validate_local_name(name: &str) -> Result<(), Error> {
    let ok = name.len() >= 2
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        return Ok(());
    }
    Err(Error::InvalidName(format!(
        "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

/// A new anonymous volume's name: 64 random hex digits, as Docker makes them.
pub fn anonymous_name() -> String {
    let mut b = [0u8; 32];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).is_err() {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        b[..16].copy_from_slice(&n.to_le_bytes());
        b[16..24].copy_from_slice(&(std::process::id() as u64).to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes used by the files under `dir` (not following symlinks; hard links counted once).
pub fn dir_size(dir: &std::path::Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0i64;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else { continue };
            if md.is_dir() {
                todo.push(e.path());
            } else if md.nlink() <= 1 || seen.insert((md.dev(), md.ino())) {
                total += md.len() as i64;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_follow_dockers_rule() {
        for (n, ok) in [
            ("data", true),
            ("a1", true),
            ("my_vol.1-2", true),
            ("a", false),
            ("a/b", false),
            ("/abs", false),
            ("-x", false),
            ("_x", false),
            ("has space", false),
            ("", false),
        ] {
            assert_eq!(validate_local_name(n).is_ok(), ok, "{n}");
        }
        assert_eq!(
            validate_local_name("a/b").unwrap_err().to_string(),
            "\"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
    }

    #[test]
    fn anonymous_names_are_64_hex() {
        let (a, b) = (anonymous_name(), anonymous_name());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
