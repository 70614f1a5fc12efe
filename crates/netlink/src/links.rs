//! Links, addresses and routes of one network namespace, over one rtnetlink connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::path::Path;

use futures_util::future::try_join_all;
use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::AddressHeaderFlags;
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{Socket, TokioSocket};
use rtnetlink::{
    Handle, LinkBridge, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::error::{errno, netlink, to_io};
use crate::names::check_ifname;
use crate::subnets;
use crate::{netns, Error};

/// The receive buffer asked for on every rtnetlink socket.
const RECEIVE_BUFFER: libc::c_int = 8 << 20;

/// One rtnetlink connection bound to one network namespace (its task is aborted on drop).
///
/// The namespace is fixed when the connection is opened: [`Links::host`] talks to the
/// caller's namespace, [`Links::in_netns`] to a pinned one, and every method acts there
/// (except [`Links::add_veth`] and [`Links::add_macvlan`], which create their new device in
/// the namespace they are given). The connection is driven by a task on the tokio runtime it
/// was opened on; methods may be called concurrently from any task.
pub struct Links {
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
    /// The kernel runs one dump per netlink socket at a time (a second one is EBUSY), so
    /// dumps on this connection take turns.
    dumps: tokio::sync::Mutex<()>,
}

impl Drop for Links {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links").finish_non_exhaustive()
    }
}

