//! The server's certificates: a default chain and key (PEM files), more
//! chosen by the client's SNI (exact names, then `*.` wildcards of one
//! label), each with an OCSP response to staple if a file is given. The
//! rustls configuration: TLS 1.2 and 1.3 with rustls' safe defaults, ALPN
//! `http/1.1`, stateless session tickets whose keys are made per process
//! and rotated (rustls' ticketer), and a session cache for TLS 1.2 ids.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring as provider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// Where one certificate's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertFiles {
    /// The chain, leaf first (PEM).
    pub(crate) chain: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: PathBuf,
    /// A DER OCSP response to staple, if any.
    pub(crate) ocsp: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// Loads one certificate: the chain, the key (checked to match the leaf),
/// the OCSP response.
pub(crate) fn certified_key(files: &CertFiles) -> Result<Arc<CertifiedKey>, String> {
    let pem = read(&files.chain, "certificate")?;
    let chain: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate {}: {e}", files.chain.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "certificate {}: no PEM certificate in it",
            files.chain.display()
        ));
    }
    let pem = read(&files.key, "key")?;
    let key = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| format!("key {}: {e}", files.key.display()))?
        .ok_or_else(|| format!("key {}: no PEM private key in it", files.key.display()))?;
    let mut certified =
        CertifiedKey::from_der(chain, key, &provider::default_provider()).map_err(|e| {
            format!(
                "certificate {} with key {}: {e}",
                files.chain.display(),
                files.key.display()
            )
        })?;
    if let Some(ocsp) = &files.ocsp {
        certified.ocsp = Some(read(ocsp, "OCSP response")?);
    }
    Ok(Arc::new(certified))
}

/// Picks a certificate by the client's server name.
struct BySni {
    default: Arc<CertifiedKey>,
    names: HashMap<String, Arc<CertifiedKey>>,
}

impl fmt::Debug for BySni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BySni")
            .field("names", &self.names.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BySni {
    fn pick(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = name.map(str::to_ascii_lowercase) else {
            return self.default.clone();
        };
        if let Some(k) = self.names.get(&name) {
            return k.clone();
        }
        let wildcard = name.split_once('.').map(|(_, rest)| format!("*.{rest}"));
        wildcard
            .and_then(|w| self.names.get(&w).cloned())
            .unwrap_or_else(|| self.default.clone())
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()))
    }
}

/// The rustls server configuration for `default` and the `sni` names. A
/// reload passes the configuration it replaces, whose ticket keys and
/// session cache carry over (clients resume across it).
pub(crate) fn server_config(
    default: &CertFiles,
    sni: &[(String, CertFiles)],
    previous: Option<&ServerConfig>,
) -> Result<Arc<ServerConfig>, String> {
    let mut names = HashMap::new();
    for (name, files) in sni {
        names.insert(name.to_ascii_lowercase(), certified_key(files)?);
    }
    let resolver = BySni {
        default: certified_key(default)?,
        names,
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    match previous {
        Some(old) => {
            config.ticketer = old.ticketer.clone();
            config.session_storage = old.session_storage.clone();
        }
        None => {
            config.ticketer = provider::Ticketer::new().map_err(|e| e.to_string())?;
            config.session_storage = rustls::server::ServerSessionMemoryCache::new(16 * 1024);
        }
    }
    Ok(Arc::new(config))
}
