//! What each target is, whether it is available, and how to start and stop it.
//!
//! 1. [`Target::probe`] decides availability: a binary that isn't built or a
//!    server that isn't installed is `Unavailable` with the command that fixes it.
//! 2. [`Target::start`] picks a free port, spawns the server under
//!    `taskset -c SERVER_CPUS` with stdout/stderr in a log file, and waits
//!    (bounded) for the port to accept. A server that exits before accepting is
//!    reported as unavailable with the last line it printed (percore-server
//!    does that until it exists).
//! 3. [`Server::stop`] sends SIGTERM and waits for the exit; only after a
//!    deadline does it SIGKILL the whole process tree.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::procfs;

const START_DEADLINE: Duration = Duration::from_secs(15);
const EXIT_DEADLINE: Duration = Duration::from_secs(15);

/// Every target the harness knows, in table order.
pub const ALL: &[&str] = &[
    "percore-hello",
    "percore-server",
    "nginx",
    "h2o",
    "actix",
    "hyper",
    "may",
    "ntex",
];

/// How a target is launched.
#[derive(Debug, Clone)]
enum Launch {
    /// A binary taking `--listen 127.0.0.1:PORT --workers N` plus `extra`.
    Binary { path: PathBuf, root_flag: bool },
    /// nginx from a config template.
    Nginx { template: PathBuf },
    /// h2o from a config template.
    H2o { template: PathBuf },
}

/// What a target serves, so scenarios it can't run are skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serves {
    /// GET /plaintext and GET /json.
    pub app: bool,
    /// GET /static/{4k,64k,1m}.bin from the harness's files.
    pub files: bool,
}

/// One server under test.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: &'static str,
    /// percore's own targets are compared against the best of the others.
    pub is_percore: bool,
    pub serves: Serves,
    launch: Launch,
    /// `None` when it can be started; else why not and what fixes it.
    pub unavailable: Option<String>,
}

impl Target {
    /// Describe target `name` and check that it can be started.
    pub fn probe(name: &str, repo: &Path) -> Option<Target> {
        let name = ALL.iter().copied().find(|n| *n == name)?;
        let release = release_dir(repo);
        let peers = repo.join("loadtest/peers");
        let peer_bin = |bin: &str| Launch::Binary {
            path: peers.join("target/release").join(bin),
            root_flag: false,
        };
        let app = Serves {
            app: true,
            files: false,
        };
        let (is_percore, serves, launch) = match name {
            "percore-hello" => (
                true,
                app,
                Launch::Binary {
                    path: release.join("hello"),
                    root_flag: false,
                },
            ),
            "percore-server" => (
                true,
                Serves {
                    app: false,
                    files: true,
                },
                Launch::Binary {
                    path: release.join("percore-server"),
                    root_flag: true,
                },
            ),
            "nginx" => {
                let template = peers.join("nginx.conf.in");
                (
                    false,
                    template_serves(&template),
                    Launch::Nginx { template },
                )
            }
            "h2o" => {
                let template = peers.join("h2o.conf.in");
                (false, template_serves(&template), Launch::H2o { template })
            }
            "actix" => (false, app, peer_bin("peer-actix")),
            "hyper" => (false, app, peer_bin("peer-hyper")),
            "may" => (false, app, peer_bin("peer-may")),
            "ntex" => (false, app, peer_bin("peer-ntex")),
            _ => unreachable!("ALL lists every name"),
        };
        let unavailable = match &launch {
            Launch::Binary { path, .. } if !path.exists() => {
                Some(if is_percore {
                    format!("{} not built (cargo build --release -p percore-examples -p percore-server)", path.display())
                } else {
                    format!(
                        "{} not built: run loadtest/setup.sh --peers",
                        path.display()
                    )
                })
            }
            Launch::Nginx { template } | Launch::H2o { template } if !template.exists() => {
                Some(format!(
                    "{} missing: run loadtest/setup.sh --peers",
                    template.display()
                ))
            }
            Launch::Nginx { .. } if find_tool("nginx").is_none() => {
                Some("nginx not installed: run loadtest/setup.sh".into())
            }
            Launch::H2o { .. } if find_tool("h2o").is_none() => {
                Some("h2o not installed: run loadtest/setup.sh".into())
            }
            _ => None,
        };
        Some(Target {
            name,
            is_percore,
            serves,
            launch,
            unavailable,
        })
    }

    /// Start the server on `cpus` with `workers` workers; `work` holds the
    /// static files (`work/static/...`) and a scratch dir for logs.
    pub fn start(&self, cpus: &[usize], workers: usize, work: &Path) -> Result<Server, String> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let log_path = work.join(format!("{}-{port}.log", self.name));
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(cpu_list(cpus));
        match &self.launch {
            Launch::Binary { path, root_flag } => {
                cmd.arg(path)
                    .args(["--listen", &listen, "--workers", &workers.to_string()]);
                if *root_flag {
                    // Like the nginx and h2o templates: no access log, so
                    // every server is measured doing the same work.
                    let conf = work.join("percore-server.toml");
                    fs::write(&conf, "[log]\naccess_log = false\n")
                        .map_err(|e| format!("{}: {e}", conf.display()))?;
                    cmd.arg("--root").arg(work).arg("--config").arg(&conf);
                }
            }
            Launch::Nginx { template } => {
                let prefix = scratch_dir(work, &format!("nginx-{port}"))?;
                let conf = render(template, &prefix, port, workers, work)?;
                cmd.arg(find_tool("nginx").unwrap_or_else(|| "nginx".into()));
                cmd.arg("-p")
                    .arg(&prefix)
                    .arg("-c")
                    .arg(&conf)
                    .arg("-e")
                    .arg(prefix.join("error.log"))
                    .args(["-g", "daemon off;"]);
            }
            Launch::H2o { template } => {
                let prefix = scratch_dir(work, &format!("h2o-{port}"))?;
                let conf = render(template, &prefix, port, workers, work)?;
                cmd.arg(find_tool("h2o").unwrap_or_else(|| "h2o".into()))
                    .arg("-c")
                    .arg(&conf);
            }
        }
        let log =
            fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let child = cmd.spawn().map_err(|e| format!("spawn taskset: {e}"))?;
        let mut server = Server::new(child, port, log_path);
        server.wait_accepting()?;
        Ok(server)
    }
}

