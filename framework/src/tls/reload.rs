//! The certificates every core's TLS connections start with, and their
//! reload (SIGHUP): the main thread builds a new rustls configuration from
//! the same files and publishes it; each core picks it up for its next
//! connection (one relaxed-then-acquire load per accept). Connections
//! already open keep the configuration they started with. A reload that
//! fails (a missing file, a key that does not match) keeps the old one.
//! Session-ticket keys and the session cache carry over, so clients resume
//! across a reload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;

use super::certs::{server_config, CertFiles};
use crate::config::TlsSection;

/// The files, and the configuration built from them last.
pub(crate) struct Certificates {
    default: CertFiles,
    sni: Vec<(String, CertFiles)>,
    current: RwLock<Arc<ServerConfig>>,
    /// Bumped by every successful reload.
    generation: AtomicU64,
}

fn files(chain: &std::path::Path, key: &std::path::Path, ocsp: &std::path::Path) -> CertFiles {
    CertFiles {
        chain: chain.to_owned(),
        key: key.to_owned(),
        ocsp: (!ocsp.as_os_str().is_empty()).then(|| ocsp.to_owned()),
    }
}

impl Certificates {
    /// Reads every file of `[tls]`; an error names the file.
    pub(crate) fn load(section: &TlsSection) -> Result<Arc<Certificates>, String> {
        let default = files(&section.cert, &section.key, &section.ocsp);
        let sni: Vec<_> = (section.sni.iter())
            .map(|s| (s.server_name.clone(), files(&s.cert, &s.key, &s.ocsp)))
            .collect();
        let config = server_config(&default, &sni, None)?;
        Ok(Arc::new(Certificates {
            default,
            sni,
            current: RwLock::new(config),
            generation: AtomicU64::new(0),
        }))
    }

    /// Reads the files again; on success new connections use them.
    pub(crate) fn reload(&self) -> Result<(), String> {
        let old = self.get();
        let config = server_config(&self.default, &self.sni, Some(&old))?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    fn get(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A core's view: the configuration it hands new connections, refreshed
/// when a reload happened.
pub(crate) struct CoreCertificates {
    shared: Arc<Certificates>,
    generation: u64,
    config: Arc<ServerConfig>,
}

impl CoreCertificates {
    pub(crate) fn new(shared: Arc<Certificates>) -> CoreCertificates {
        let generation = shared.generation.load(Ordering::Acquire);
        let config = shared.get();
        CoreCertificates {
            shared,
            generation,
            config,
        }
    }

    /// The configuration for a new connection.
    pub(crate) fn config(&mut self) -> Arc<ServerConfig> {
        let now = self.shared.generation.load(Ordering::Acquire);
        if now != self.generation {
            self.generation = now;
            self.config = self.shared.get();
        }
        self.config.clone()
    }
}
