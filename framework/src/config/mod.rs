//! Server configuration: the `config.toml` schema, its defaults, and validation.
//!
//! Loading is three steps, each failing with one line that names the key:
//!
//! 1. Parse the TOML (syntax errors carry `line:column`).
//! 2. Walk the table: an unknown section or key, or a value of the wrong type,
//!    is reported as `section.key` with what is allowed there.
//! 3. Deserialize (every field has a default, so a partial file is fine) and
//!    [`Config::validate`] the ranges and cross-field rules.
//!
//! Command-line flags ([`CommonArgs`]) are applied over the file before
//! validation, so flags override the file.
//!
//! Every default is a named `DEFAULT_*` const and every bound a `*_RANGE`
//! const, each saying where its number comes from.

mod cli;
mod error;
mod load;
mod validate;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::runtime::access::AccessFormat;
pub use cli::{CommonArgs, ExampleCli};
pub use error::{ConfigError, ConfigErrorKind};
pub use load::parse_listen;

// ---------------------------------------------------------------- [server]

/// `127.0.0.1:8080`: the address every percore binary listens on unless told
/// otherwise (docs/ARCHITECTURE.md, "Contracts other tools rely on").
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 8080));
/// `0` = one worker per CPU in the process's affinity mask (docs/ARCHITECTURE.md contract
/// for `--workers`), like nginx `worker_processes auto`.
pub const DEFAULT_WORKERS: usize = 0;
/// Allowed `server.workers`: more pinned threads than this is a typo, not a machine.
pub const WORKERS_RANGE: RangeInclusive<usize> = 0..=1024;
/// Connections per worker. nginx's `worker_connections` defaults to 512, which
/// a benchmark exhausts at once; 16384 per core covers wrk/oha runs with
/// thousands of connections. It also sizes each core's sparse direct-descriptor
/// table, so it must fit under `RLIMIT_NOFILE`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16384;
/// Allowed `server.max_connections` (per worker).
pub const MAX_CONNECTIONS_RANGE: RangeInclusive<usize> = 1..=1_000_000;
/// The `Server` response header; TechEmpower's rules require one.
pub const DEFAULT_SERVER_HEADER: &str = "percore";
/// `listen(2)` backlog: Linux's default `net.core.somaxconn` since 5.4
/// (nginx uses 511, which overflows under a connection storm).
pub const DEFAULT_BACKLOG: u32 = 4096;
/// Allowed `server.backlog`; the kernel silently caps it at `net.core.somaxconn`.
pub const BACKLOG_RANGE: RangeInclusive<u32> = 1..=65535;

// ---------------------------------------------------------------- [limits]

/// Longest request target (the URI in the request line), in bytes. nginx's
/// `large_client_header_buffers 4 8k`: a request line must fit in one 8k
/// buffer, else 414 URI Too Long.
pub const DEFAULT_MAX_REQUEST_TARGET: usize = 8192;
/// Allowed `limits.max_request_target`; it must also be `<= limits.max_header_bytes`.
pub const MAX_REQUEST_TARGET_RANGE: RangeInclusive<usize> = 64..=1 << 20;
/// Largest request head (request line + headers), in bytes: nginx's
/// `large_client_header_buffers 4 8k` = 32 KiB in all, else 431.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 << 10;
/// Allowed `limits.max_header_bytes`: 1 MiB of head per connection is already
/// a memory-exhaustion vector.
pub const MAX_HEADER_BYTES_RANGE: RangeInclusive<usize> = 64..=1 << 20;
/// Most header fields in one request: hyper's `DEFAULT_MAX_HEADERS` is 100.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Allowed `limits.max_headers`: the parser's header array lives on the stack.
pub const MAX_HEADERS_RANGE: RangeInclusive<usize> = 1..=256;
/// Largest request body, in bytes: nginx's `client_max_body_size 1m`, else 413.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;

// ---------------------------------------------------------------- [timeouts]

