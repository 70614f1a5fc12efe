//! The sockets and tasks of one server instance.
//!
//! The listening sockets are owned by the [`DnsServer`] alone; its tasks reach them through weak
//! references upgraded only for the length of one poll. So dropping the server closes both
//! sockets at once (the address can be bound again immediately), whatever the tasks are doing;
//! the tasks themselves stop on the drop of the server's stop channel (and are aborted).

use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::answer::{handle, Outcome, Transport};
use crate::forward::forward;
use crate::{Error, Lookup};

/// How often to try, with port 0, to find a port free for both UDP and TCP.
const BIND_ATTEMPTS: usize = 16;

/// Queries of one TCP connection handled at the same time.
const PER_CONNECTION: usize = 16;

/// Pause after a failed receive or accept (e.g. out of file descriptors) so the loop does not
/// spin.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Tunables of a [`DnsServer`]; [`Options::default`] is what berthd uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time allowed to each upstream for one forwarded query (connect, send and answer) before
    /// the next one is asked. Default 2 s.
    pub upstream_timeout: Duration,
    /// A TCP connection without a new query for this long is closed. Default 10 s.
    pub tcp_idle_timeout: Duration,
    /// Forwarded queries in flight at most (UDP and TCP together). A UDP query that would
    /// exceed it is dropped (the client retries); a TCP connection waits. Default 256.
    pub max_forwards: usize,
    /// Open TCP connections at most; more are closed on accept. Default 64.
    pub max_tcp_connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            upstream_timeout: Duration::from_secs(2),
            tcp_idle_timeout: Duration::from_secs(10),
            max_forwards: 256,
            max_tcp_connections: 64,
        }
    }
}

/// A running DNS server on one address, UDP and TCP. Dropping it stops it and closes its
/// sockets.
pub struct DnsServer {
    local: SocketAddr,
    udp: Option<Arc<UdpSocket>>,
    tcp: Option<Arc<TcpListener>>,
    tasks: Vec<JoinHandle<()>>,
    /// Never sent on: its drop tells every task to stop.
    _stop: watch::Sender<()>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// What every task of one server shares.
struct Shared {
    lookup: Arc<dyn Lookup>,
    server_ip: IpAddr,
    options: Options,
    forwards: Arc<Semaphore>,
    stop: watch::Receiver<()>,
}

impl DnsServer {
    /// Serve UDP and TCP on `listen` (port 53 in production, any port in tests) with the
    /// default [`Options`]. With port 0, one port free for both is chosen; see
    /// [`DnsServer::local_addr`]. Must be called within a tokio runtime.
    pub async fn start(listen: SocketAddr, lookup: Arc<dyn Lookup>) -> Result<DnsServer, Error> {
        Self::start_with(listen, lookup, Options::default()).await
    }

    /// [`DnsServer::start`] with explicit [`Options`].
    pub async fn start_with(
        listen: SocketAddr,
        lookup: Arc<dyn Lookup>,
        options: Options,
    ) -> Result<DnsServer, Error> {
        let (udp, tcp) = bind(listen).await?;
        let local = udp.local_addr().map_err(|source| Error::BindUdp {
            addr: listen,
            source,
        })?;
        let (stop_tx, stop) = watch::channel(());
        let shared = Arc::new(Shared {
            lookup,
            server_ip: listen.ip(),
            forwards: Arc::new(Semaphore::new(options.max_forwards.max(1))),
            options,
            stop,
        });
        let udp = Arc::new(udp);
        let tcp = Arc::new(tcp);
        let tasks = vec![
            spawn_until_stopped(&shared.stop, udp_loop(Arc::downgrade(&udp), shared.clone())),
            spawn_until_stopped(&shared.stop, tcp_loop(Arc::downgrade(&tcp), shared.clone())),
        ];
        tracing::debug!(%local, "dns server started");
        Ok(DnsServer {
            local,
            udp: Some(udp),
            tcp: Some(tcp),
            tasks,
            _stop: stop_tx,
        })
    }

    /// The address served, UDP and TCP (the chosen port when started with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // The only strong references: the sockets close here.
        self.udp.take();
        self.tcp.take();
        for task in &self.tasks {
            task.abort();
        }
        tracing::debug!(local = %self.local, "dns server stopped");
    }
}

async fn bind(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), Error> {
    let udp_err = |addr| move |source| Error::BindUdp { addr, source };
    if listen.port() != 0 {
        let udp = UdpSocket::bind(listen).await.map_err(udp_err(listen))?;
        let tcp = TcpListener::bind(listen)
            .await
            .map_err(|source| Error::BindTcp {
                addr: listen,
                source,
            })?;
        return Ok((udp, tcp));
    }
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(listen).await.map_err(udp_err(listen))?;
        let mut addr = listen;
        addr.set_port(udp.local_addr().map_err(udp_err(listen))?.port());
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(source) => return Err(Error::BindTcp { addr, source }),
        }
    }
    Err(Error::NoCommonPort { ip: listen.ip() })
}

/// Spawn `task`, ending it early when the server's stop channel closes.
fn spawn_until_stopped(
    stop: &watch::Receiver<()>,
    task: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let mut stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = async { while stop.changed().await.is_ok() {} } => {}
            _ = task => {}
        }
    })
}

