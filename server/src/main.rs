//! `percore-server`: a static file server on percore.
//!
//! `percore-server [--root DIR] [--listen HOST:PORT] [--workers N] [--config FILE] [--check]`
//! serves DIR (default: the `[files] root` of the config, `.`) at `/`.
//! Flags override the config file; a bad key or value is one line and exit 2.

use std::path::PathBuf;

use clap::Parser;
use percore::config::CommonArgs;
use percore::fs::StaticFiles;
use percore::{App, Server};

/// Serve a directory over HTTP/1.1, one io_uring per core.
#[derive(Parser, Debug)]
#[command(name = "percore-server", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Directory to serve (overrides `files.root`).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let check = cli.common.check;
    let mut config = match cli.common.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Some(root) = cli.root {
        config.files.root = root;
    }
    if check {
        let mut findings = percore::check(&config);
        let root = config.files.root.display();
        findings.push(match config.files.root.is_dir() {
            true => percore::Finding::ok("files.root", format!("{root} is a directory")),
            false => percore::Finding::fail(
                "files.root",
                format!("{root} is not a directory"),
                "set files.root (or --root) to the directory to serve",
            ),
        });
        std::process::exit(percore::print_findings(&findings));
    }
    if !config.files.root.is_dir() {
        eprintln!(
            "error: --root {}: not a directory",
            config.files.root.display()
        );
        std::process::exit(2);
    }
    percore::init_logging(&config.log.level);
    tracing::info!("serving {}", config.files.root.display());
    let files = StaticFiles::from_config(&config.files);
    let access_log = config.log.access_log;
    let result = Server::new(config)
        .access_log(access_log)
        .serve(move |_core| App::new().mount("/", files.clone()));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
