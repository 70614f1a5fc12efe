//! The errors of this crate.

use std::io;
use std::path::PathBuf;

use berth_errdefs::{HasKind, Kind};

/// Errors from namespaces, links, addresses, routes and sysctls.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name or value the kernel would refuse, caught before asking it.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What the value is ("interface name", "sysctl key", ...).
        what: &'static str,
        /// The value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Creating or renaming a link failed because a link of that name already exists in the
    /// namespace the operation targets.
    #[error("{op}: a link of that name already exists")]
    Exists {
        /// The operation, with the names involved.
        op: String,
    },
    /// A link the operation needs (a macvlan parent, the link to configure) is not there.
    #[error("{op}: link {name} not found")]
    NoSuchLink {
        /// The operation.
        op: String,
        /// The missing link.
        name: String,
    },
    /// The bridge a new port was to join already has as many as the kernel allows (1024).
    #[error("{op}: the bridge already has the kernel's maximum of 1024 ports")]
    BridgeFull {
        /// The operation, with the names involved.
        op: String,
    },
    /// A link with the bridge's name exists but is not a bridge.
    #[error("link {name} exists and is not a bridge")]
    NotABridge {
        /// The link.
        name: String,
    },
    /// A netlink request failed.
    #[error("{op}: {source}")]
    Netlink {
        /// The operation, with the names involved.
        op: String,
        /// What the kernel (or the netlink connection) said.
        source: io::Error,
    },
    /// A namespace file could not be created, mounted, opened, joined or removed.
    #[error("{op} {}: {source}", path.display())]
    Netns {
        /// The step that failed.
        op: &'static str,
        /// The namespace path (or its directory).
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// A netlink socket could not be opened or registered with the runtime.
    #[error("open netlink socket: {source}")]
    Socket {
        /// What the kernel said.
        source: io::Error,
    },
    /// [`crate::Links`] was asked for outside a tokio runtime.
    #[error("open netlink connection: no tokio runtime on this thread")]
    NoRuntime,
    /// A sysctl could not be written.
    #[error("write {value:?} to sysctl {key}: {source}")]
    Sysctl {
        /// The key, dotted.
        key: String,
        /// The value.
        value: String,
        /// What the kernel said.
        source: io::Error,
    },
    /// The short-lived thread that does namespace work could not be started.
    #[error("{op}: start namespace thread: {source}")]
    Spawn {
        /// What the thread was to do.
        op: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
    /// The short-lived thread that does namespace work panicked.
    #[error("{op}: namespace thread panicked")]
    Thread {
        /// What the thread was doing.
        op: &'static str,
    },
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::Invalid { .. } => Kind::InvalidArgument,
            Error::Exists { .. } => Kind::Conflict,
            Error::NoSuchLink { .. } => Kind::NotFound,
            Error::NotABridge { .. } | Error::BridgeFull { .. } => Kind::Conflict,
            Error::Netlink { source, .. } => match source.raw_os_error() {
                Some(libc::EEXIST) => Kind::Conflict,
                Some(libc::ENODEV) => Kind::NotFound,
                _ => Kind::Internal,
            },
            Error::Netns { source, .. } => match source.raw_os_error() {
                Some(libc::ENOENT) => Kind::NotFound,
                _ => Kind::Internal,
            },
            Error::Sysctl { source, .. } => match source.raw_os_error() {
                Some(libc::ENOENT) => Kind::NotFound,
                Some(libc::EINVAL) => Kind::InvalidArgument,
                _ => Kind::Internal,
            },
            Error::Socket { .. }
            | Error::NoRuntime
            | Error::Spawn { .. }
            | Error::Thread { .. } => Kind::Internal,
        }
    }
}

/// The errno of a failed rtnetlink request, if the kernel answered with one.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

/// An rtnetlink error as an `io::Error`: the kernel's errno when there is one.
pub(crate) fn to_io(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

/// A failed netlink request, with the operation described lazily (only on failure).
pub(crate) fn netlink(op: impl FnOnce() -> String) -> impl FnOnce(rtnetlink::Error) -> Error {
    move |e| Error::Netlink { op: op(), source: to_io(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let os = io::Error::from_raw_os_error;
        let cases: Vec<(Error, Kind)> = vec![
            (
                Error::Invalid { what: "interface name", value: "".into(), reason: "empty" },
                Kind::InvalidArgument,
            ),
            (Error::Exists { op: "create veth a".into() }, Kind::Conflict),
            (Error::NoSuchLink { op: "create macvlan m".into(), name: "p".into() }, Kind::NotFound),
            (Error::NotABridge { name: "x".into() }, Kind::Conflict),
            (Error::Netlink { op: "x".into(), source: os(libc::EEXIST) }, Kind::Conflict),
            (Error::Netlink { op: "x".into(), source: os(libc::ENODEV) }, Kind::NotFound),
            (Error::Netlink { op: "x".into(), source: os(libc::EINVAL) }, Kind::Internal),
            (
                Error::Netns { op: "open", path: "/x".into(), source: os(libc::ENOENT) },
                Kind::NotFound,
            ),
            (
                Error::Netns { op: "mount", path: "/x".into(), source: os(libc::EPERM) },
                Kind::Internal,
            ),
            (
                Error::Sysctl { key: "a.b".into(), value: "1".into(), source: os(libc::ENOENT) },
                Kind::NotFound,
            ),
            (
                Error::Sysctl { key: "a.b".into(), value: "x".into(), source: os(libc::EINVAL) },
                Kind::InvalidArgument,
            ),
            (Error::NoRuntime, Kind::Internal),
            (Error::Thread { op: "create netns" }, Kind::Internal),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }

    #[test]
    fn messages_are_lowercase_with_context() {
        let e = Error::Exists { op: "create veth vab with peer eth0".into() };
        assert_eq!(
            e.to_string(),
            "create veth vab with peer eth0: a link of that name already exists"
        );
        let e = Error::NoSuchLink { op: "create macvlan m0".into(), name: "eth9".into() };
        assert_eq!(e.to_string(), "create macvlan m0: link eth9 not found");
        let e =
            Error::Invalid { what: "interface name", value: "a/b".into(), reason: "contains '/'" };
        assert_eq!(e.to_string(), "invalid interface name \"a/b\": contains '/'");
    }
}
