//! Error kinds shared by every Berth crate.
//!
//! Each library crate defines its own `thiserror` enum and implements [`HasKind`] for it. The
//! HTTP server maps a [`Kind`] to a status code in exactly one place; no other code inspects
//! error types to decide how to answer a client.
#![deny(missing_docs)]

use std::fmt;

/// What went wrong, in the terms a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The named object does not exist (HTTP 404).
    NotFound,
    /// The request conflicts with the current state, e.g. a name in use (HTTP 409).
    Conflict,
    /// The request is malformed or names an impossible configuration (HTTP 400).
    InvalidArgument,
    /// The caller may not do this (HTTP 403).
    PermissionDenied,
    /// A dependency is not reachable right now (HTTP 503).
    Unavailable,
    /// The feature is not built yet or not supported on this host (HTTP 501).
    NotImplemented,
    /// The request was fine but nothing changed, e.g. starting a running container (HTTP 304).
    NotModified,
    /// Anything else: a bug or an unexpected host failure (HTTP 500).
    Internal,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Kind::NotFound => "not found",
            Kind::Conflict => "conflict",
            Kind::InvalidArgument => "invalid argument",
            Kind::PermissionDenied => "permission denied",
            Kind::Unavailable => "unavailable",
            Kind::NotImplemented => "not implemented",
            Kind::NotModified => "not modified",
            Kind::Internal => "internal",
        };
        f.write_str(s)
    }
}

/// Implemented by every error type that can reach a client.
pub trait HasKind: std::error::Error {
    /// The kind of this error.
    fn kind(&self) -> Kind;
}

/// A plain error with a kind and a message, for the places that compose errors from several
/// subsystems (the engine) and must keep the kind of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message` (lowercase, no final period).
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    /// Shorthand for [`Kind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }
    /// Shorthand for [`Kind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, message)
    }
    /// Shorthand for [`Kind::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidArgument, message)
    }
    /// Shorthand for [`Kind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }
    /// Shorthand for [`Kind::NotImplemented`].
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(Kind::NotImplemented, message)
    }
    /// Shorthand for [`Kind::NotModified`].
    pub fn not_modified() -> Self {
        Self::new(Kind::NotModified, "not modified")
    }
    /// The message, as shown to clients.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Prefix the message with context, keeping the kind.
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        Error { kind: self.kind, message: format!("{ctx}: {}", self.message) }
    }
    /// Convert any error that has a kind, keeping its kind and its message.
    pub fn from_kind<E: HasKind + ?Sized>(e: &E) -> Self {
        Error { kind: e.kind(), message: e.to_string() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        self.kind
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => Kind::NotFound,
            std::io::ErrorKind::PermissionDenied => Kind::PermissionDenied,
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                Kind::InvalidArgument
            }
            _ => Kind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

/// Results carrying a kinded [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_kind_and_prefixes_message() {
        let e = Error::not_found("no such container: x").context("start");
        assert_eq!(e.kind(), Kind::NotFound);
        assert_eq!(e.to_string(), "start: no such container: x");
    }

    #[test]
    fn io_errors_map_to_kinds() {
        let e: Error = std::io::Error::from(std::io::ErrorKind::NotFound).into();
        assert_eq!(e.kind(), Kind::NotFound);
        let e: Error = std::io::Error::other("boom").into();
        assert_eq!(e.kind(), Kind::Internal);
    }
}