/// Idle keep-alive connection timeout: nginx's `keepalive_timeout 75s`.
pub const DEFAULT_KEEPALIVE_SECS: u64 = 75;
/// Time to receive a whole request head: nginx's `client_header_timeout 60s`.
pub const DEFAULT_HEADER_SECS: u64 = 60;
/// Longest gap between two reads of a request body: nginx's `client_body_timeout 60s`.
pub const DEFAULT_BODY_SECS: u64 = 60;
/// Longest gap between two successful writes of a response: nginx's `send_timeout 60s`.
pub const DEFAULT_SEND_SECS: u64 = 60;
/// Lingering close: how long to drain a client's unread input before closing,
/// so the kernel sends FIN rather than RST: nginx's `lingering_timeout 5s`.
pub const DEFAULT_LINGER_SECS: u64 = 5;
/// Graceful shutdown deadline after SIGTERM/SIGINT: in-flight requests get
/// this long, then connections are closed (systemd's stop timeout is 90 s,
/// Kubernetes' grace period 30 s; 10 s fits under both).
pub const DEFAULT_DRAIN_SECS: u64 = 10;
/// Allowed keepalive/header/body/send/linger timeouts: at least a second, at
/// most a day (a bigger number is usually milliseconds written as seconds).
pub const TIMEOUT_SECS_RANGE: RangeInclusive<u64> = 1..=86_400;
/// Allowed `timeouts.drain_secs`: 0 closes everything at once.
pub const DRAIN_SECS_RANGE: RangeInclusive<u64> = 0..=86_400;

// ---------------------------------------------------------------- [ring]

/// Submission queue entries per core (the completion queue is sized 4x).
/// 1024 covers one multishot accept, one recv and one send per active
/// connection per loop turn at wrk's usual concurrency.
pub const DEFAULT_RING_ENTRIES: u32 = 1024;
/// Allowed `ring.entries` (a power of two): the kernel's `IORING_MAX_ENTRIES` is 32768.
pub const RING_ENTRIES_RANGE: RangeInclusive<u32> = 2..=32768;
/// SQPOLL burns a core per ring, so it is never on by default (docs/ARCHITECTURE.md).
pub const DEFAULT_SQPOLL: bool = false;
/// Idle time before the SQPOLL kernel thread sleeps; the kernel's own default
/// is one second (and 0 means that default).
pub const DEFAULT_SQPOLL_IDLE_MS: u32 = 1000;
/// Provided-buffer-ring entries per core. Idle connections hold no buffer, so
/// this bounds connections *reading at the same moment*, not connections.
/// 512 x 4 KiB = 2 MiB per core. The ring hands buffers out in turn, so all
/// of them get touched: 2048 cost 8 MiB of RSS (~900 B per idle connection at
/// 10,000 connections) for no throughput gain over 512 (pipelined plaintext
/// 0.495 vs 0.47-0.48 us per request, within noise).
pub const DEFAULT_BUFFERS: u32 = 512;
/// Allowed `ring.buffers` (a power of two): the kernel rejects a buffer ring
/// of 65536 entries or more.
pub const BUFFERS_RANGE: RangeInclusive<u32> = 1..=32768;
/// Bytes per provided buffer: one page, which holds a typical request head.
pub const DEFAULT_BUFFER_SIZE: u32 = 4096;
/// Allowed `ring.buffer_size`.
pub const BUFFER_SIZE_RANGE: RangeInclusive<u32> = 512..=1 << 20;
/// Most memory one core's buffer ring may take (`buffers * buffer_size`).
pub const MAX_BUFFER_RING_BYTES: u64 = 1 << 30;

// ---------------------------------------------------------------- [log]

/// Log filter in `RUST_LOG` syntax; `RUST_LOG` overrides it. `info` logs
/// startup (features, `listening on ...`) and errors, nothing per request.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// One access-log line per request (used by the file server), like nginx's
/// `access_log` which is on by default.
pub const DEFAULT_ACCESS_LOG: bool = true;
/// Level names accepted in `log.level`.
pub const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

// ---------------------------------------------------------------- [files]

/// Directory served by the file server: the current directory, like
/// `python -m http.server`.
pub const DEFAULT_ROOT: &str = ".";
/// File served for a directory request: nginx's `index index.html`.
pub const DEFAULT_INDEX: &str = "index.html";
/// Directory listings: off, like nginx's `autoindex off` (listings leak names).
pub const DEFAULT_LISTING: bool = false;
/// Serve dot-files (`.git`, `.env`)? Off: they are usually secrets.
pub const DEFAULT_DOTFILES: bool = false;
/// `Cache-Control` for files: GitHub Pages' `max-age=600`. Short enough that a
/// redeploy shows within ten minutes; ETag/Last-Modified make revalidation a
/// cheap 304 afterwards.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=600";

