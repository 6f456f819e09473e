//! The soak's servers: a TLS percore-server (static files), a plain one,
//! and the proxy example in front of the plain one; their files, a CA and
//! certificate made with the openssl CLI, configs with metrics on and the
//! access log off. Each is started and its `listening on` line awaited.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// The static files, by name and size: every size class the server treats
/// differently (empty, tiny, under and over a TLS chunk, spliced, big).
pub const FILES: [(&str, usize); 7] = [
    ("f0", 0),
    ("f1", 1),
    ("f4k", 4096),
    ("f61439", 61_439),
    ("f64k", 65_536),
    ("f1m", 1 << 20),
    ("f8m", 8 << 20),
];

/// Byte `i` of every file: a pattern, so any range can be checked.
pub fn byte_at(i: usize) -> u8 {
    (i.wrapping_mul(31).wrapping_add(7) % 251) as u8
}

/// One running server: its process, address, metrics address and log.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    /// Its stderr so far (panics and errors are looked for at the end).
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..100 {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The files, certificates and configs, in `dir`.
pub struct Setup {
    pub root: PathBuf,
    pub ca: PathBuf,
    dir: PathBuf,
}

impl Setup {
    pub fn new(dir: &Path) -> Result<Setup, String> {
        let root = dir.join("site");
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        for (name, size) in FILES {
            let bytes: Vec<u8> = (0..size).map(byte_at).collect();
            std::fs::write(root.join(name), bytes).map_err(|e| e.to_string())?;
        }
        let sh = |script: &str| -> Result<(), String> {
            let out = Command::new("sh")
                .current_dir(dir)
                .args(["-c", script])
                .output()
                .map_err(|e| format!("openssl: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "openssl failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(())
        };
        sh(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj '/CN=soak CA' && \
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout leaf.key -out leaf.csr -subj '/CN=localhost' && \
            printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf && \
            openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out leaf.pem -days 2 -extfile ext.cnf",
        )?;
        Ok(Setup {
            root,
            ca: dir.join("ca.pem"),
            dir: dir.to_path_buf(),
        })
    }

    /// A config file: metrics on a free port, no access log, small body and
    /// head limits (so oversized requests are cheap), timeouts of 5 s (so
    /// every connection, the proxy's pooled ones too, is closed within the
    /// soak's 10 s settling), `extra` appended.
    fn config(&self, name: &str, extra: &str) -> Result<(PathBuf, SocketAddr), String> {
        let metrics = free_port()?;
        let text = format!(
            "[server]\nworkers = 1\n\n[limits]\nmax_body = 65536\nmax_header_bytes = 16384\n\n\
             [timeouts]\nkeepalive_secs = 5\nheader_secs = 5\nbody_secs = 5\nsend_secs = 10\n\n\
             [log]\nlevel = \"info\"\naccess_log = false\n\n[metrics]\nlisten = \"{metrics}\"\n\n[files]\nroot = \"{}\"\n{extra}",
            self.root.display()
        );
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        Ok((path, metrics))
    }

    /// percore-server, plain (`tls: false`) or HTTPS.
    pub fn files_server(&self, bin: &Path, tls: bool) -> Result<Server, String> {
        let name = if tls { "tls" } else { "plain" };
        let extra = if tls {
            format!(
                "\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
                self.dir.join("leaf.pem").display(),
                self.dir.join("leaf.key").display()
            )
        } else {
            String::new()
        };
        let (config, metrics) = self.config(name, &extra)?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0"]);
        start(
            if tls {
                "percore-server (TLS)"
            } else {
                "percore-server"
            },
            cmd,
            metrics,
        )
    }

    /// The proxy example in front of `upstream`.
    pub fn proxy(&self, bin: &Path, upstream: SocketAddr) -> Result<Server, String> {
        let (config, metrics) = self.config("proxy", "")?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--upstream"])
            .arg(upstream.to_string());
        start("proxy", cmd, metrics)
    }
}

fn free_port() -> Result<SocketAddr, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map_err(|e| e.to_string())
}

/// Spawns `cmd` and waits (10 s at most) for its `listening on` line.
fn start(name: &'static str, mut cmd: Command, metrics: SocketAddr) -> Result<Server, String> {
    // The config's log level (info: the `listening on` line is awaited),
    // whatever RUST_LOG the soak itself runs with.
    let mut child = cmd
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let stderr = child.stderr.take().expect("piped");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let keep = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.split("listening on ").nth(1) {
                let addr = addr.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(addr.parse::<SocketAddr>().ok());
            }
            keep.lock().unwrap().push(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Some(addr)) => Ok(Server {
            name,
            child,
            addr,
            metrics,
            log,
        }),
        _ => {
            let _ = child.kill();
            Err(format!(
                "{name} did not start: {}",
                log.lock().unwrap().join("\n")
            ))
        }
    }
}
