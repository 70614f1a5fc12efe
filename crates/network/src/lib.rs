//! Networking logic that needs no kernel seam beyond sockets and `nft`: address management,
//! published ports, the nftables ruleset, and the files a container's resolver reads.
//!
//! - [`ipam`]: default address pools, choosing a free subnet, validating a network's address
//!   plan ([`ipam::Subnet`]) and handing out addresses on it ([`ipam::Allocator`]).
//! - [`ports`]: what `PortBindings` + `PublishAllPorts` + `ExposedPorts` mean
//!   ([`ports::expand`]) and holding a published host port ([`ports::reserve`]).
//! - [`firewall`]: one daemon's whole NAT/filter ruleset rendered as an nft script
//!   ([`firewall::render`]) and applied atomically by a [`firewall::Backend`].
//! - [`files`]: a container's `/etc/hosts`, `--add-host` parsing, and `resolv.conf` as Docker
//!   writes it ([`files::container_resolv`]).
//!
//! Architecture invariant: nothing here creates links, namespaces or routes (that is
//! `berth-netlink`), and nothing here knows networks by name or id: callers pass plain data.
//! Every module has its own `Error` implementing [`berth_errdefs::HasKind`].
#![deny(missing_docs)]

pub mod files;
pub mod firewall;
pub mod ipam;
pub mod ports;
