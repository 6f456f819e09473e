//! TCP for async code, through the core's ring: [`TcpStream`] (connect with
//! or without a timeout, read and write with owned buffers, shutdown) and
//! [`TcpListener`] (accept) for protocols of your own.
//!
//! The buffer goes to the kernel with the call and comes back with the
//! result. Dropping a future before it completes cancels the operation; the
//! buffer and the socket stay with the core until the kernel is done.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use super::sockaddr::{from_storage, to_storage};
use crate::driver::op::{cqe_result, AcceptOne, Connect, RecvInto, SendFrom};
use crate::runtime::executor::submit;

fn sockname(fd: &OwnedFd, peer: bool) -> io::Result<SocketAddr> {
    // SAFETY: plain old data; zeroes are valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast();
    // SAFETY: the kernel writes at most `len` bytes into our storage.
    let rc = unsafe {
        if peer {
            libc::getpeername(fd.as_raw_fd(), ptr, &mut len)
        } else {
            libc::getsockname(fd.as_raw_fd(), ptr, &mut len)
        }
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    from_storage(&storage)
}

/// A TCP connection of a task.
#[derive(Debug)]
pub struct TcpStream {
    fd: Rc<OwnedFd>,
}

impl TcpStream {
    /// Connects to `addr` (no time limit but the kernel's; see
    /// [`TcpStream::connect_timeout`]).
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let family = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: plain syscall; on success we own the new descriptor.
        let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is fresh and owned by nobody else.
        let socket = Rc::new(unsafe { OwnedFd::from_raw_fd(fd) });
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with an int option on our socket.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        let (addr, len) = to_storage(addr);
        let (_, res) = submit(Connect {
            socket: socket.clone(),
            addr,
            len,
        })
        .await;
        cqe_result(res)?;
        Ok(TcpStream { fd: socket })
    }

    /// Connects, or fails with `TimedOut` after `limit` (the attempt is
    /// cancelled).
    pub async fn connect_timeout(addr: SocketAddr, limit: Duration) -> io::Result<TcpStream> {
        match crate::time::timeout(limit, TcpStream::connect(addr)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {addr} timed out"),
            )),
        }
    }

    /// Receives into `buf`'s spare capacity (after its length); the buffer
    /// comes back with the bytes appended. `Ok(0)`: the peer closed (or no
    /// spare capacity).
    pub async fn read(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let (op, res) = submit(RecvInto {
            socket: self.fd.clone(),
            buf,
        })
        .await;
        match cqe_result(res) {
            Ok(n) => (Ok(n), op.into_buf(n)),
            Err(e) => (Err(e), op.into_buf(0)),
        }
    }

    /// Sends some of `buf`; returns how much went and the buffer.
    pub async fn write(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let (op, res) = submit(SendFrom {
            socket: self.fd.clone(),
            buf,
            sent: 0,
        })
        .await;
        (cqe_result(res), op.buf)
    }

    /// Sends all of `buf`.
    pub async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let mut op = SendFrom {
            socket: self.fd.clone(),
            buf,
            sent: 0,
        };
        while op.sent < op.buf.len() {
            let (back, res) = submit(op).await;
            op = back;
            match cqe_result(res) {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), op.buf),
                Ok(n) => op.sent += n,
                Err(e) => return (Err(e), op.buf),
            }
        }
        (Ok(()), op.buf)
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes: request and
    /// response protocols such as a database's want it).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        let value: libc::c_int = on.into();
        // SAFETY: setsockopt on our own socket with a properly sized int.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Shuts down reading, writing or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: plain syscall on our socket; it does not block.
        if unsafe { libc::shutdown(self.fd.as_raw_fd(), how) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether a connection that should be idle still is: nothing to read
    /// and not closed by the peer. For connection pools: a pooled
    /// connection that fails this must not be reused (the peer closed it,
    /// or sent something no request asked for). Costs one non-blocking
    /// `recv(MSG_PEEK)`.
    pub fn is_idle_and_open(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into our stack byte, non-blocking.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sockname(&self.fd, true)
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sockname(&self.fd, false)
    }
}

/// A listening socket of a task.
#[derive(Debug)]
pub struct TcpListener {
    fd: Rc<OwnedFd>,
}

impl TcpListener {
    /// Binds and listens on `addr` (port 0: the kernel picks one; see
    /// [`TcpListener::local_addr`]).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        Ok(TcpListener {
            fd: Rc::new(OwnedFd::from(listener)),
        })
    }

    /// Waits for a connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        // SAFETY: plain old data; zeroes are valid.
        let storage = unsafe { std::mem::zeroed() };
        let (op, res) = submit(AcceptOne {
            listener: self.fd.clone(),
            addr: Box::new((storage, 0)),
        })
        .await;
        let fd = cqe_result(res)? as i32;
        // SAFETY: a successful accept CQE carries a new descriptor nobody
        // else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let stream = TcpStream { fd: Rc::new(fd) };
        Ok((stream, from_storage(&op.addr.0)?))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sockname(&self.fd, false)
    }
}
