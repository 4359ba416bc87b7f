//! `TcpMedia`: a shard's ICE-TCP listener and its connections (RFC 6544 passive candidates,
//! RFC 4571 framing), for clients that cannot send UDP to the media port.
//!
//! Each accepted connection gets two small tasks on the shard's own runtime: a reader that
//! cuts the stream into frames ([`FrameDecoder`], a fixed buffer of one largest frame) and
//! hands them to the shard loop over one bounded channel, and a writer that drains the
//! connection's own bounded queue of framed packets. The loop never waits on a connection:
//! a frame that does not fit the writer's queue (a client that stopped reading) drops that
//! connection, and a reader whose loop is busy waits, which TCP turns into backpressure on
//! that one client.
//!
//! A connection belongs to no transport until its first STUN request names one by ufrag (the
//! loop decides, as for UDP); until then it is *pending*: each address may hold only a few
//! pending connections and each must finish its first check within a deadline, so idle
//! connections cannot pile up. Connections that reached a transport count only against the
//! shard's total, since one NAT address may carry a whole office of participants.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rustc_hash::FxHashMap;
use slotmap::SlotMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::debug;

use super::peer::PeerKey;
use super::shard_config::TcpMediaConfig;
use super::stats::TcpCloseCause;
use super::tcp_framing::{encode_frame, is_stun, FrameDecoder, FrameError};

slotmap::new_key_type! {
    /// One TCP media connection on a shard.
    pub(crate) struct ConnKey;
}

/// Frames in flight from all readers to the loop; a reader waits when it is full.
const INPUT_CAPACITY: usize = 1024;
/// Bytes the writer gathers from its queue into one `write` call.
const WRITE_BATCH: usize = 64 * 1024;

/// What a connection's reader tells the loop.
#[derive(Debug)]
pub(crate) enum TcpInput {
    Frame { conn: ConnKey, frame: Vec<u8> },
    Closed { conn: ConnKey, cause: TcpCloseCause },
}

#[derive(Debug)]
struct Conn {
    remote: SocketAddr,
    /// The transport its STUN named; `None` while pending.
    peer: Option<PeerKey>,
    writer: mpsc::Sender<Vec<u8>>,
    tasks: [AbortHandle; 2],
}

/// What became of a packet handed to [`TcpMedia::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Queued,
    /// No connection to that address (closed meanwhile); the packet is dropped.
    NoConnection,
    /// The connection's queue was full: it was closed as a slow reader.
    Overflow,
}

#[derive(Debug)]
pub(crate) struct TcpMedia {
    listener: Option<TcpListener>,
    config: TcpMediaConfig,
    conns: SlotMap<ConnKey, Conn>,
    by_remote: FxHashMap<SocketAddr, ConnKey>,
    pending_per_ip: FxHashMap<IpAddr, usize>,
    /// Pending connections in accept order with their deadlines (one timeout for all, so the
    /// front is always the earliest).
    deadlines: VecDeque<(Instant, ConnKey)>,
    inputs_tx: mpsc::Sender<TcpInput>,
    inputs: mpsc::Receiver<TcpInput>,
    /// Connections closed, by [`TcpCloseCause`] index.
    pub closed: [u64; TcpCloseCause::COUNT],
}

impl TcpMedia {
    /// Serves `listener` (none: ICE-TCP is off, and this only ever stays empty).
    pub(crate) fn new(listener: Option<TcpListener>, config: TcpMediaConfig) -> TcpMedia {
        let (inputs_tx, inputs) = mpsc::channel(INPUT_CAPACITY);
        TcpMedia {
            listener,
            config,
            conns: SlotMap::with_key(),
            by_remote: FxHashMap::default(),
            pending_per_ip: FxHashMap::default(),
            deadlines: VecDeque::new(),
            inputs_tx,
            inputs,
            closed: [0; TcpCloseCause::COUNT],
        }
    }

    /// The next connection; never resolves without a listener.
    pub(crate) async fn accept(
        listener: &Option<TcpListener>,
    ) -> io::Result<(TcpStream, SocketAddr)> {
        match listener {
            Some(l) => l.accept().await,
            None => std::future::pending().await,
        }
    }

