//! Starting and stopping a server: spawn one pinned worker per core, each
//! with its own ring and `SO_REUSEPORT` listener; wait for SIGINT/SIGTERM;
//! tell every worker through its eventfd to stop accepting and drain.

pub(crate) mod access;
pub(crate) mod exchange;
pub(crate) mod executor;
mod signals;
pub(crate) mod stats;
mod systemd;
pub(crate) mod timer;
pub(crate) mod worker;

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use clap::Parser;
use tracing::{error, info};

use crate::app::App;
use crate::config::{Config, ExampleCli};
use crate::error::{Error, Result};
use crate::metrics;
use crate::net;
use exchange::Exchange;
use worker::{Worker, WorkerSetup};

/// The index of a worker (and so of the core it is pinned to, in the order
/// of the process's affinity mask).
pub type CoreId = usize;

/// A configured server, not yet running.
pub struct Server {
    config: Config,
    access_log: bool,
    /// The access log's file, when a server shares another's (the
    /// redirecting listener of `tls.redirect_http`).
    shared_sink: Option<Arc<access::Sink>>,
    /// This is the redirecting listener (for its log line).
    redirecting: bool,
}

impl Server {
    /// A server with `config`.
    pub fn new(config: Config) -> Server {
        Server {
            config,
            access_log: false,
            shared_sink: None,
            redirecting: false,
        }
    }

    /// Logs one line per request once its answer is sent, in
    /// `log.access_format` (nginx's `combined` with the request time, or
    /// JSON), to `log.access_file` (reopened on SIGUSR1) or standard
    /// output. Off unless asked for: it costs a formatted line per request.
    /// percore-server turns it on from `log.access_log`.
    pub fn access_log(mut self, on: bool) -> Server {
        self.access_log = on;
        self
    }

    /// Reads `--listen`, `--workers`, `--config`, `--sqpoll` from the command
    /// line, sets up logging, and returns the server. A bad flag or config
    /// prints one clear line and exits with status 2.
    pub fn from_args() -> Result<Server> {
        Ok(Server::from_common_args(ExampleCli::parse().common))
    }

    /// Like [`Server::from_args`], for a program with flags of its own
    /// around the common ones (`#[command(flatten)] common: CommonArgs`).
    /// A bad config prints one clear line and exits with status 2.
    pub fn from_common_args(common: crate::config::CommonArgs) -> Server {
        let check = common.check;
        let config = match common.into_config() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        };
        if check {
            // `--check`: the probes, then exit (see `crate::check`).
            std::process::exit(crate::check::print_check(&config));
        }
        crate::init_logging(&config.log.level);
        Server::new(config)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs until SIGINT or SIGTERM, then drains and returns. `factory` runs
    /// once on each worker thread to build that core's [`App`].
    pub fn serve<F>(self, factory: F) -> Result<()>
    where
        F: Fn(CoreId) -> App + Send + Sync + 'static,
    {
        // Blocked before any thread exists, so every worker inherits the mask
        // and the signal is only ever taken here, by sigtimedwait.
        let signals = signals::block_termination()?;
        let running = self.start(factory)?;
        systemd::notify("READY=1");
        let on_usr1 = |running: &RunningServer| match running.reopen_access_log() {
            Ok(()) => info!("received SIGUSR1: access log reopened"),
            Err(e) => error!(
                "received SIGUSR1: cannot reopen the access log ({e}); still writing to the old one"
            ),
        };
        loop {
            match signals::wait(&signals, Duration::from_millis(200)) {
                Some("SIGUSR1") => on_usr1(&running),
                Some("SIGHUP") => match running.reload_certificates() {
                    None => info!(
                        "received SIGHUP: nothing to reload (the configuration is read at start); \
                         ignored. Restart with --takeover to change it"
                    ),
                    Some(Ok(())) => info!(
                        "received SIGHUP: TLS certificates reloaded; new connections use them"
                    ),
                    Some(Err(e)) => error!(
                        "received SIGHUP: cannot reload the TLS certificates ({e}); \
                         still using the old ones"
                    ),
                },
                Some(sig) => {
                    info!("received {sig}: draining");
                    break;
                }
                None => {}
            }
            if running.any_worker_exited() {
                error!("a worker stopped unexpectedly; shutting down");
                break;
            }
        }
        systemd::notify("STOPPING=1");
        running.shutdown();
        // A second SIGTERM, SIGINT or SIGQUIT during the drain ends it now.
        while !running.all_workers_exited() {
            match signals::wait(&signals, Duration::from_millis(100)) {
                Some("SIGUSR1") => on_usr1(&running),
                Some("SIGHUP") | None => {}
                Some(sig) => {
                    error!("received {sig} again while draining: exiting now");
                    std::process::exit(1);
                }
            }
        }
        let result = running.join();
        info!("drained; exiting");
        result
    }

