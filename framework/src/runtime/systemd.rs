//! systemd's readiness protocol (`Type=notify`): `READY=1` once every worker
//! listens, `STOPPING=1` when the drain begins, as a datagram to
//! `$NOTIFY_SOCKET`. Without that variable (not under systemd) nothing is
//! sent. It lets `systemctl start percore@b && systemctl stop percore@a`
//! stop the old server only once the new one accepts connections.

use std::os::unix::net::UnixDatagram;

/// Sends `state` to systemd, if it asked for it. Failures are logged: the
/// server runs the same without it.
pub(crate) fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|socket| {
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
        match bytes.strip_prefix(b"@") {
            // An abstract socket (systemd's usual choice).
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &addr)
            }
            None => socket.send_to(state.as_bytes(), &path),
        }
    });
    if let Err(e) = sent {
        tracing::warn!("cannot notify systemd ({state}): {e}");
    }
}