    /// The listener and the input channel, borrowed apart for the loop's `select!`.
    pub(crate) fn wake_sources(&mut self) -> (&Option<TcpListener>, &mut mpsc::Receiver<TcpInput>) {
        (&self.listener, &mut self.inputs)
    }

    /// A frame or close waiting from a reader, without waiting.
    pub(crate) fn try_input(&mut self) -> Option<TcpInput> {
        self.inputs.try_recv().ok()
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.conns.len()
    }

    /// Takes a new connection in unless a limit refuses it (then it is closed and counted).
    pub(crate) fn admit(&mut self, now: Instant, stream: TcpStream, remote: SocketAddr) {
        let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
        if self.config.loopback_only && !remote.ip().is_loopback() {
            return self.refuse(TcpCloseCause::NotLoopback);
        }
        if self.conns.len() >= self.config.max_connections {
            return self.refuse(TcpCloseCause::TotalLimit);
        }
        let pending = self
            .pending_per_ip
            .get(&address_key(remote.ip()))
            .copied()
            .unwrap_or(0);
        if pending >= self.config.max_pending_per_ip {
            return self.refuse(TcpCloseCause::PerIpLimit);
        }
        *self
            .pending_per_ip
            .entry(address_key(remote.ip()))
            .or_default() += 1;
        // Media is latency-bound; Nagle would hold small RTP packets back.
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (writer, queue) = mpsc::channel(self.config.write_queue.max(1));
        let inputs = self.inputs_tx.clone();
        let conns = &mut self.conns;
        let key = conns.insert_with_key(|key| {
            let reader = tokio::spawn(read_frames(read, key, inputs));
            let writing = tokio::spawn(write_frames(write, queue));
            Conn {
                remote,
                peer: None,
                writer,
                tasks: [reader.abort_handle(), writing.abort_handle()],
            }
        });
        self.by_remote.insert(remote, key);
        self.deadlines
            .push_back((now + self.config.handshake_timeout, key));
        debug!(%remote, "TCP media connection accepted");
    }

    fn refuse(&mut self, cause: TcpCloseCause) {
        self.closed[cause as usize] += 1;
    }

    /// The remote address of a connection and the transport it belongs to, if it is open.
    pub(crate) fn conn(&self, key: ConnKey) -> Option<(SocketAddr, Option<PeerKey>)> {
        self.conns.get(key).map(|c| (c.remote, c.peer))
    }

    /// The connection's first STUN named `peer`: it is no longer pending.
    pub(crate) fn bind(&mut self, key: ConnKey, peer: PeerKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.peer.is_none() {
            release_pending(&mut self.pending_per_ip, conn.remote.ip());
        }
        conn.peer = Some(peer);
    }

    /// Queues `payload` as one frame on the connection from `destination`, without waiting.
    pub(crate) fn send(&mut self, destination: SocketAddr, payload: &[u8]) -> Sent {
        let Some(&key) = self.by_remote.get(&destination) else {
            return Sent::NoConnection;
        };
        let Some(conn) = self.conns.get(key) else {
            return Sent::NoConnection;
        };
        let mut frame = Vec::with_capacity(payload.len() + 2);
        if !encode_frame(payload, &mut frame) {
            return Sent::NoConnection;
        }
        match conn.writer.try_send(frame) {
            Ok(()) => Sent::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(key, TcpCloseCause::SlowReader);
                Sent::Overflow
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.close(key, TcpCloseCause::ClosedByPeer);
                Sent::NoConnection
            }
        }
    }

    /// Closes a connection (its tasks end at once, which closes the socket) and counts why.
    pub(crate) fn close(&mut self, key: ConnKey, cause: TcpCloseCause) {
        let Some(conn) = self.conns.remove(key) else {
            return;
        };
        for task in &conn.tasks {
            task.abort();
        }
        if self.by_remote.get(&conn.remote) == Some(&key) {
            self.by_remote.remove(&conn.remote);
        }
        if conn.peer.is_none() {
            release_pending(&mut self.pending_per_ip, conn.remote.ip());
        }
        self.closed[cause as usize] += 1;
        debug!(remote = %conn.remote, ?cause, "TCP media connection closed");
    }

    /// Closes every connection of a transport that is gone.
    pub(crate) fn close_peer(&mut self, peer: PeerKey) {
        let keys: Vec<ConnKey> = self
            .conns
            .iter()
            .filter(|(_, c)| c.peer == Some(peer))
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.close(key, TcpCloseCause::TransportGone);
        }
    }

    /// When the earliest pending connection runs out of time.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|(at, _)| *at)
    }

    /// Closes the pending connections whose deadline passed.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if self.conns.get(key).is_some_and(|c| c.peer.is_none()) {
                self.close(key, TcpCloseCause::Idle);
            }
        }
    }
}