    /// Starts the workers and returns once every one of them listens.
    pub fn start<F>(self, factory: F) -> Result<RunningServer>
    where
        F: Fn(CoreId) -> App + Send + Sync + 'static,
    {
        let mut config = self.config;
        let access = if let (true, Some(sink)) = (self.access_log, &self.shared_sink) {
            Some((config.log.access_format, sink.clone()))
        } else if self.access_log {
            let file = &config.log.access_file;
            let file = (!file.as_os_str().is_empty()).then_some(file.as_path());
            let sink =
                access::Sink::new(file).map_err(|e| Error::Io("open the access log".into(), e))?;
            Some((config.log.access_format, Arc::new(sink)))
        } else {
            None
        };
        let sink = access.as_ref().map(|(_, sink)| sink.clone());
        // The kernel refuses a direct descriptor table larger than
        // RLIMIT_NOFILE, so raise the soft limit as far as allowed and size
        // the table to what we got.
        let nofile = raise_nofile_limit();
        let workers = worker_count(&config);
        if nofile < descriptors_needed(workers) {
            let why = too_few_descriptors(nofile, workers);
            return Err(Error::Io("start".into(), std::io::Error::other(why)));
        }
        if (config.server.max_connections as u64) > nofile {
            tracing::warn!(
                "server.max_connections = {} exceeds the open-file limit {nofile}; using {nofile} (raise it with `ulimit -n`)",
                config.server.max_connections
            );
            config.server.max_connections = nofile as usize;
        }
        let certs = if config.tls.enabled() {
            let certs = crate::tls::Certificates::load(&config.tls)
                .map_err(|e| Error::Io("[tls]".into(), std::io::Error::other(e)))?;
            Some(certs)
        } else {
            None
        };
        let config = Arc::new(config);
        let cpus = affinity_cpus();
        let registry: metrics::Registry = (0..workers)
            .map(|_| Arc::new(metrics::Counters::default()))
            .collect();
        let bind_mode = if config.server.takeover {
            net::Bind::Takeover
        } else {
            net::Bind::Exclusive
        };
        if config.server.takeover {
            warn_without_request_migration();
        }
        let (listeners, addr) = net::bind_listeners(
            config.server.listen,
            workers,
            config.server.backlog,
            bind_mode,
        )
        .map_err(|e| Error::Io("server.listen".into(), e))?;
        let metrics_addr = match config.metrics.addr() {
            Some(addr) => {
                let bound = metrics::spawn_endpoint(addr, bind_mode, registry.clone())
                    .map_err(|e| Error::Io("start the metrics endpoint".into(), e))?;
                info!("metrics on http://{bound}/metrics");
                Some(bound)
            }
            None => None,
        };
        info!(
            "percore {}: {workers} worker(s) on CPUs {:?}",
            env!("CARGO_PKG_VERSION"),
            (0..workers)
                .map(|i| cpus.get(i % cpus.len().max(1)).copied())
                .collect::<Vec<_>>()
        );
        let factory = Arc::new(factory);
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut wakes = Vec::with_capacity(workers);
        let mut threads = Vec::with_capacity(workers);
        for (index, listener) in listeners.into_iter().enumerate() {
            let wake = eventfd().map_err(|e| Error::Io("eventfd".into(), e))?;
            let wake_for_worker = wake
                .try_clone()
                .map_err(|e| Error::Io("dup eventfd".into(), e))?;
            wakes.push(wake);
            let setup = WorkerSetup {
                index,
                listener,
                wake: wake_for_worker,
                config: config.clone(),
                certs: certs.clone(),
            };
            let cpu = cpus.get(index % cpus.len().max(1)).copied();
            let factory = factory.clone();
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("percore-w{index}"))
                .spawn({
                    let access = access.clone();
                    let counters = registry[index].clone();
                    move || run_worker(setup, cpu, access, counters, &*factory, ready)
                })
                .map_err(|e| Error::Io("spawn worker thread".into(), e))?;
            threads.push(thread);
        }
        drop(ready_tx);
        let mut running = RunningServer {
            addr,
            redirect: None,
            certs,
            metrics_addr,
            access_sink: sink,
            wakes,
            threads,
        };
        let mut first_error = None;
        let mut features = None;
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok(Ok(f)) => {
                    features.get_or_insert(f);
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error
                        .get_or_insert(Error::Worker("a worker exited during startup".into()));
                }
            }
        }
        if let Some(e) = first_error {
            running.shutdown();
            let _ = running.join();
            return Err(e);
        }
        if let Some(f) = features {
            info!("io_uring: {f}");
        }
        let what = match (config.tls.enabled(), self.redirecting) {
            (true, _) => " (https)",
            (false, true) => " (http, redirects to https)",
            (false, false) => "",
        };
        info!("listening on {addr}{what}");
        if let Some(listen) = config.tls.redirect_addr() {
            match Self::start_redirect(&config, listen, addr, &running.access_sink) {
                Ok(redirect) => running.redirect = Some(Box::new(redirect)),
                Err(e) => {
                    running.shutdown();
                    let _ = running.join();
                    return Err(e);
                }
            }
        }
        Ok(running)
    }
}

