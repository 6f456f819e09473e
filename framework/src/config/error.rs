//! [`ConfigError`]: one line, naming the key and what is allowed.

use std::fmt;

/// What went wrong, for callers that want to branch (tests, `--check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not TOML.
    Syntax,
    /// A section or key that the schema does not have.
    UnknownKey,
    /// A value of the wrong type (a string where a number belongs, ...).
    InvalidType,
    /// A value of the right type outside what is allowed.
    InvalidValue,
}

/// A configuration error. `Display` is one line:
/// `config.toml: unknown key `limits.max_hedaers` (allowed: ...)`.
#[derive(Debug)]
pub struct ConfigError {
    origin: String,
    kind: ConfigErrorKind,
    key: Option<String>,
    message: String,
    io: Option<std::io::Error>,
}

impl ConfigError {
    pub(super) fn new(kind: ConfigErrorKind, key: Option<String>, message: String) -> Self {
        ConfigError {
            origin: "config".to_owned(),
            kind,
            key,
            message,
            io: None,
        }
    }

    pub(super) fn io(origin: &str, error: std::io::Error) -> Self {
        ConfigError {
            origin: origin.to_owned(),
            kind: ConfigErrorKind::Io,
            key: None,
            message: format!("cannot read the configuration file: {error}"),
            io: Some(error),
        }
    }

    /// A TOML syntax error, located as `line:column` (toml's own message is
    /// several lines with a source excerpt; only its text is kept).
    pub(super) fn syntax(origin: &str, source: &str, error: &toml::de::Error) -> Self {
        let location = error
            .span()
            .map(|span| {
                let before = &source[..span.start.min(source.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                format!("{line}:{column}: ")
            })
            .unwrap_or_default();
        let mut e = ConfigError::new(
            ConfigErrorKind::Syntax,
            None,
            format!(
                "{location}invalid TOML: {}",
                super::load::one_line(error.message())
            ),
        );
        e.origin = origin.to_owned();
        e
    }

    /// Replaces the `config` prefix, e.g. with a file path or a flag name.
    pub(super) fn with_origin(mut self, origin: &str) -> Self {
        origin.clone_into(&mut self.origin);
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The dotted key at fault (`limits.max_headers`), or the section for a
    /// section-level error; `None` for I/O and syntax errors.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Where the configuration came from: a file path, `config`, or a flag.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