fn release_pending(pending_per_ip: &mut FxHashMap<IpAddr, usize>, ip: IpAddr) {
    let key = address_key(ip);
    if let Some(n) = pending_per_ip.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            pending_per_ip.remove(&key);
        }
    }
}

/// What the per-address limit counts by: an IPv4 address, or an IPv6 /64 (the block one
/// subscriber is handed, within which it may pick any address).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(octets.into())
        }
        v4 => v4,
    }
}

/// Reads frames until the connection ends or breaks the rules, then says why.
async fn read_frames(mut read: OwnedReadHalf, conn: ConnKey, inputs: mpsc::Sender<TcpInput>) {
    let mut decoder = FrameDecoder::default();
    let mut first = true;
    let cause = 'read: loop {
        match read.read(decoder.spare()).await {
            Ok(0) | Err(_) => break TcpCloseCause::ClosedByPeer,
            Ok(n) => decoder.filled(n),
        }
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(FrameError::Oversize(size)) => {
                    debug!(size, "ICE-TCP frame over the limit");
                    break 'read TcpCloseCause::OversizeFrame;
                }
                Err(FrameError::Empty) => break 'read TcpCloseCause::Garbage,
            };
            // RFC 6544 §7.1: a connection starts with a connectivity check; anything else
            // is not ICE, and nothing of it reaches str0m.
            if first && !is_stun(frame) {
                break 'read TcpCloseCause::Garbage;
            }
            first = false;
            let frame = TcpInput::Frame {
                conn,
                frame: frame.to_vec(),
            };
            if inputs.send(frame).await.is_err() {
                return;
            }
        }
    };
    let _ = inputs.send(TcpInput::Closed { conn, cause }).await;
}