/// Receive from the socket if it still exists (None once the server dropped it).
async fn recv_from(
    socket: &Weak<UdpSocket>,
    buf: &mut [u8],
) -> Option<io::Result<(usize, SocketAddr)>> {
    poll_fn(|cx| {
        let Some(socket) = socket.upgrade() else {
            return Poll::Ready(None);
        };
        let mut read = ReadBuf::new(buf);
        match socket.poll_recv_from(cx, &mut read) {
            Poll::Ready(Ok(peer)) => Poll::Ready(Some(Ok((read.filled().len(), peer)))),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Send from the socket if it still exists; errors are only logged (UDP is lossy anyway).
async fn send_to(socket: &Weak<UdpSocket>, packet: &[u8], peer: SocketAddr) {
    let sent = poll_fn(|cx| {
        let Some(socket) = socket.upgrade() else {
            return Poll::Ready(Ok(0));
        };
        socket.poll_send_to(cx, packet, peer)
    })
    .await;
    if let Err(e) = sent {
        tracing::debug!(%peer, "dns: sending the answer failed: {e}");
    }
}

/// Accept on the listener if it still exists (None once the server dropped it).
async fn accept(listener: &Weak<TcpListener>) -> Option<io::Result<(TcpStream, SocketAddr)>> {
    poll_fn(|cx| {
        let Some(listener) = listener.upgrade() else {
            return Poll::Ready(None);
        };
        listener.poll_accept(cx).map(Some)
    })
    .await
}

async fn udp_loop(socket: Weak<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        let (n, peer) = match recv_from(&socket, &mut buf).await {
            None => return,
            Some(Ok(received)) => received,
            Some(Err(e)) => {
                tracing::debug!("dns: udp receive failed: {e}");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        let packet = &buf[..n];
        match handle(
            packet,
            shared.server_ip,
            peer.ip(),
            &*shared.lookup,
            Transport::Udp,
        ) {
            Outcome::Drop => {}
            Outcome::Reply(answer) => send_to(&socket, &answer, peer).await,
            Outcome::Forward { fail } => {
                let Ok(permit) = shared.forwards.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "dns: too many forwarded queries in flight, dropping one");
                    continue;
                };
                let query = packet.to_vec();
                let socket = socket.clone();
                let task_shared = shared.clone();
                spawn_until_stopped(&shared.stop, async move {
                    let _permit = permit;
                    let shared = task_shared;
                    let upstreams = shared.lookup.upstreams(peer.ip());
                    let answer =
                        forward(&query, &upstreams, shared.options.upstream_timeout, false).await;
                    send_to(&socket, answer.as_deref().unwrap_or(&fail), peer).await;
                });
            }
        }
    }
}

async fn tcp_loop(listener: Weak<TcpListener>, shared: Arc<Shared>) {
    let connections = Arc::new(Semaphore::new(shared.options.max_tcp_connections.max(1)));
    loop {
        let (stream, peer) = match accept(&listener).await {
            None => return,
            Some(Ok(accepted)) => accepted,
            Some(Err(e)) => {
                tracing::debug!("dns: tcp accept failed: {e}");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "dns: too many tcp connections, closing one");
            continue;
        };
        let conn_shared = shared.clone();
        spawn_until_stopped(&shared.stop, async move {
            let _permit = permit;
            serve_connection(stream, peer, conn_shared).await;
        });
    }
}

/// Several length-prefixed queries on one connection, answered as they complete (possibly out
/// of order, as RFC 7766 allows); closed after the idle timeout or when the client closes.
async fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(PER_CONNECTION);

    let write = async move {
        while let Some(message) = rx.recv().await {
            let Ok(len) = u16::try_from(message.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(message.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&message);
            if writer.write_all(&framed).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    };

    let read = async move {
        let idle = shared.options.tcp_idle_timeout;
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            if in_flight.len() >= PER_CONNECTION {
                in_flight.join_next().await;
                continue;
            }
            let Ok(Ok(len)) = tokio::time::timeout(idle, reader.read_u16()).await else {
                break;
            };
            let mut packet = vec![0u8; usize::from(len)];
            if !matches!(
                tokio::time::timeout(idle, reader.read_exact(&mut packet)).await,
                Ok(Ok(_))
            ) {
                break;
            }
            match handle(
                &packet,
                shared.server_ip,
                peer.ip(),
                &*shared.lookup,
                Transport::Tcp,
            ) {
                Outcome::Drop => {}
                Outcome::Reply(answer) => {
                    if tx.send(answer).await.is_err() {
                        break;
                    }
                }
                Outcome::Forward { fail } => {
                    let Ok(permit) = shared.forwards.clone().acquire_owned().await else {
                        break;
                    };
                    let tx = tx.clone();
                    let shared = shared.clone();
                    in_flight.spawn(async move {
                        let _permit = permit;
                        let upstreams = shared.lookup.upstreams(peer.ip());
                        let answer =
                            forward(&packet, &upstreams, shared.options.upstream_timeout, true)
                                .await;
                        let _ = tx.send(answer.unwrap_or(fail)).await;
                    });
                }
            }
        }
        while in_flight.join_next().await.is_some() {}
        // `tx` is dropped here: the writer sends what is left and closes.
    };

    tokio::join!(read, write);
}