// ---------------------------------------------------------------- schema

/// The whole configuration: `config.toml`, then command-line flags over it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub limits: LimitsSection,
    pub timeouts: TimeoutsSection,
    pub ring: RingSection,
    pub log: LogSection,
    pub files: FilesSection,
    pub metrics: MetricsSection,
    pub tls: TlsSection,
}

/// `[tls]`: HTTPS on `server.listen`. Off while `cert` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// A DER OCSP response to staple; empty: none.
    pub ocsp: PathBuf,
    /// More certificates, chosen by the name the client asks for (SNI).
    pub sni: Vec<SniCert>,
    /// `IP:PORT` of a plain-HTTP listener that redirects to HTTPS; empty: none.
    pub redirect_http: String,
    /// The HTTPS port clients see, for the redirect's `Location` (443 is
    /// left out); 0: `server.listen`'s port. For a port forwarded from 443.
    pub redirect_https_port: u16,
    /// Send `Strict-Transport-Security` on every HTTPS response.
    pub hsts: bool,
    /// Its `max-age`, in seconds.
    pub hsts_max_age: u64,
    /// Add `includeSubDomains` to it.
    pub hsts_include_subdomains: bool,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection {
            cert: PathBuf::new(),
            key: PathBuf::new(),
            ocsp: PathBuf::new(),
            sni: Vec::new(),
            redirect_http: String::new(),
            redirect_https_port: 0,
            hsts: false,
            // A year, as nginx's documentation and most guides use.
            hsts_max_age: 31_536_000,
            hsts_include_subdomains: false,
        }
    }
}

impl TlsSection {
    /// Whether HTTPS is on.
    pub fn enabled(&self) -> bool {
        !self.cert.as_os_str().is_empty()
    }

    /// The redirecting listener's address, when there is one (checked by
    /// `validate`).
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_http.parse().ok()
    }

    /// The `Strict-Transport-Security` value, when on.
    pub fn hsts_value(&self) -> Option<String> {
        let sub = if self.hsts_include_subdomains {
            "; includeSubDomains"
        } else {
            ""
        };
        (self.enabled() && self.hsts).then(|| format!("max-age={}{sub}", self.hsts_max_age))
    }
}

/// One `[[tls.sni]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SniCert {
    /// `example.com`, or `*.example.com` for any one label before it.
    pub server_name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A DER OCSP response to staple; empty: none.
    pub ocsp: PathBuf,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// `IP:PORT` of the endpoint (`GET /metrics`); empty: off.
    pub listen: String,
}

impl MetricsSection {
    /// The endpoint's address, when it is on (checked by `validate`).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }
}

/// `[server]`: where to listen and how many workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// `IP:PORT` (a `HOST:PORT` is resolved once, IPv4 preferred); port 0 picks a free port.
    #[serde(deserialize_with = "load::deserialize_listen")]
    pub listen: SocketAddr,
    /// Worker threads, one pinned per core; 0 = one per CPU in the affinity mask.
    pub workers: usize,
    /// Open connections per worker.
    pub max_connections: usize,
    /// `Server` response header value; empty = no header.
    pub server_header: String,
    /// `listen(2)` backlog.
    pub backlog: u32,
    /// Join a running server's port (a restart without downtime) instead
    /// of failing with `EADDRINUSE` when the address is taken.
    pub takeover: bool,
    /// Proxies (addresses or CIDR blocks) whose PROXY header, `Forwarded`
    /// or `X-Forwarded-For` name the client; from any other peer those are
    /// ignored.
    pub trusted_proxies: Vec<String>,
    /// The field trusted proxies name the client in: `x-forwarded-for` or
    /// `forwarded` (one only, as nginx's `real_ip_header`).
    pub client_header: crate::net::ClientHeader,
    /// Every connection starts with a PROXY protocol header (v1 or v2).
    pub proxy_protocol: bool,
}

/// `[limits]`: request size limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Longest request target in bytes (414 beyond).
    pub max_request_target: usize,
    /// Longest request head in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields (431 beyond).
    pub max_headers: usize,
    /// Largest request body in bytes (413 beyond); 0 rejects any body.
    pub max_body: u64,
}