/// A server that is accepting on `127.0.0.1:port`.
pub struct Server {
    pub pid: u32,
    pub port: u16,
    log: PathBuf,
    exited: mpsc::Receiver<ExitStatus>,
}

impl Server {
    fn new(mut child: Child, port: u16, log: PathBuf) -> Server {
        let pid = child.id();
        // A waiter thread owns the Child so exits are seen without polling.
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        Server {
            pid,
            port,
            log,
            exited,
        }
    }

    /// Wait until the port accepts, the process exits, or the deadline passes.
    fn wait_accepting(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            // Between connection attempts, block on the exit channel: it both
            // paces the retries and notices a server that died at startup.
            match self.exited.recv_timeout(Duration::from_millis(20)) {
                Ok(status) => {
                    return Err(format!(
                        "exited at startup ({status}): {}",
                        self.last_log_line()
                    ))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err("exited at startup".into()),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() > deadline {
                let why = format!(
                    "not accepting after {}s: {}",
                    START_DEADLINE.as_secs(),
                    self.last_log_line()
                );
                self.kill_tree();
                return Err(why);
            }
        }
    }

    fn last_log_line(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string()
    }

    fn kill_tree(&self) {
        for pid in procfs::process_tree(self.pid).into_iter().rev() {
            // SAFETY: kill(2) only sends a signal; pids come from our own tree.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.exited.recv_timeout(EXIT_DEADLINE);
    }

    /// SIGTERM, then wait for the exit; SIGKILL the tree after the deadline.
    /// Returns the exit status, or an error saying it had to be killed.
    pub fn stop(self) -> Result<ExitStatus, String> {
        // SAFETY: kill(2) only sends a signal to our own child.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        match self.exited.recv_timeout(EXIT_DEADLINE) {
            Ok(status) => Ok(status),
            Err(_) => {
                self.kill_tree();
                Err(format!(
                    "did not exit within {}s of SIGTERM",
                    EXIT_DEADLINE.as_secs()
                ))
            }
        }
    }
}

/// `0,2-3` style list for taskset.
pub fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Parse a `0,2-5` CPU list.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad CPU list {s:?} (want e.g. 0,2-5)");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cpus.is_empty() {
        return Err(format!("empty CPU list {s:?}"));
    }
    Ok(cpus)
}

/// Find a command on PATH (and in /usr/sbin, not always on a user's PATH).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Ask the kernel for a free port (bind to :0, read it, release it).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// A server's prefix dir. Started as root, nginx's workers and h2o run as
/// `nobody`: the dirs must be world-readable (they are 0755 under a 022 umask).
fn scratch_dir(work: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = work.join(name);
    fs::create_dir_all(dir.join("logs")).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Fill a config template's `@PORT@ @WORKERS@ @ROOT@ @PREFIX@` and write it
/// into `prefix`. `@ROOT@` is the `static` directory itself (served as /static/).
fn render(
    template: &Path,
    prefix: &Path,
    port: u16,
    workers: usize,
    work: &Path,
) -> Result<PathBuf, String> {
    let text = fs::read_to_string(template).map_err(|e| format!("{}: {e}", template.display()))?;
    let root = work.join("static");
    let text = text
        .replace("@PORT@", &port.to_string())
        .replace("@WORKERS@", &workers.to_string())
        .replace("@ROOT@", &root.display().to_string())
        .replace("@PREFIX@", &prefix.display().to_string());
    let name = template
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("server.conf")
        .trim_end_matches(".in");
    let out = prefix.join(name);
    fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

/// A config template serves files always, and the app endpoints when it has
/// locations for both `/plaintext` and `/json`.
fn template_serves(template: &Path) -> Serves {
    let text = fs::read_to_string(template).unwrap_or_default();
    Serves {
        app: text.contains("/plaintext") && text.contains("/json"),
        files: true,
    }
}

/// Where cargo puts percore's release binaries: `$CARGO_TARGET_DIR/release`
/// (relative to the repository if relative), else `target/release` (found
/// by a new user: with CARGO_TARGET_DIR set, the harness built there and
/// ran older binaries from `target/release`).
pub fn release_dir(repo: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => repo.join(dir).join("release"),
        None => repo.join("target/release"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0,2-4").unwrap(), vec![0, 2, 3, 4]);
        assert_eq!(cpu_list(&[1, 3]), "1,3");
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn unknown_target_is_none_and_missing_binary_is_unavailable() {
        let repo = Path::new("/nonexistent");
        assert!(Target::probe("nope", repo).is_none());
        let t = Target::probe("actix", repo).unwrap();
        assert!(t.unavailable.unwrap().contains("setup.sh"));
    }
}