impl Server {
    /// The plain-HTTP listener of `tls.redirect_http`, with the main
    /// server's limits, workers and access log.
    fn start_redirect(
        config: &Config,
        listen: SocketAddr,
        https: SocketAddr,
        sink: &Option<Arc<access::Sink>>,
    ) -> Result<RunningServer> {
        let mut plain = config.clone();
        plain.server.listen = listen;
        plain.tls = Default::default();
        plain.metrics = Default::default();
        // Bodies are never read (see `tls::redirect`): no size to refuse.
        plain.limits.max_body = u64::MAX;
        let port = match config.tls.redirect_https_port {
            0 => https.port(),
            public => public,
        };
        let server = Server {
            config: plain,
            access_log: sink.is_some(),
            shared_sink: sink.clone(),
            redirecting: true,
        };
        let running = server
            .start(move |_| crate::tls::redirect::app(port))
            .map_err(|e| match e {
                Error::Io(what, e) => Error::Io(format!("tls.redirect_http ({what})"), e),
                e => e,
            })?;
        Ok(running)
    }
}

/// A running server: its address, and the means to stop it.
pub struct RunningServer {
    addr: SocketAddr,
    /// The listener of `tls.redirect_http`, when there is one.
    redirect: Option<Box<RunningServer>>,
    /// `[tls]`'s certificates, for SIGHUP.
    certs: Option<Arc<crate::tls::Certificates>>,
    /// The metrics endpoint's address, when it is on.
    metrics_addr: Option<SocketAddr>,
    /// The access log's file, for SIGUSR1.
    access_sink: Option<Arc<access::Sink>>,
    wakes: Vec<OwnedFd>,
    threads: Vec<JoinHandle<Result<()>>>,
}

impl RunningServer {
    /// The address every worker listens on (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the Prometheus endpoint listens (`[metrics] listen`), if on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Opens the access log's file again (what SIGUSR1 does, after
    /// logrotate moved it). On failure the old file stays in use.
    pub fn reopen_access_log(&self) -> std::io::Result<()> {
        match &self.access_sink {
            Some(sink) => sink.reopen(),
            None => Ok(()),
        }
    }

    /// Where `tls.redirect_http` listens, if set.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().map(|r| r.addr)
    }

    /// Reads the TLS certificate files again (what SIGHUP does): new
    /// connections use them, open ones keep theirs. On an error (named)
    /// the old ones stay. `None` without `[tls]`.
    pub fn reload_certificates(&self) -> Option<std::result::Result<(), String>> {
        self.certs.as_ref().map(|c| c.reload())
    }

    /// Tells every worker to stop accepting and drain (what SIGTERM does).
    pub fn shutdown(&self) {
        if let Some(redirect) = &self.redirect {
            redirect.shutdown();
        }
        for wake in &self.wakes {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writing 8 bytes from a stack array to an eventfd we own.
            unsafe {
                libc::write(wake.as_raw_fd(), one.as_ptr().cast(), one.len());
            }
        }
    }

    /// Whether some worker has already stopped.
    pub fn any_worker_exited(&self) -> bool {
        self.threads.iter().any(|t| t.is_finished())
            || self
                .redirect
                .as_ref()
                .is_some_and(|r| r.any_worker_exited())
    }

    /// Whether every worker has stopped (the drain is over).
    pub fn all_workers_exited(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
            && self
                .redirect
                .as_ref()
                .is_none_or(|r| r.all_workers_exited())
    }

    /// Waits for every worker; the first error wins.
    pub fn join(self) -> Result<()> {
        let mut result = match self.redirect {
            Some(redirect) => redirect.join(),
            None => Ok(()),
        };
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(Error::Worker("worker thread panicked".into())));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

