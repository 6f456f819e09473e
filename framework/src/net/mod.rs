//! Sockets. The server's listeners: one `SO_REUSEPORT` listener per core, so
//! the kernel spreads new connections over the cores (the only state the
//! cores share). And for async code, [`TcpStream`] and [`TcpListener`] on the
//! core's ring.
//!
//! The first listener binds the configured address; when its port is 0 the
//! others bind the port the kernel chose for it, so every core serves one port.
//!
//! `SO_REUSEPORT` would also let any other process of the same user join the
//! port and take a share of its connections: a second copy started by
//! mistake would do so silently. So an address is first bound without it,
//! which fails with `EADDRINUSE` while anyone listens there; only a
//! takeover ([`Bind::Takeover`], `--takeover`) joins a running server on
//! purpose (a restart without downtime: docs/OPERATIONS.md).

mod compat;
pub mod proxy_protocol;
pub(crate) mod sockaddr;
mod stream;
mod trusted;

pub use compat::Compat;
pub use stream::{TcpListener, TcpStream};
pub use trusted::{ClientHeader, TrustedProxies};

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    self, setsockopt, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
};

/// Whether the listeners may join an address another process listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// The address must be free: `EADDRINUSE` if anyone listens there.
    Exclusive,
    /// Join the running server's `SO_REUSEPORT` group (a restart).
    Takeover,
}

/// Opens `count` listeners on `addr` with `SO_REUSEPORT`; returns them and the
/// address actually bound (port filled in when `addr` asked for port 0).
pub fn bind_listeners(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
    mode: Bind,
) -> io::Result<(Vec<OwnedFd>, SocketAddr)> {
    if mode == Bind::Exclusive && addr.port() != 0 {
        ensure_free(addr)?;
    }
    let mut bound = addr;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let fd = bind_one(bound, backlog)?;
        if bound.port() == 0 {
            let listener = StdListener::from(fd);
            bound = listener.local_addr()?;
            listeners.push(OwnedFd::from(listener));
        } else {
            listeners.push(fd);
        }
    }
    Ok((listeners, bound))
}

/// Binds `addr` without `SO_REUSEPORT` and lets it go: that fails while any
/// socket listens there, ours or another process's.
pub(crate) fn ensure_free(addr: SocketAddr) -> io::Result<()> {
    let fd = socket::socket(family(addr), SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    // Not blocked by connections of an earlier run in TIME_WAIT.
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr)).map_err(|e| {
        let why = match e {
            nix::errno::Errno::EADDRINUSE => format!(
                "cannot listen on {addr}: address already in use (EADDRINUSE): another \
                 process listens there; to replace a running percore without downtime, \
                 start the new one with --takeover (server.takeover = true)"
            ),
            e => format!("cannot listen on {addr}: {e}"),
        };
        io::Error::new(io::Error::from(e).kind(), why)
    })
}

fn family(addr: SocketAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn bind_one(addr: SocketAddr, backlog: u32) -> io::Result<OwnedFd> {
    let fd = socket::socket(family(addr), SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::ReusePort, &true)?;
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux; direct
    // descriptors can't take a setsockopt, so this is where it is set.
    setsockopt(&fd, sockopt::TcpNoDelay, &true)?;
    let sockaddr = SockaddrStorage::from(addr);
    socket::bind(fd.as_raw_fd(), &sockaddr).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("cannot listen on {addr}: {e}"),
        )
    })?;
    let backlog = socket::Backlog::new(backlog.min(i32::MAX as u32) as i32)
        .unwrap_or(socket::Backlog::MAXCONN);
    socket::listen(&fd, backlog)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_gives_every_listener_the_same_port() {
        let (fds, addr) =
            bind_listeners("127.0.0.1:0".parse().unwrap(), 3, 128, Bind::Exclusive).unwrap();
        assert_eq!(fds.len(), 3);
        assert_ne!(addr.port(), 0);
        for fd in fds {
            let l = StdListener::from(fd);
            assert_eq!(l.local_addr().unwrap(), addr);
        }
    }

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let taken = StdListener::bind("127.0.0.1:0").unwrap();
        let err = bind_listeners(taken.local_addr().unwrap(), 1, 16, Bind::Exclusive).unwrap_err();
        assert!(err.to_string().contains("cannot listen on"), "{err}");
    }

    #[test]
    fn a_running_server_is_joined_only_by_a_takeover() {
        let any = "127.0.0.1:0".parse().unwrap();
        let (running, addr) = bind_listeners(any, 2, 16, Bind::Exclusive).unwrap();
        // A second copy: refused, naming the address and the way out.
        let err = bind_listeners(addr, 2, 16, Bind::Exclusive).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let msg = err.to_string();
        assert!(
            msg.contains(&addr.to_string()) && msg.contains("EADDRINUSE"),
            "{msg}"
        );
        assert!(msg.contains("--takeover"), "{msg}");
        // A takeover joins it; once both are gone the address is free again.
        let (joined, at) = bind_listeners(addr, 2, 16, Bind::Takeover).unwrap();
        assert_eq!(at, addr);
        drop(running);
        drop(joined);
        let (again, _) = bind_listeners(addr, 1, 16, Bind::Exclusive).unwrap();
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn a_takeover_cannot_join_a_socket_without_reuseport() {
        let taken = StdListener::bind("127.0.0.1:0").unwrap();
        let err = bind_listeners(taken.local_addr().unwrap(), 1, 16, Bind::Takeover).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    }
}
