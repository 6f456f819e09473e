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
    let leaf = chain[0].to_vec();
    let pem = read(&files.key, "key")?;
    let key = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| match is_encrypted(&pem) {
            true => format!(
                "key {}: it is encrypted (decrypt it: openssl pkey -in KEY -out PLAIN)",
                files.key.display()
            ),
            false => format!("key {}: {e}", files.key.display()),
        })?
        .ok_or_else(|| {
            let encrypted = is_encrypted(&pem);
            let why = if encrypted {
                "it is encrypted (decrypt it: openssl pkey -in KEY -out PLAIN)"
            } else {
                "no PEM private key in it"
            };
            format!("key {}: {why}", files.key.display())
        })?;
    let mut certified =
        CertifiedKey::from_der(chain, key, &provider::default_provider()).map_err(|e| {
            let e = match e.to_string() {
                // rustls' words for a key it parsed but cannot sign with.
                e if e.contains("failed to parse private key") => {
                    "unsupported key type (supported: RSA of 2048 bits or more, \
                     ECDSA P-256 or P-384, Ed25519)"
                        .to_owned()
                }
                e => e,
            };
            format!(
                "certificate {} with key {}: {e}",
                files.chain.display(),
                files.key.display()
            )
        })?;
    if let Some(ocsp) = &files.ocsp {
        // Stapling is optional: a response that does not fit (a refresh
        // that failed, one left from before a renewal) must not keep the
        // certificate from loading. It is logged and nothing is stapled.
        match read(ocsp, "OCSP response").and_then(|der| {
            check_ocsp(&der, &leaf)
                .map(|()| der)
                .map_err(|why| format!("OCSP response {}: {why}", ocsp.display()))
        }) {
            Ok(der) => certified.ocsp = Some(der),
            Err(e) => tracing::warn!("{e}; stapling nothing for {}", files.chain.display()),
        }
    }
    Ok(Arc::new(certified))
}

/// A PEM key protected by a passphrase (PKCS#8 `ENCRYPTED PRIVATE KEY`,
/// or the traditional `Proc-Type: 4,ENCRYPTED` header).
fn is_encrypted(pem: &[u8]) -> bool {
    pem.windows(9).any(|w| w == b"ENCRYPTED")
}

/// One DER element: its tag, its contents, what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| a << 8 | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A certificate's serial number, as its DER INTEGER element.
fn serial_element(cert: &[u8]) -> Option<&[u8]> {
    let (_, certificate, _) = der(cert)?;
    let (_, tbs, _) = der(certificate)?;
    let (tag, _, mut rest) = der(tbs)?;
    if tag != 0xa0 {
        rest = tbs; // no version field: the serial comes first
    }
    let (tag, serial, after) = der(rest)?;
    let element = &rest[..rest.len() - after.len()];
    (tag == 0x02 && !serial.is_empty()).then_some(element)
}

/// Checks an OCSP response before it is stapled (nginx refuses a bad one
/// too): a DER `OCSPResponse` whose status is `successful` and that carries
/// a response (RFC 6960 4.2.1) naming this certificate's serial number. A
/// PEM file, an empty one (a failed refresh) or another certificate's
/// response would make clients that ask for the status fail the handshake.
fn check_ocsp(response: &[u8], leaf: &[u8]) -> Result<(), String> {
    let Some((0x30, body, [])) = der(response) else {
        return Err("not a DER OCSP response (PEM, empty, or bytes after it?)".to_owned());
    };
    match der(body) {
        Some((0x0a, [0], rest)) if matches!(der(rest), Some((0xa0, ..))) => {}
        Some((0x0a, [0], _)) => return Err("it carries no response".to_owned()),
        Some((0x0a, [status], _)) => {
            return Err(format!("its status is not successful ({status})"))
        }
        _ => return Err("not a DER OCSP response".to_owned()),
    }
    let serial = serial_element(leaf).ok_or("the certificate's serial number is unreadable")?;
    if !body.windows(serial.len()).any(|w| w == serial) {
        return Err("it is about another certificate (the serial number differs)".to_owned());
    }
    Ok(())
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
