//! The embedded DNS server of berthd.
//!
//! berthd runs one [`DnsServer`] per user-defined bridge network, listening on UDP and TCP port
//! 53 of the network's gateway address. Containers on that network have the gateway as their only
//! nameserver. The server answers the names the engine knows (container names, short ids,
//! aliases) through a [`Lookup`], and forwards everything else to the upstream resolvers the
//! [`Lookup`] names for the asking container.
//!
//! # What is answered how
//! For every question of a standard query (class IN):
//! - `A` / `AAAA`: [`Lookup::lookup`] with the name lowercased and without its trailing dot.
//!   `Some(addrs)` means the name is ours: the answer holds the addresses of the asked family
//!   (TTL 600) with AA set; a name of ours without an address of that family gets NOERROR and no
//!   answers. `None` means not ours.
//! - `PTR` for a complete `in-addr.arpa` / `ip6.arpa` name: [`Lookup::reverse`]; `Some(name)` is
//!   answered with that name (TTL 600, AA).
//! - Anything else, and names that are not ours: the raw query is forwarded to
//!   [`Lookup::upstreams`] in order (see below). A query with several questions is answered
//!   locally only when every question is ours; otherwise it is forwarded whole.
//!
//! # Forwarding
//! UDP queries are forwarded over UDP, TCP queries over TCP, each upstream in turn with
//! [`Options::upstream_timeout`] (2 s) for the whole exchange, under a fresh random query id that
//! is rewritten back to the client's id in the relayed answer. A truncated (TC) UDP answer is
//! relayed as is (the client then retries over TCP). An upstream answering SERVFAIL or REFUSED
//! does not end the search: the next one is asked, and that answer is relayed only if nobody
//! answers better. No answer at all, or an empty upstream list: SERVFAIL (not REFUSED: the
//! container's resolver then reports a failure to resolve rather than a policy refusal).
//!
//! # Robustness
//! Packets shorter than a DNS header, and responses, are dropped; a query whose header parses but
//! whose body does not is answered FORMERR; opcodes other than QUERY get NOTIMP. Forwarded
//! queries run concurrently (our own names are answered inline, never behind a slow upstream),
//! bounded by [`Options::max_forwards`]; TCP connections are bounded by
//! [`Options::max_tcp_connections`] and closed after [`Options::tcp_idle_timeout`] without a
//! query. Local UDP answers larger than the client's payload size (512, or its EDNS size) are
//! sent truncated (TC, no answers).
//!
//! Architecture invariant: this crate knows nothing about containers or networks; all it knows
//! comes through [`Lookup`]. It does no caching.
#![deny(missing_docs)]

mod answer;
mod forward;
mod names;
mod server;

use std::net::{IpAddr, SocketAddr};

pub use server::{DnsServer, Options};

/// What the DNS server knows: implemented by the engine over its containers and networks.
///
/// Called from the server's tasks for every query, so implementations must be quick (no IO,
/// short locks).
pub trait Lookup: Send + Sync + 'static {
    /// Addresses for `name` (lowercase, no trailing dot) asked by `client` of the server
    /// listening on `server`. None: not one of ours -> forward.
    fn lookup(&self, server: IpAddr, client: IpAddr, name: &str) -> Option<Vec<IpAddr>>;
    /// PTR: the name for `ip`, if it is one of ours on that network.
    fn reverse(&self, server: IpAddr, client: IpAddr, ip: IpAddr) -> Option<String>;
    /// Where to forward queries from `client`.
    fn upstreams(&self, client: IpAddr) -> Vec<SocketAddr>;
}

/// Why a [`DnsServer`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The UDP socket could not be bound.
    #[error("bind udp {addr}: {source}")]
    BindUdp {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The TCP socket could not be bound.
    #[error("bind tcp {addr}: {source}")]
    BindTcp {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// With port 0: no port could be found free for both UDP and TCP.
    #[error("no port free for both udp and tcp on {ip}")]
    NoCommonPort {
        /// The address asked for.
        ip: IpAddr,
    },
}

impl berth_errdefs::HasKind for Error {
    fn kind(&self) -> berth_errdefs::Kind {
        use berth_errdefs::Kind;
        use std::io::ErrorKind;
        match self {
            Error::BindUdp { source, .. } | Error::BindTcp { source, .. } => match source.kind() {
                ErrorKind::AddrInUse => Kind::Conflict,
                ErrorKind::PermissionDenied => Kind::PermissionDenied,
                ErrorKind::AddrNotAvailable => Kind::InvalidArgument,
                _ => Kind::Internal,
            },
            Error::NoCommonPort { .. } => Kind::Unavailable,
        }
    }
}
