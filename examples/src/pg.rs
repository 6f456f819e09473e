//! A tokio-postgres connection on the current core's ring
//! (`percore::net::TcpStream::compat`, no tokio runtime): the connection's
//! I/O task runs with `spawn_local`.

use std::time::Duration;

use percore::net::TcpStream;
use tokio_postgres::{Client, Config, NoTls};

/// `--database-url` parsed, or the program ends with exit code 2 and the
/// reason (a command-line error).
pub fn config_or_exit(url: &str) -> Config {
    match url.parse::<Config>() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: --database-url: {e}");
            std::process::exit(2);
        }
    }
}

/// Connects to the database `config` names (TCP; 5 s to connect).
pub async fn connect(config: &Config) -> Result<Client, String> {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let addr = format!("{host}:{port}");
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let stream = TcpStream::connect_timeout(addr, Duration::from_secs(5))
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (client, connection) = config
        .connect_raw(stream.compat(), NoTls)
        .await
        .map_err(|e| e.to_string())?;
    percore::spawn_local(async move {
        if let Err(e) = connection.await {
            tracing::warn!("database connection ended: {e}");
        }
    });
    Ok(client)
}