/// `[timeouts]`: all in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsSection {
    pub keepalive_secs: u64,
    pub header_secs: u64,
    pub body_secs: u64,
    pub send_secs: u64,
    pub linger_secs: u64,
    /// Graceful shutdown deadline; 0 = close at once.
    pub drain_secs: u64,
}

/// `[ring]`: io_uring sizing, per core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingSection {
    /// Submission queue entries (power of two).
    pub entries: u32,
    /// Kernel-side submission polling: no syscalls, one spinning kernel thread per core.
    pub sqpoll: bool,
    /// SQPOLL thread idle time before it sleeps, in milliseconds.
    pub sqpoll_idle_ms: u32,
    /// Provided-buffer-ring entries (power of two).
    pub buffers: u32,
    /// Bytes per provided buffer.
    pub buffer_size: u32,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Filter in `RUST_LOG` syntax (`info`, `warn,percore=debug`); `RUST_LOG` overrides it.
    pub level: String,
    /// One line per request (file server).
    pub access_log: bool,
    /// `combined` (nginx's, with the request time) or `json`.
    pub access_format: AccessFormat,
    /// File the access log is appended to (reopened on SIGUSR1); empty:
    /// standard output.
    pub access_file: PathBuf,
}

/// `[files]`: the static file server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesSection {
    /// Directory to serve.
    pub root: PathBuf,
    /// File name served for a directory; empty = none.
    pub index: String,
    /// HTML listing for a directory without an index file.
    pub listing: bool,
    /// Serve names starting with `.`.
    pub dotfiles: bool,
    /// `Cache-Control` header on files; empty = none.
    pub cache_control: String,
    /// `; charset=` added to text types (`"utf-8"`); empty = none.
    pub charset: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: DEFAULT_LISTEN,
            workers: DEFAULT_WORKERS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            server_header: DEFAULT_SERVER_HEADER.to_owned(),
            backlog: DEFAULT_BACKLOG,
            takeover: false,
            trusted_proxies: Vec::new(),
            client_header: crate::net::ClientHeader::XForwardedFor,
            proxy_protocol: false,
        }
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_request_target: DEFAULT_MAX_REQUEST_TARGET,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        TimeoutsSection {
            keepalive_secs: DEFAULT_KEEPALIVE_SECS,
            header_secs: DEFAULT_HEADER_SECS,
            body_secs: DEFAULT_BODY_SECS,
            send_secs: DEFAULT_SEND_SECS,
            linger_secs: DEFAULT_LINGER_SECS,
            drain_secs: DEFAULT_DRAIN_SECS,
        }
    }
}

impl Default for RingSection {
    fn default() -> Self {
        RingSection {
            entries: DEFAULT_RING_ENTRIES,
            sqpoll: DEFAULT_SQPOLL,
            sqpoll_idle_ms: DEFAULT_SQPOLL_IDLE_MS,
            buffers: DEFAULT_BUFFERS,
            buffer_size: DEFAULT_BUFFER_SIZE,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: DEFAULT_LOG_LEVEL.to_owned(),
            access_log: DEFAULT_ACCESS_LOG,
            access_format: AccessFormat::Combined,
            access_file: PathBuf::new(),
        }
    }
}

impl Default for FilesSection {
    fn default() -> Self {
        FilesSection {
            root: PathBuf::from(DEFAULT_ROOT),
            index: DEFAULT_INDEX.to_owned(),
            listing: DEFAULT_LISTING,
            dotfiles: DEFAULT_DOTFILES,
            cache_control: DEFAULT_CACHE_CONTROL.to_owned(),
            charset: String::new(),
        }
    }
}

/// Each timeout as a [`Duration`] (`keepalive()` is `keepalive_secs`, ...).
impl TimeoutsSection {
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs)
    }
    pub fn header(&self) -> Duration {
        Duration::from_secs(self.header_secs)
    }
    pub fn body(&self) -> Duration {
        Duration::from_secs(self.body_secs)
    }
    pub fn send(&self) -> Duration {
        Duration::from_secs(self.send_secs)
    }
    pub fn linger(&self) -> Duration {
        Duration::from_secs(self.linger_secs)
    }
    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_secs)
    }
}
