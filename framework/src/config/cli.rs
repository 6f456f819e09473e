//! The flags every percore binary accepts (docs/ARCHITECTURE.md, "Contracts other tools
//! rely on"): `--listen`, `--workers`, `--config`, `--sqpoll`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{parse_listen, Config, ConfigError};

/// Flags shared by `percore-server` and the examples; `#[command(flatten)]`
/// them into a binary's own parser. Flags override the config file.
#[derive(clap::Args, Debug, Clone, Default)]
// Without this the doc comment above would become the `about` of every
// binary that flattens these flags.
#[command(about = None, long_about = None)]
pub struct CommonArgs {
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080]
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,

    /// Worker threads, one pinned per core; 0 = one per CPU in the affinity mask [default: 0]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// TOML configuration file (see config.toml); flags override its values
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Kernel-side submission polling: no syscalls on the hot path, but one
    /// kernel thread spins per core
    #[arg(long)]
    pub sqpoll: bool,

    /// Join the port of a running server instead of failing with
    /// EADDRINUSE: start the new server with this, then SIGTERM the old one
    #[arg(long)]
    pub takeover: bool,

    /// Run the setup probes for this configuration, print one line each,
    /// and exit: 0 if the server can run, 1 otherwise (naming the first fix)
    #[arg(long)]
    pub check: bool,
}

impl CommonArgs {
    /// Loads `--config` if given (else [`Config::default()`]), then applies the
    /// flags over it (flags override the file), then validates.
    ///
    /// A validation error caused by a flag is prefixed with the flag's name
    /// (`--workers: server.workers = 5000 is out of range ...`), one caused by
    /// the file with the file's path.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let (mut config, origin) = match &self.config {
            Some(path) => (Config::load_unvalidated(path)?, path.display().to_string()),
            None => (Config::default(), "config".to_owned()),
        };
        self.apply(&mut config);
        config.validate().map_err(|e| {
            let origin = match e.key() {
                Some("server.listen") if self.listen.is_some() => "--listen",
                Some("server.workers") if self.workers.is_some() => "--workers",
                Some("ring.sqpoll") if self.sqpoll => "--sqpoll",
                _ => &origin,
            };
            e.with_origin(origin)
        })?;
        Ok(config)
    }

    /// Writes the flags that were given over `config`. `--sqpoll` can only
    /// turn SQPOLL on; without it the file's `ring.sqpoll` stands.
    pub fn apply(&self, config: &mut Config) {
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(workers) = self.workers {
            config.server.workers = workers;
        }
        if self.sqpoll {
            config.ring.sqpoll = true;
        }
        if self.takeover {
            config.server.takeover = true;
        }
    }
}

// The whole command line of an example: just the common flags. (A `//`
// comment, not `///`: clap would print a doc comment as the program's
// `about`, which instead comes from the crate's `description`.)
#[derive(clap::Parser, Debug)]
#[command(version, about)]
pub struct ExampleCli {
    #[command(flatten)]
    pub common: CommonArgs,
}
