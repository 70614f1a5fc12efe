//! Container cgroups on cgroup v1 (legacy and hybrid hosts) and cgroup v2.
//!
//! - [`probe`] reads `/proc/self/mountinfo` once (at daemon start) into a [`Layout`]: the
//!   [`Version`] and where each hierarchy is. A layout travels to monitors as one short line
//!   of text (`Display` / `FromStr`), so monitors never probe.
//! - [`Layout::support`] tells what the host can limit ([`Support`]), for `docker info` and
//!   for [`Resources::discard_unsupported`], which drops settings with Docker's warnings.
//! - [`Manager`] is the spec of one container's cgroup: its words and lifecycle are documented
//!   there. [`Cgroup`] implements it over a layout; [`fake::FakeManager`] records calls for
//!   other crates' tests.
//! - [`Resources`] are limits in Docker's units ([`shares_to_weight`] and
//!   [`blkio_weight_to_io_weight`] convert for v2); [`Stats`] is what `docker stats` needs.
//!
//! Architecture invariant: this crate knows cgroup files, not containers. It does not know
//! Docker's API types, OCI specs or how paths are named; it starts no threads, needs no async
//! runtime and does nothing per call that could be done once at daemon start, because a
//! monitor runs [`Manager::create`] and [`Manager::add_pid`] on every container start.
//!
//! ```no_run
//! use berth_cgroups::{probe, Cgroup, Manager, Resources};
//! # fn main() -> Result<(), berth_cgroups::Error> {
//! let layout = probe()?; // berthd, once
//! let text = layout.to_string(); // handed to the monitor
//! let layout: berth_cgroups::Layout = text.parse()?; // in the monitor
//! let cg = Cgroup::new(&layout, "berth-1f2e3d4c/0123abcd")?;
//! cg.create(&Resources { memory: Some(64 << 20), pids_limit: Some(100), ..Default::default() })?;
//! cg.add_pid(4242)?; // the container's init, before it execs
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bpf;
mod error;
pub mod fake;
mod fsio;
mod layout;
mod manager;
mod plan;
mod resources;
mod stats;
mod v1;
mod v2;

/// The environment variable through which berthd hands the [`Layout`] (in its text form) to
/// a monitor, so both sides agree on the name.
pub const LAYOUT_ENV: &str = "BERTH_CGROUP_LAYOUT";

pub use error::{Error, Result};
pub use layout::{probe, Controller, Controllers, Layout, Support, Version};
pub use manager::{Cgroup, FreezerState, Manager};
pub use resources::{
    blkio_weight_to_io_weight, shares_to_weight, DeviceKind, DeviceRule, Resources, ThrottleDevice,
    WeightDevice,
};
pub use stats::{BlkioEntry, BlkioStats, CpuStats, MemoryStats, PidsStats, Stats};