fn run_worker(
    setup: WorkerSetup,
    cpu: Option<usize>,
    access: Option<(crate::config::AccessFormat, Arc<access::Sink>)>,
    counters: Arc<metrics::Counters>,
    factory: &(dyn Fn(CoreId) -> App + Send + Sync),
    ready: mpsc::Sender<Result<String>>,
) -> Result<()> {
    let index = setup.index;
    if let Some(cpu) = cpu {
        pin_to(cpu);
    }
    let started = (|| {
        // The core exists before the app, so the factory may spawn tasks.
        let (remote_fd, remote_read) =
            worker::remote_eventfd().map_err(|e| Error::Io("eventfd".into(), e))?;
        let core = executor::Core::install(remote_fd);
        let mut app = factory(index);
        if let Some(e) = app.error.take() {
            return Err(e);
        }
        crate::extract::state::install(app.states());
        app.finish();
        if let Some(e) = app.error.take() {
            return Err(e);
        }
        let mut ex = Exchange::for_config(app, &setup.config, index);
        ex.access = access.map(|(format, sink)| access::AccessLog::new(format, sink));
        metrics::install(counters.clone());
        ex.metrics = counters;
        Worker::new(setup, ex, core, remote_read)
    })();
    match started {
        Ok((worker, features)) => {
            let _ = ready.send(Ok(features));
            drop(ready);
            let result = worker.run();
            if let Err(e) = &result {
                error!(core = index, "worker stopped: {e}");
            }
            result
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            Ok(())
        }
    }
}

/// Workers `config` asks for: `server.workers`, or one per CPU in the
/// affinity mask.
pub(crate) fn worker_count(config: &Config) -> usize {
    match config.server.workers {
        0 => affinity_cpus().len().max(1),
        n => n,
    }
}

/// The CPUs in this process's affinity mask, in order.
fn affinity_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    use nix::unistd::Pid;
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

fn pin_to(cpu: usize) {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok() {
        if let Err(e) = sched_setaffinity(Pid::from_raw(0), &set) {
            tracing::warn!("could not pin worker to CPU {cpu}: {e}");
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now
/// in force.
/// Descriptors a server of `workers` workers opens before any file or
/// connection (connections take none: they are direct descriptors): per
/// worker its listener, ring and two eventfd pairs, the file cache's root
/// and a spliced file's pipe; for the process stdio, the metrics listener,
/// the access log and some room for a handler's own files and sockets.
pub(crate) fn descriptors_needed(workers: usize) -> u64 {
    16 + 8 * workers as u64
}

/// The error when RLIMIT_NOFILE is below [`descriptors_needed`].
pub(crate) fn too_few_descriptors(limit: u64, workers: usize) -> String {
    let need = descriptors_needed(workers);
    format!(
        "RLIMIT_NOFILE is {limit}: {workers} worker(s) need at least {need} descriptors before any file or connection (raise it: ulimit -n {}, LimitNOFILE=, docker run --ulimit nofile=)",
        need.max(1024)
    )
}

/// The soft RLIMIT_NOFILE now (a server raised it to the hard one at
/// start; see [`raise_nofile_limit`]).
pub(crate) fn open_file_limit() -> u64 {
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

fn raise_nofile_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall; on success we take ownership of the new fd.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A takeover hands the old server's queued connections to the new one only
/// with `net.ipv4.tcp_migrate_req = 1`; without it they are reset when the
/// old listeners close.
fn warn_without_request_migration() {
    match std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req") {
        Ok(v) if v.trim() == "1" => {}
        Ok(_) => tracing::warn!(
            "takeover: net.ipv4.tcp_migrate_req is 0, so connections still queued on the \
             old server's listeners are reset when it stops; set it to 1 \
             (sysctl -w net.ipv4.tcp_migrate_req=1)"
        ),
        Err(e) => tracing::warn!("takeover: cannot read net.ipv4.tcp_migrate_req: {e}"),
    }
}