impl Links {
    /// A connection in the caller's namespace; needs a tokio runtime.
    pub fn host() -> Result<Links, Error> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let socket = Socket::new(NETLINK_ROUTE).map_err(|source| Error::Socket { source })?;
        Ok(Self::over(&rt, socket))
    }

    /// A connection inside the namespace pinned at `path`; needs a tokio runtime. The socket
    /// is opened by a short-lived thread that joined the namespace (a netlink socket stays in
    /// the namespace it was created in), so no runtime thread changes namespace.
    pub fn in_netns(path: &Path) -> Result<Links, Error> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let ns = netns::open(path)?;
        let p = path.to_path_buf();
        let socket = netns::on_thread("open netlink socket in netns", move || {
            netns::join(&ns, &p)?;
            Socket::new(NETLINK_ROUTE).map_err(|source| Error::Socket { source })
        })??;
        Ok(Self::over(&rt, socket))
    }

    fn over(rt: &tokio::runtime::Handle, socket: Socket) -> Links {
        let _in_runtime = rt.enter();
        // Room for the replies of many requests in flight at once (each queued reply costs a
        // whole socket buffer's worth of overhead): with the default ~208 KiB, a thousand
        // concurrent requests overran it and their replies were lost. FORCE needs
        // CAP_NET_ADMIN, which everything that changes links has; without it the kernel's
        // maximum applies.
        let size: libc::c_int = RECEIVE_BUFFER;
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: setsockopt on an open socket we own with a c_int value of its size.
            let rc = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
        // SAFETY: `into_raw_fd` hands over sole ownership of an open netlink socket.
        // TokioSocket makes it non-blocking and registers it with the runtime we entered
        // (it unwraps both: with a runtime entered, only a kernel out of epoll watches fails).
        let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
        let (connection, handle, _unsolicited) = rtnetlink::from_socket(socket);
        let task = rt.spawn(connection);
        Links { handle, task, dumps: tokio::sync::Mutex::new(()) }
    }

    /// The ifindex of the link called `name`, if there is one.
    pub async fn index(&self, name: &str) -> Result<Option<u32>, Error> {
        Ok(self.link(name).await?.map(|l| l.header.index))
    }

    /// The link called `name` (RTM_GETLINK by name), if there is one.
    async fn link(&self, name: &str) -> Result<Option<LinkMessage>, Error> {
        check_ifname(name)?;
        let found: Result<Vec<LinkMessage>, _> =
            self.handle.link().get().match_name(name.to_string()).execute().try_collect().await;
        match found {
            Ok(mut links) => Ok(links.pop()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(netlink(|| format!("look up link {name}"))(e)),
        }
    }

    /// The bridge called `name`: created (with `mtu` if given) if missing, set up either
    /// way. Returns its ifindex. A link of that name that is not a bridge is a conflict.
    pub async fn ensure_bridge(&self, name: &str, mtu: Option<u32>) -> Result<u32, Error> {
        check_ifname(name)?;
        if self.link(name).await?.is_none() {
            // A MAC of its own, as dockerd gives its bridges: without one the kernel uses the
            // lowest MAC among the ports, so the gateway's address changes under the
            // containers' ARP caches whenever a container comes or goes.
            let mut bridge = LinkBridge::new(name).address(random_mac()?.to_vec());
            if let Some(mtu) = mtu {
                bridge = bridge.mtu(mtu);
            }
            match self.handle.link().add(bridge.build()).execute().await {
                Ok(()) => {}
                // Someone made it meanwhile: check it below like any existing link.
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(netlink(|| format!("create bridge {name}"))(e)),
            }
        }
        let link = self.link(name).await?.ok_or_else(|| Error::NoSuchLink {
            op: format!("create bridge {name}"),
            name: name.to_string(),
        })?;
        if !is_bridge(&link) {
            return Err(Error::NotABridge { name: name.to_string() });
        }
        let index = link.header.index;
        let up = link.header.flags.contains(LinkFlags::Up);
        let mtu_ok = mtu.is_none_or(|want| link_mtu(&link) == Some(want));
        if !up || !mtu_ok {
            let mut change = LinkUnspec::new_with_index(index).up();
            if let Some(mtu) = mtu {
                change = change.mtu(mtu);
            }
            self.handle
                .link()
                .change(change.build())
                .execute()
                .await
                .map_err(netlink(|| format!("set bridge {name} up")))?;
        }
        Ok(index)
    }

    /// Add `addrs` (address/prefix) to the link `index`; addresses it already has are fine.
    /// IPv6 addresses are added with IFA_F_NODAD, so they are usable at once.
    pub async fn add_addrs(&self, index: u32, addrs: &[IpNet]) -> Result<(), Error> {
        // All requests go out before the first answer is awaited: one round trip in all.
        try_join_all(addrs.iter().map(|net| async move {
            let mut req = self.handle.address().add(index, net.addr(), net.prefix_len());
            if net.addr().is_ipv6() {
                req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
            }
            match req.execute().await {
                Ok(()) => Ok(()),
                Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
                Err(e) => Err(netlink(|| format!("add address {net} to link {index}"))(e)),
            }
        }))
        .await
        .map(drop)
    }

    /// Delete the link called `name` (a veth takes its peer with it). Ok if missing.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let Some(index) = self.index(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(netlink(|| format!("delete link {name}"))(e)),
        }
    }

    /// The names of all links here.
    pub async fn names(&self) -> Result<Vec<String>, Error> {
        let links: Vec<LinkMessage> = {
            let _turn = self.dumps.lock().await;
            self.handle
                .link()
                .get()
                .execute()
                .try_collect()
                .await
                .map_err(netlink(|| "list links".to_string()))?
        };
        Ok(links.iter().filter_map(link_name).collect())
    }

    /// veth pair: `host_name` enslaved to bridge `master` and set up; `peer_name` created in
    /// (or moved to) the namespace pinned at `netns`.
    ///
    /// One RTM_NEWLINK does it all: the peer carries IFLA_NET_NS_FD, so the kernel creates
    /// it directly inside `netns` (down, to be set up by [`Links::configure`] there). `mtu`
    /// applies to both ends. A name already taken on either side is [`Error::Exists`].
    pub async fn add_veth(
        &self,
        host_name: &str,
        peer_name: &str,
        master: u32,
        mtu: Option<u32>,
        netns: &Path,
    ) -> Result<(), Error> {
        check_ifname(host_name)?;
        check_ifname(peer_name)?;
        let ns = netns::open(netns)?;
        let mut peer =
            LinkMessageBuilder::<LinkUnspec>::new().name(peer_name).setns_by_fd(ns.as_raw_fd());
        // Created down: the host end is a bridge port and never needs IPv6 autoconfiguration
        // (see `up_without_ipv6_autoconf`).
        let mut veth = LinkVeth::new(host_name, peer_name).controller(master);
        if let Some(mtu) = mtu {
            peer = peer.mtu(mtu);
            veth = veth.mtu(mtu);
        }
        let veth = veth.set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
        let op = || format!("create veth {host_name} with peer {peer_name} in {}", netns.display());
        let done = self.handle.link().add(veth.build()).execute().await;
        drop(ns);
        done.map_err(|e| match errno(&e) {
            Some(libc::EXFULL) => Error::BridgeFull { op: op() },
            _ => exists_or(e, op),
        })?;
        // Addressed by name: no lookup round trip on the start path.
        self.without_ipv6_autoconf(LinkUnspec::new_with_name(host_name)).await;
        self.handle
            .link()
            .change(LinkUnspec::new_with_name(host_name).up().build())
            .execute()
            .await
            .map_err(netlink(|| format!("set {host_name} up")))
    }

    /// Keep the kernel from generating an IPv6 link-local address for the (down) `link`
    /// (`addr_gen_mode` none). Such an address starts duplicate address detection,
    /// MLD reports and router solicitations, multicast that a bridge floods to every port: with
    /// N containers on a bridge, each new one would cost every other one work. Best effort: a
    /// kernel without IPv6 refuses the attribute and has no such traffic anyway.
    async fn without_ipv6_autoconf(&self, link: LinkMessageBuilder<LinkUnspec>) {
        let mode = AfSpecInet6::AddrGenMode(In6AddrGenMode::None);
        let attr = LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![mode])]);
        let msg = link.append_extra_attribute(attr).build();
        let _ = self.handle.link().change(msg).execute().await;
    }

    /// macvlan (mode bridge) on `parent`, created in / moved to the namespace at `netns`.
    ///
    /// `parent` is looked up in this connection's namespace ([`Error::NoSuchLink`] if it is
    /// not there); the macvlan is created directly inside `netns`, down.
    pub async fn add_macvlan(&self, parent: &str, name: &str, netns: &Path) -> Result<(), Error> {
        check_ifname(name)?;
        let op = || format!("create macvlan {name} on {parent} in {}", netns.display());
        let parent_index = self
            .index(parent)
            .await?
            .ok_or_else(|| Error::NoSuchLink { op: op(), name: parent.to_string() })?;
        let ns = netns::open(netns)?;
        let msg = LinkMacVlan::new(name, parent_index, MacVlanMode::Bridge)
            .setns_by_fd(ns.as_raw_fd())
            .build();
        let done = self.handle.link().add(msg).execute().await;
        drop(ns);
        done.map_err(|e| exists_or(e, op))
    }

    /// In THIS connection's namespace: rename `name` to `new_name`, set MAC and MTU, add
    /// addresses, set up. Returns the ifindex.
    ///
    /// Rename, MAC, MTU and up go in one request (the kernel renames before it sets the link
    /// up), then the addresses, IPv6 ones without DAD. A link given no IPv6 address gets no
    /// link-local one either (no multicast chatter on its network). A `new_name` already taken is
    /// [`Error::Exists`]; a missing `name` is [`Error::NoSuchLink`].
    pub async fn configure(
        &self,
        name: &str,
        new_name: &str,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
        addrs: &[IpNet],
    ) -> Result<u32, Error> {
        check_ifname(new_name)?;
        let op = || format!("configure link {name} as {new_name}");
        let index = self
            .index(name)
            .await?
            .ok_or_else(|| Error::NoSuchLink { op: op(), name: name.to_string() })?;
        if !addrs.iter().any(|a| a.addr().is_ipv6()) {
            self.without_ipv6_autoconf(LinkUnspec::new_with_index(index)).await;
        }
        let mut change = LinkUnspec::new_with_index(index).up();
        if new_name != name {
            change = change.name(new_name);
        }
        if let Some(mac) = mac {
            change = change.address(mac.to_vec());
        }
        if let Some(mtu) = mtu {
            change = change.mtu(mtu);
        }
        self.handle.link().change(change.build()).execute().await.map_err(|e| exists_or(e, op))?;
        self.add_addrs(index, addrs).await?;
        Ok(index)
    }

    /// Add the default route (v4 or v6, after `gateway`'s family) via `gateway` to the main
    /// table. An existing default route is a conflict (EEXIST).
    pub async fn add_default_route(&self, gateway: IpAddr) -> Result<(), Error> {
        let route = match gateway {
            IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).build(),
            IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).build(),
        };
        self.handle
            .route()
            .add(route)
            .execute()
            .await
            .map_err(netlink(|| format!("add default route via {gateway}")))
    }

    /// Destinations of all routes (main table, v4 and v6) and all interface addresses here:
    /// what a new subnet must not overlap. Default routes and link-local (fe80::/10) are left
    /// out; host bits are cleared; the result is sorted without duplicates.
    pub async fn used_subnets(&self) -> Result<Vec<IpNet>, Error> {
        let _turn = self.dumps.lock().await;
        let route = self.handle.route();
        let v4: Vec<_> = route
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(netlink(|| "list ipv4 routes".to_string()))?;
        let v6: Vec<_> = route
            .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(netlink(|| "list ipv6 routes".to_string()))?;
        let addrs: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(netlink(|| "list addresses".to_string()))?;
        let mut nets: Vec<IpNet> =
            v4.iter().chain(v6.iter()).filter_map(subnets::route_subnet).collect();
        nets.extend(addrs.iter().filter_map(subnets::address_subnet));
        Ok(subnets::normalize(nets))
    }
}

/// EEXIST as [`Error::Exists`], anything else as [`Error::Netlink`].
fn exists_or(e: rtnetlink::Error, op: impl FnOnce() -> String) -> Error {
    if errno(&e) == Some(libc::EEXIST) {
        Error::Exists { op: op() }
    } else {
        Error::Netlink { op: op(), source: to_io(e) }
    }
}

fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(m) => Some(*m),
        _ => None,
    })
}

fn is_bridge(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => {
            infos.iter().any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge)))
        }
        _ => false,
    })
}

/// A random locally administered unicast MAC address.
fn random_mac() -> Result<[u8; 6], Error> {
    let mut mac = [0u8; 6];
    getrandom::fill(&mut mac)
        .map_err(|e| Error::Netlink { op: "choose a bridge MAC address".into(), source: std::io::Error::other(e.to_string()) })?;
    mac[0] = (mac[0] & 0xfe) | 0x02;
    Ok(mac)
}
