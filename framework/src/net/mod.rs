//! Sockets. The server's listeners: one `SO_REUSEPORT` listener per core, so
//! the kernel spreads new connections over the cores (the only state the
//! cores share). And for async code, [`TcpStream`] and [`TcpListener`] on the
//! core's ring.
//!
//! The first listener binds the configured address; when its port is 0 the
//! others bind the port the kernel chose for it, so every core serves one port.

mod compat;
pub(crate) mod sockaddr;
mod stream;

pub use compat::Compat;
pub use stream::{TcpListener, TcpStream};

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    self, setsockopt, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
};

/// Opens `count` listeners on `addr` with `SO_REUSEPORT`; returns them and the
/// address actually bound (port filled in when `addr` asked for port 0).
pub fn bind_listeners(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
) -> io::Result<(Vec<OwnedFd>, SocketAddr)> {
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

fn bind_one(addr: SocketAddr, backlog: u32) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
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
        let (fds, addr) = bind_listeners("127.0.0.1:0".parse().unwrap(), 3, 128).unwrap();
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
        let err = bind_listeners(taken.local_addr().unwrap(), 1, 16).unwrap_err();
        assert!(err.to_string().contains("cannot listen on"), "{err}");
    }
}
