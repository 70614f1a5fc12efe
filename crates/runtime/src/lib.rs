//! The container runtime: from a Docker configuration to a running process.
//!
//! - [`linux`]: the in-process OCI runtime. It runs inside the per-container monitor
//!   (`berth-shim`): the child side of `clone(2)` with new namespaces sets up mounts, devices,
//!   hostname, limits, user and capabilities from an OCI [`oci_spec::runtime::Spec`], then
//!   `execve`s the container's process when told to.
//! - [`monitor`]: what berthd hands a monitor, and what a monitor leaves on disk.
//! - [`merge`], [`user`], [`spec`]: pure code turning a Docker create request and an image
//!   config into an OCI spec (Docker's merge rules, user resolution, moby's defaults).
//! - [`proto`]: the small framed protocol spoken between berthd and a monitor.
#![deny(missing_docs)]

pub mod linux;
pub mod merge;
pub mod monitor;
pub mod proto;
pub mod spec;
pub mod user;
