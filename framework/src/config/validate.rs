//! Step 3 of loading: ranges and cross-field rules.

use std::fmt::Display;
use std::ops::RangeInclusive;

use super::load::join;
use super::*;

impl Config {
    /// Checks ranges and cross-field rules. The first violation is returned,
    /// naming its key and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        in_range(
            "server.workers",
            s.workers,
            &WORKERS_RANGE,
            "0 = one per CPU",
        )?;
        in_range(
            "server.max_connections",
            s.max_connections,
            &MAX_CONNECTIONS_RANGE,
            "per worker",
        )?;
        header_value("server.server_header", &s.server_header)?;
        in_range(
            "server.backlog",
            s.backlog,
            &BACKLOG_RANGE,
            "the kernel caps it at net.core.somaxconn",
        )?;

        let l = &self.limits;
        in_range(
            "limits.max_header_bytes",
            l.max_header_bytes,
            &MAX_HEADER_BYTES_RANGE,
            "bytes",
        )?;
        in_range(
            "limits.max_request_target",
            l.max_request_target,
            &MAX_REQUEST_TARGET_RANGE,
            "bytes",
        )?;
        if l.max_request_target > l.max_header_bytes {
            return Err(invalid(
                "limits.max_request_target",
                format!(
                    "limits.max_request_target = {} is larger than limits.max_header_bytes = {} \
                     (the request line is part of the head)",
                    l.max_request_target, l.max_header_bytes
                ),
            ));
        }
        in_range("limits.max_headers", l.max_headers, &MAX_HEADERS_RANGE, "")?;

        let t = &self.timeouts;
        for (key, secs) in [
            ("timeouts.keepalive_secs", t.keepalive_secs),
            ("timeouts.header_secs", t.header_secs),
            ("timeouts.body_secs", t.body_secs),
            ("timeouts.send_secs", t.send_secs),
            ("timeouts.linger_secs", t.linger_secs),
        ] {
            in_range(key, secs, &TIMEOUT_SECS_RANGE, "seconds")?;
        }
        in_range(
            "timeouts.drain_secs",
            t.drain_secs,
            &DRAIN_SECS_RANGE,
            "seconds, 0 = close at once",
        )?;

        let r = &self.ring;
        power_of_two("ring.entries", r.entries, &RING_ENTRIES_RANGE)?;
        power_of_two("ring.buffers", r.buffers, &BUFFERS_RANGE)?;
        in_range(
            "ring.buffer_size",
            r.buffer_size,
            &BUFFER_SIZE_RANGE,
            "bytes",
        )?;
        let ring_bytes = u64::from(r.buffers) * u64::from(r.buffer_size);
        if ring_bytes > MAX_BUFFER_RING_BYTES {
            return Err(invalid(
                "ring.buffers",
                format!(
                    "ring.buffers * ring.buffer_size = {} * {} = {} MiB per core, more than the {} MiB allowed",
                    r.buffers,
                    r.buffer_size,
                    ring_bytes >> 20,
                    MAX_BUFFER_RING_BYTES >> 20
                ),
            ));
        }

        log_filter("log.level", &self.log.level)?;

        if let Err(e) = crate::net::TrustedProxies::parse(&self.server.trusted_proxies) {
            return Err(invalid(
                "server.trusted_proxies",
                format!("server.trusted_proxies: {e} (allowed: addresses like \"10.0.0.1\" or blocks like \"10.0.0.0/8\")"),
            ));
        }

        let m = &self.metrics.listen;
        if !m.is_empty() && m.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "metrics.listen",
                format!("metrics.listen = {m:?} is not an IP:PORT address (allowed: e.g. \"127.0.0.1:9090\", or \"\" for off)"),
            ));
        }
        // Two of our own listeners on one port: with --takeover the kernel
        // would split connections between them; without, the second fails
        // as if another process held the port.
        if let Some(metrics) = self.metrics.addr() {
            let others = [
                ("server.listen", Some(self.server.listen)),
                ("tls.redirect_http", self.tls.redirect_addr()),
            ];
            for (key, other) in others {
                if let Some(other) = other.filter(|&o| overlap(metrics, o)) {
                    return Err(invalid(
                        "metrics.listen",
                        format!(
                            "metrics.listen = {m:?} overlaps {key} = {other} (use another port)"
                        ),
                    ));
                }
            }
        }

        self.validate_tls()?;

        let f = &self.files;
        if f.root.as_os_str().is_empty() {
            return Err(invalid(
                "files.root",
                "files.root is empty (allowed: a directory path, e.g. \".\")".to_owned(),
            ));
        }
        if f.index == "." || f.index == ".." || f.index.contains(['/', '\\', '\0']) {
            return Err(invalid(
                "files.index",
                format!(
                    "files.index = {:?} is not a plain file name (allowed: a name like \"index.html\", or \"\" for none)",
                    f.index
                ),
            ));
        }
        header_value("files.cache_control", &f.cache_control)?;
        // A charset name is a token (RFC 9110 8.3.2: "utf-8", "iso-8859-1").
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if !f.charset.bytes().all(token) {
            return Err(invalid(
                "files.charset",
                format!(
                    "files.charset = {:?} is not a charset name (allowed: a name like \"utf-8\", or \"\" for none)",
                    f.charset
                ),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// `[tls]`: a key with its certificate, SNI entries whole, the
    /// redirect address. The files are read (and checked) at start.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let t = &self.tls;
        let set = |p: &std::path::Path| !p.as_os_str().is_empty();
        let others = set(&t.key)
            || set(&t.ocsp)
            || !t.sni.is_empty()
            || !t.redirect_http.is_empty()
            || t.hsts;
        if !t.enabled() {
            if others {
                return Err(invalid(
                    "tls.cert",
                    "tls.cert is empty but other [tls] keys are set (allowed: a PEM certificate \
                     chain path, with tls.key)"
                        .to_owned(),
                ));
            }
            return Ok(());
        }
        if !set(&t.key) {
            return Err(invalid(
                "tls.key",
                "tls.key is empty (allowed: the PEM private key of tls.cert)".to_owned(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in t.sni.iter().enumerate() {
            if s.server_name.parse::<std::net::IpAddr>().is_ok() {
                return Err(invalid(
                    "tls.sni.server_name",
                    format!(
                        "tls.sni[{i}].server_name = {:?} is an IP address, which SNI never \
                         carries (a client that connects by address gets tls.cert)",
                        s.server_name
                    ),
                ));
            }
            if !seen.insert(s.server_name.to_ascii_lowercase()) {
                return Err(invalid(
                    "tls.sni.server_name",
                    format!(
                        "tls.sni[{i}].server_name = {:?} is listed twice (names are \
                         case-insensitive)",
                        s.server_name
                    ),
                ));
            }
            let name = s.server_name.strip_prefix("*.").unwrap_or(&s.server_name);
            let label = |l: &str| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            if name.is_empty() || !name.split('.').all(label) {
                return Err(invalid(
                    "tls.sni.server_name",
                    format!(
                        "tls.sni[{i}].server_name = {:?} is not a host name (allowed: \
                         \"example.com\" or \"*.example.com\")",
                        s.server_name
                    ),
                ));
            }
            if !set(&s.cert) || !set(&s.key) {
                return Err(invalid(
                    "tls.sni.cert",
                    format!("tls.sni[{i}] ({}) needs both cert and key", s.server_name),
                ));
            }
        }
        let r = &t.redirect_http;
        if !r.is_empty() && t.redirect_addr().is_none() {
            return Err(invalid(
                "tls.redirect_http",
                format!("tls.redirect_http = {r:?} is not an IP:PORT address (allowed: e.g. \"0.0.0.0:80\", or \"\" for none)"),
            ));
        }
        let listen = self.server.listen;
        if t.redirect_addr().is_some_and(|a| overlap(a, listen)) {
            return Err(invalid(
                "tls.redirect_http",
                format!(
                    "tls.redirect_http = {r:?} overlaps server.listen = {listen}, which speaks TLS \
                     (use another port, e.g. 80 beside 443)"
                ),
            ));
        }
        Ok(())
    }
}

/// Whether two listen addresses would take the same connections: one
/// port (not 0), and the same address or a wildcard on either side.
fn overlap(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn invalid(key: &str, message: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::InvalidValue, Some(key.to_owned()), message)
}

fn in_range<T: PartialOrd + Display>(
    key: &str,
    value: T,
    range: &RangeInclusive<T>,
    note: &str,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        return Ok(());
    }
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("; {note}")
    };
    Err(invalid(
        key,
        format!(
            "{key} = {value} is out of range (allowed: {} to {}{note})",
            range.start(),
            range.end()
        ),
    ))
}

fn power_of_two(key: &str, value: u32, range: &RangeInclusive<u32>) -> Result<(), ConfigError> {
    if value.is_power_of_two() && range.contains(&value) {
        return Ok(());
    }
    Err(invalid(
        key,
        format!(
            "{key} = {value} is not a power of two between {} and {}",
            range.start(),
            range.end()
        ),
    ))
}

/// A header value we are willing to send: visible ASCII and inner spaces, so
/// a config file can never inject CR/LF into a response. Empty = no header.
fn header_value(key: &str, value: &str) -> Result<(), ConfigError> {
    let visible = value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
    let trimmed = value.trim() == value;
    if visible && trimmed {
        return Ok(());
    }
    Err(invalid(
        key,
        format!(
            "{key} = {value:?} is not a valid header value (allowed: visible ASCII and inner spaces, or \"\" for none)"
        ),
    ))
}

/// A `RUST_LOG`-style filter: comma-separated `LEVEL` or `TARGET=LEVEL`.
/// Stricter than `EnvFilter` (a bare word must be a level) so that a typo
/// like `inof` is an error instead of a silent target filter.
fn log_filter(key: &str, value: &str) -> Result<(), ConfigError> {
    let is_level = |s: &str| LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim()));
    let ok = !value.trim().is_empty()
        && value
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .all(|d| match d.rsplit_once('=') {
                Some((target, level)) => !target.trim().is_empty() && is_level(level),
                None => is_level(d),
            });
    if ok {
        return Ok(());
    }
    Err(invalid(
        key,
        format!(
            "{key} = {value:?} is not a log filter (allowed: {}, or target=level, comma-separated)",
            join(&LOG_LEVELS)
        ),
    ))
}
