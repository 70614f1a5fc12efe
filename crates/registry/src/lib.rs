//! `berth-registry`: a registry server speaking the OCI distribution spec (and the Docker
//! registry v2 protocol it grew from).
//!
//! * [`registry::Registry`] is the model: blobs, resumable uploads, manifests, tags, referrers,
//!   the catalog, over a [`storage::Storage`] ([`storage::FsStorage`] by default).
//! * [`http`] maps `/v2/...` requests onto it, authenticates (htpasswd basic auth or bearer
//!   tokens from the built-in `/token` endpoint, see [`auth`]) and renders errors in the spec's
//!   JSON shape ([`error`]).
//! * [`server::Server`] wires a [`config::Config`] (TOML) into a listener, with optional TLS.
//! * [`gc::collect_garbage`] deletes unreferenced blobs.
//! * [`proxy::Upstream`] fetches from a remote registry for the pull-through cache mode.
//! * [`names`], [`wire`] and [`manifest`] are the pure parts: names and routes, headers and
//!   pagination, manifest validation.
//!
//! Architecture invariant: nothing here knows the engine; the registry is a standalone server
//! that Berth's image code talks to like any other registry.
#![deny(missing_docs)]

pub mod auth;
pub mod config;
pub mod error;
pub mod gc;
pub mod hashing;
pub mod http;
pub mod manifest;
pub mod names;
pub mod proxy;
pub mod registry;
pub mod server;
pub mod storage;
pub mod wire;

pub use config::Config;
pub use error::Error;
pub use gc::{collect_garbage, GcOptions, GcReport};
pub use registry::{Registry, RegistryOptions};
pub use server::Server;
pub use storage::{FsStorage, MemStorage, Storage};
