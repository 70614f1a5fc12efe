//! The kernel seam of Berth's networking: network namespaces pinned by bind mounts, and
//! links, addresses and routes through rtnetlink.
//!
//! - [`netns`] creates a namespace pinned at a path ([`netns::create`], with `lo` up),
//!   removes it ([`netns::remove`]), tells whether a path pins one ([`netns::is_pinned`]) and
//!   runs a closure on a short-lived thread inside one ([`netns::run_in`]).
//! - [`Links`] is one rtnetlink connection bound to one namespace: [`Links::host`] for the
//!   caller's, [`Links::in_netns`] for a pinned one. Through it: bridges
//!   ([`Links::ensure_bridge`]), veth pairs whose peer is created directly inside a container's
//!   namespace ([`Links::add_veth`]), macvlans ([`Links::add_macvlan`]), the in-namespace
//!   setup of an endpoint ([`Links::configure`], [`Links::add_default_route`]), addresses
//!   ([`Links::add_addrs`], IPv6 ones without duplicate address detection), deletion and
//!   listing, and what a new subnet must not overlap ([`Links::used_subnets`]).
//! - [`set_sysctl`] writes one `/proc/sys` key.
//! - [`Error`] carries a [`berth_errdefs::Kind`]: an existing link is a conflict, a missing
//!   parent interface is not found, a malformed name is an invalid argument.
//!
//! Architecture invariant: this crate knows devices, addresses and namespaces, not networks
//! or containers. It does not choose names, subnets or MAC addresses (berth-network and the
//! engine do), forks no `ip`, and never changes the namespace of a thread it did not start:
//! whatever must happen inside a namespace happens on a fresh OS thread that then exits.
//! It is on the container start path, so each operation is a handful of netlink round trips.
//!
//! ```no_run
//! use std::path::Path;
//! # async fn start() -> Result<(), berth_netlink::Error> {
//! let ns = Path::new("/run/berth/netns/0123456789ab");
//! berth_netlink::netns::create(ns)?;
//! let host = berth_netlink::Links::host()?;
//! let bridge = host.ensure_bridge("berth0", None).await?;
//! host.add_addrs(bridge, &["172.17.0.1/16".parse().unwrap()]).await?;
//! host.add_veth("v1f2e3d0a1b2c3", "eth0tmp", bridge, None, ns).await?;
//! let inside = berth_netlink::Links::in_netns(ns)?;
//! inside
//!     .configure("eth0tmp", "eth0", Some([2, 0x42, 172, 17, 0, 2]), None,
//!                &["172.17.0.2/16".parse().unwrap()])
//!     .await?;
//! inside.add_default_route("172.17.0.1".parse().unwrap()).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod error;
mod links;
mod names;
pub mod netns;
mod subnets;
mod sysctl;

pub use error::Error;
pub use links::Links;
pub use sysctl::set_sysctl;
