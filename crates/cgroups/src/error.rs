//! The errors of this crate.

use std::io;
use std::path::PathBuf;

use berth_errdefs::{HasKind, Kind};

/// Errors from probing, managing and reading cgroups.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither a cgroup v1 hierarchy with a controller we use nor a cgroup v2 hierarchy is
    /// mounted.
    #[error("no usable cgroup hierarchy is mounted")]
    NotMounted,
    /// A cgroup file or directory could not be read.
    #[error("read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// A value could not be written to a cgroup file.
    #[error("write {value:?} to {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// What the kernel said.
        source: io::Error,
    },
    /// A cgroup directory could not be created.
    #[error("create {}: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("remove {}: {source}", path.display())]
    Remove {
        /// The directory.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// A cgroup directory still holds processes (or children) after retrying for a while.
    #[error("remove {}: cgroup is still busy", path.display())]
    Busy {
        /// The directory.
        path: PathBuf,
    },
    /// A cgroup file holds something we cannot parse.
    #[error("parse {}: unexpected content {content:?}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending content (or line).
        content: String,
    },
    /// The text form of a [`crate::Layout`] is malformed.
    #[error("invalid cgroup layout {text:?}: {reason}")]
    Layout {
        /// The text.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A cgroup path is not a clean relative path.
    #[error("invalid cgroup path {path:?}: {reason}")]
    Path {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A limit or operation was asked for that the hierarchy on this host does not offer
    /// (the controller is not mounted/enabled or the kernel lacks the file). The daemon is
    /// expected to discard such settings up front, see [`crate::Resources::discard_unsupported`].
    #[error("{0} is not supported by the cgroup hierarchy on this host")]
    Unsupported(&'static str),
    /// The resources contradict each other or are out of range.
    #[error("invalid resources: {0}")]
    Invalid(&'static str),
    /// The freezer did not reach the frozen state in time; the cgroup was thawed again.
    #[error("freeze {}: processes did not freeze in time", path.display())]
    FreezeTimeout {
        /// The cgroup directory.
        path: PathBuf,
    },
    /// A signal could not be sent to a process of the cgroup.
    #[error("send signal {signal} to process {pid}: {source}")]
    Signal {
        /// The process.
        pid: i32,
        /// The signal number.
        signal: i32,
        /// What the kernel said.
        source: io::Error,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_kind(e: &io::Error) -> Kind {
    match e.raw_os_error() {
        Some(libc::ENOENT) => Kind::NotFound,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => Kind::PermissionDenied,
        Some(libc::EINVAL) | Some(libc::ERANGE) | Some(libc::EOVERFLOW) => Kind::InvalidArgument,
        Some(libc::EBUSY) => Kind::Conflict,
        _ => Kind::Internal,
    }
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::NotMounted => Kind::Unavailable,
            Error::Read { source, .. }
            | Error::Write { source, .. }
            | Error::Create { source, .. }
            | Error::Remove { source, .. } => io_kind(source),
            Error::Signal { source, .. } => match source.raw_os_error() {
                Some(libc::ESRCH) => Kind::NotFound,
                Some(libc::EINVAL) => Kind::InvalidArgument,
                Some(libc::EPERM) => Kind::PermissionDenied,
                _ => Kind::Internal,
            },
            Error::Busy { .. } => Kind::Conflict,
            Error::Parse { .. } => Kind::Internal,
            Error::Layout { .. } | Error::Path { .. } | Error::Invalid(_) => Kind::InvalidArgument,
            Error::Unsupported(_) => Kind::NotImplemented,
            Error::FreezeTimeout { .. } => Kind::Unavailable,
        }
    }
}

impl Error {
    /// Whether this error means "the cgroup (or the file) does not exist".
    pub fn is_not_found(&self) -> bool {
        self.kind() == Kind::NotFound
    }
}
