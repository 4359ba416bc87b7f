//! Which source address a shard's replies carry when its socket is bound to every interface.
//!
//! A socket bound to 0.0.0.0 (or ::) lets the kernel pick each reply's source address from
//! the route to the peer, which need not be the address the peer sent to: on a host with
//! several addresses (or on loopback, where 127.0.0.2 is answered from 127.0.0.1) the peer's
//! ICE agent then drops the answer as coming from an unknown address (RFC 8445 §7.2.5.2.1
//! requires a symmetric path). When the advertised address is one of this host's own, the
//! shard therefore names it as the source (`IP_PKTINFO` / `IPV6_PKTINFO`). Behind a 1:1 NAT
//! the advertised address is not local, the NAT rewrites the source, and the kernel's choice
//! stands.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;

use nix::libc;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn, SockaddrIn6};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// The source address to put on replies, per address family; `None` leaves it to the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReplySource {
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
}

impl ReplySource {
    /// For a socket bound to `bind` that advertises `public_ips`: the first advertised address
    /// of each family when the bind address is unspecified and that address is local (a socket
    /// can bind it). A socket bound to one address already replies from it.
    pub(crate) fn new(bind: IpAddr, public_ips: &[IpAddr]) -> ReplySource {
        let mut source = ReplySource::default();
        if !bind.is_unspecified() {
            return source;
        }
        let is_local = |ip: IpAddr| StdUdpSocket::bind(SocketAddr::new(ip, 0)).is_ok();
        source.v4 = public_ips.iter().find_map(|ip| match ip {
            IpAddr::V4(v4) if is_local(*ip) => Some(*v4),
            _ => None,
        });
        // An IPv4-only socket cannot send IPv6 at all.
        if bind.is_ipv6() {
            source.v6 = public_ips.iter().find_map(|ip| match ip {
                IpAddr::V6(v6) if is_local(*ip) => Some(*v6),
                _ => None,
            });
            // IP_PKTINFO does not apply to IPv4 sent from a dual-stack IPv6 socket.
            source.v4 = None;
        }
        source
    }

    /// Sends `data` to `destination` without waiting, from the chosen source address.
    pub(crate) fn try_send_to(
        &self,
        socket: &UdpSocket,
        data: &[u8],
        destination: SocketAddr,
    ) -> io::Result<usize> {
        let iov = [io::IoSlice::new(data)];
        match (destination, self.v4, self.v6) {
            (SocketAddr::V4(to), Some(from), _) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(from.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let cmsg = [ControlMessage::Ipv4PacketInfo(&info)];
                let to = SockaddrIn::from(to);
                socket.try_io(Interest::WRITABLE, || {
                    sendmsg(
                        socket.as_raw_fd(),
                        &iov,
                        &cmsg,
                        MsgFlags::empty(),
                        Some(&to),
                    )
                    .map_err(io::Error::from)
                })
            }
            (SocketAddr::V6(to), _, Some(from)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: from.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                let cmsg = [ControlMessage::Ipv6PacketInfo(&info)];
                let to = SockaddrIn6::from(to);
                socket.try_io(Interest::WRITABLE, || {
                    sendmsg(
                        socket.as_raw_fd(),
                        &iov,
                        &cmsg,
                        MsgFlags::empty(),
                        Some(&to),
                    )
                    .map_err(io::Error::from)
                })
            }
            _ => socket.try_send_to(data, destination),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A socket bound to one address needs no source; an unspecified bind takes the advertised
    // address only when it is this host's own.
    #[test]
    fn source_only_for_an_unspecified_bind_and_a_local_address() {
        let loopback2 = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let documentation = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            ReplySource::new(IpAddr::V4(Ipv4Addr::LOCALHOST), &[loopback2]),
            ReplySource::default()
        );
        assert_eq!(
            ReplySource::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), &[documentation]),
            ReplySource::default()
        );
        assert_eq!(
            ReplySource::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                &[documentation, loopback2]
            )
            .v4,
            Some(Ipv4Addr::new(127, 0, 0, 2))
        );
    }
}