/// Writes queued frames, several per `write` when they are waiting, until the queue closes or
/// the connection fails (the reader then sees it end).
async fn write_frames(mut write: OwnedWriteHalf, mut queue: mpsc::Receiver<Vec<u8>>) {
    let mut out = Vec::with_capacity(WRITE_BATCH);
    while let Some(frame) = queue.recv().await {
        out.clear();
        out.extend_from_slice(&frame);
        while out.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(frame) => out.extend_from_slice(&frame),
                Err(_) => break,
            }
        }
        if write.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use tokio::io::AsyncWriteExt;

    async fn listening(config: impl FnOnce(&mut TcpMediaConfig)) -> (TcpMedia, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut c = TcpMediaConfig::new(addr);
        config(&mut c);
        (TcpMedia::new(Some(listener), c), addr)
    }

    /// Connects a client and has `tcp` take the connection in; the client's stream.
    async fn connect(tcp: &mut TcpMedia, addr: SocketAddr) -> TcpStream {
        let client = TcpStream::connect(addr).await.expect("connect");
        let (stream, remote) = TcpMedia::accept(&tcp.listener).await.expect("accept");
        tcp.admit(clock::now(), stream, remote);
        client
    }

    fn stun_frame() -> Vec<u8> {
        let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        stun.extend_from_slice(&[7; 12]);
        let mut frame = Vec::new();
        encode_frame(&stun, &mut frame);
        frame
    }

    // A client that never reads fills its connection's queue; the next packet closes the
    // connection as a slow reader instead of waiting, and the shard's other work goes on.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped_not_waited_for() {
        let (mut tcp, addr) = listening(|c| c.write_queue = 8).await;
        let client = connect(&mut tcp, addr).await;
        let to = client.local_addr().expect("client addr");
        let mut queued = 0;
        loop {
            match tcp.send(to, &[0x80; 1200]) {
                Sent::Queued => queued += 1,
                Sent::Overflow => break,
                Sent::NoConnection => panic!("connection gone after {queued} packets"),
            }
            // Let the writer move what it can into the kernel's buffers.
            tokio::task::yield_now().await;
            assert!(queued < 200_000, "the queue never filled");
        }
        assert_eq!(tcp.closed[TcpCloseCause::SlowReader as usize], 1);
        assert_eq!(tcp.open(), 0);
        assert_eq!(tcp.send(to, b"late"), Sent::NoConnection);
    }

    // Each address holds a bounded number of pending connections; one bound to a transport
    // stops counting, and pending ones are closed at their deadline while bound ones stay.
    #[tokio::test]
    async fn pending_connections_are_limited_per_address_and_expire() {
        let (mut tcp, addr) = listening(|c| c.max_pending_per_ip = 2).await;
        let _a = connect(&mut tcp, addr).await;
        let _b = connect(&mut tcp, addr).await;
        let _refused = connect(&mut tcp, addr).await;
        assert_eq!(tcp.closed[TcpCloseCause::PerIpLimit as usize], 1);
        assert_eq!(tcp.open(), 2);
        let first = tcp.conns.keys().next().expect("a connection");
        tcp.bind(first, PeerKey::default());
        let _c = connect(&mut tcp, addr).await;
        assert_eq!(
            tcp.open(),
            3,
            "a bound connection leaves room for a pending one"
        );
        tcp.expire(clock::now() + tcp.config.handshake_timeout);
        assert_eq!(tcp.closed[TcpCloseCause::Idle as usize], 2);
        assert_eq!(tcp.open(), 1);
        assert!(tcp.conn(first).is_some());
        assert!(tcp.pending_per_ip.is_empty());
        tcp.close_peer(PeerKey::default());
        assert_eq!(tcp.open(), 0);
        assert_eq!(tcp.closed[TcpCloseCause::TransportGone as usize], 1);
    }

    // IPv6 addresses count by /64 against the per-address limit; IPv4 ones by address.
    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), v4);
    }

    // The reader passes STUN on as frames and ends a connection whose first frame is not
    // STUN, or whose frame is too long, with the cause.
    #[tokio::test]
    async fn readers_pass_frames_on_and_name_what_ends_a_connection() {
        let (mut tcp, addr) = listening(|_| {}).await;
        let mut good = connect(&mut tcp, addr).await;
        good.write_all(&stun_frame()).await.expect("write");
        match tcp.inputs.recv().await {
            Some(TcpInput::Frame { frame, .. }) => assert_eq!(frame.len(), 20),
            other => panic!("{other:?}"),
        }
        let mut garbage = connect(&mut tcp, addr).await;
        garbage
            .write_all(&[0, 3, 0x16, 0xfe, 0xfd])
            .await
            .expect("write");
        match tcp.inputs.recv().await {
            Some(TcpInput::Closed { cause, .. }) => assert_eq!(cause, TcpCloseCause::Garbage),
            other => panic!("{other:?}"),
        }
        let mut oversize = connect(&mut tcp, addr).await;
        oversize.write_all(&[0x40, 0x00]).await.expect("write");
        match tcp.inputs.recv().await {
            Some(TcpInput::Closed { cause, .. }) => {
                assert_eq!(cause, TcpCloseCause::OversizeFrame);
            }
            other => panic!("{other:?}"),
        }
        drop(good);
        match tcp.inputs.recv().await {
            Some(TcpInput::Closed { cause, .. }) => assert_eq!(cause, TcpCloseCause::ClosedByPeer),
            other => panic!("{other:?}"),
        }
    }
}
