//! Steps 1 and 2 of loading: TOML syntax, then the shape of the table
//! (known sections and keys, right types), each failing on one line.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::*;

/// One section of the schema: its name, its keys in declaration order (for
/// "allowed: ..." messages) and a type check for one key.
pub(super) struct SectionSchema {
    pub(super) name: &'static str,
    pub(super) keys: &'static [&'static str],
    check_key: fn(&str, &toml::Value) -> Result<(), toml::de::Error>,
}

pub(super) const SCHEMA: [SectionSchema; 8] = [
    SectionSchema {
        name: "server",
        keys: &[
            "listen",
            "workers",
            "max_connections",
            "server_header",
            "backlog",
            "takeover",
            "trusted_proxies",
            "client_header",
            "proxy_protocol",
        ],
        check_key: check_key::<ServerSection>,
    },
    SectionSchema {
        name: "limits",
        keys: &[
            "max_request_target",
            "max_header_bytes",
            "max_headers",
            "max_body",
        ],
        check_key: check_key::<LimitsSection>,
    },
    SectionSchema {
        name: "timeouts",
        keys: &[
            "keepalive_secs",
            "header_secs",
            "body_secs",
            "send_secs",
            "linger_secs",
            "drain_secs",
        ],
        check_key: check_key::<TimeoutsSection>,
    },
    SectionSchema {
        name: "ring",
        keys: &[
            "entries",
            "sqpoll",
            "sqpoll_idle_ms",
            "buffers",
            "buffer_size",
        ],
        check_key: check_key::<RingSection>,
    },
    SectionSchema {
        name: "log",
        keys: &["level", "access_log", "access_format", "access_file"],
        check_key: check_key::<LogSection>,
    },
    SectionSchema {
        name: "files",
        keys: &[
            "root",
            "index",
            "listing",
            "dotfiles",
            "cache_control",
            "charset",
        ],
        check_key: check_key::<FilesSection>,
    },
    SectionSchema {
        name: "metrics",
        keys: &["listen"],
        check_key: check_key::<MetricsSection>,
    },
    SectionSchema {
        name: "tls",
        keys: &[
            "cert",
            "key",
            "ocsp",
            "sni",
            "redirect_http",
            "redirect_https_port",
            "hsts",
            "hsts_max_age",
            "hsts_include_subdomains",
        ],
        check_key: check_key::<TlsSection>,
    },
];

/// Deserializes a section from a table holding only `key`: every other field
/// takes its default, so an error here is about `key` and nothing else.
fn check_key<T: DeserializeOwned>(key: &str, value: &toml::Value) -> Result<(), toml::de::Error> {
    let mut one = toml::Table::new();
    one.insert(key.to_owned(), value.clone());
    toml::Value::Table(one).try_into::<T>().map(drop)
}

/// Where a key lives, for "did you mean" hints: `max_body` -> `limits`.
fn section_of(key: &str) -> Option<&'static str> {
    SCHEMA
        .iter()
        .find(|s| s.keys.contains(&key))
        .map(|s| s.name)
}

pub(super) fn join(names: &[&str]) -> String {
    names.join(", ")
}

impl Config {
    /// Parses and validates a TOML document. Errors are prefixed `config:`.
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        Self::parse(s, "config")
    }

    /// Reads, parses and validates a file. Errors are prefixed with its path.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let config = Self::load_unvalidated(path)?;
        config
            .validate()
            .map_err(|e| e.with_origin(&path.display().to_string()))?;
        Ok(config)
    }

    /// Steps 1 and 2 of [`Config::load`]: the command line validates only
    /// after its flags are applied, so a flag can fix a value in the file.
    pub(super) fn load_unvalidated(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(&origin, e))?;
        Self::parse_unvalidated(&text, &origin)
    }

    fn parse(s: &str, origin: &str) -> Result<Config, ConfigError> {
        let config = Self::parse_unvalidated(s, origin)?;
        config.validate().map_err(|e| e.with_origin(origin))?;
        Ok(config)
    }

    fn parse_unvalidated(s: &str, origin: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = s
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::syntax(origin, s, &e))?;
        check_structure(&table).map_err(|e| e.with_origin(origin))?;
        let config: Config = toml::Value::Table(table).try_into().map_err(|e| {
            // check_structure catches every shape error first; this is a safety net.
            ConfigError::new(
                ConfigErrorKind::InvalidType,
                None,
                one_line(toml::de::Error::message(&e)),
            )
            .with_origin(origin)
        })?;
        Ok(config)
    }
}

/// Step 2 of loading: every section known and a table, every key known and
/// of the right type. Errors carry no origin yet.
fn check_structure(table: &toml::Table) -> Result<(), ConfigError> {
    let section_names: Vec<&str> = SCHEMA.iter().map(|s| s.name).collect();
    for (name, value) in table {
        let Some(schema) = SCHEMA.iter().find(|s| s.name == name) else {
            let message = match (value, section_of(name)) {
                (toml::Value::Table(_), _) => format!(
                    "unknown section `[{name}]` (allowed: {})",
                    join(&section_names)
                ),
                (_, hint) => format!(
                    "unknown top-level key `{name}` (only sections are allowed here: {}){}",
                    join(&section_names),
                    hint.map(|s| format!("; `{name}` belongs under [{s}]"))
                        .unwrap_or_default()
                ),
            };
            return Err(ConfigError::new(
                ConfigErrorKind::UnknownKey,
                Some(name.clone()),
                message,
            ));
        };
        let toml::Value::Table(keys) = value else {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidType,
                Some(name.clone()),
                format!(
                    "`{name}` must be a table: write [{name}] on its own line, then its keys (found {} {value})",
                    value.type_str()
                ),
            ));
        };
        for (key, value) in keys {
            let path = format!("{name}.{key}");
            if !schema.keys.contains(&key.as_str()) {
                let hint = match section_of(key) {
                    Some(other) => format!("; `{key}` belongs under [{other}]"),
                    None => String::new(),
                };
                return Err(ConfigError::new(
                    ConfigErrorKind::UnknownKey,
                    Some(path.clone()),
                    format!(
                        "unknown key `{path}` (allowed: {}){hint}",
                        join(schema.keys)
                    ),
                ));
            }
            if let Err(e) = (schema.check_key)(key, value) {
                let mut message = friendly_types(&one_line(e.message()));
                if path == "server.listen" && !message.contains("e.g.") {
                    message.push_str(
                        " (expected \"IP:PORT\" or \"HOST:PORT\", e.g. \"127.0.0.1:8080\")",
                    );
                }
                return Err(ConfigError::new(
                    ConfigErrorKind::InvalidType,
                    Some(path.clone()),
                    format!("{path} = {value}: {message}"),
                ));
            }
        }
    }
    Ok(())
}

/// serde names Rust types (`expected usize`); say what to write instead.
fn friendly_types(message: &str) -> String {
    message
        .replace("expected usize", "expected a whole number >= 0")
        .replace("expected u64", "expected a whole number >= 0")
        .replace(
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        )
        .replace("expected path string", "expected a path string")
}

/// Collapses a multi-line message from toml into one line.
pub(super) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses `--listen` and `server.listen`: an `IP:PORT` literal, or a
/// `HOST:PORT` resolved once at startup (IPv4 preferred, so `localhost`
/// means `127.0.0.1` whatever the resolver's order).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("`{s}` is not IP:PORT or HOST:PORT ({e}), e.g. 127.0.0.1:8080"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("`{s}` resolves to no address"))
}

pub(super) fn deserialize_listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    parse_listen(&s).map_err(serde::de::Error::custom)
}
