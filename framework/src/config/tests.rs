use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use super::load::SCHEMA;
use super::*;

const DEFAULT_FILE: &str = include_str!("../../../config.toml");

fn err(toml: &str) -> ConfigError {
    Config::from_toml_str(toml).expect_err(toml)
}

/// Asserts that `toml` fails naming `key`, on one line containing every `needles`.
fn assert_err(toml: &str, kind: ConfigErrorKind, key: &str, needles: &[&str]) {
    let e = err(toml);
    let line = e.to_string();
    assert_eq!(e.kind(), kind, "{line}");
    assert_eq!(e.key(), Some(key), "{line}");
    assert!(!line.contains('\n'), "not one line: {line:?}");
    assert!(line.starts_with("config: "), "{line}");
    for needle in needles {
        assert!(line.contains(needle), "{line:?} lacks {needle:?}");
    }
}

fn invalid(toml: &str, key: &str, needles: &[&str]) {
    assert_err(toml, ConfigErrorKind::InvalidValue, key, needles);
}

fn valid(toml: &str) -> Config {
    Config::from_toml_str(toml).unwrap_or_else(|e| panic!("{toml:?}: {e}"))
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "percore-config-test-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ------------------------------------------------------------ defaults

#[test]
fn defaults_are_the_documented_values() {
    let c = Config::default();
    assert_eq!(
        c.server.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.server.workers, 0);
    assert_eq!(c.server.max_connections, 16384);
    assert_eq!(c.server.server_header, "percore");
    assert_eq!(c.server.backlog, 4096);
    assert_eq!(c.limits.max_request_target, 8192);
    assert_eq!(c.limits.max_header_bytes, 32768);
    assert_eq!(c.limits.max_headers, 100);
    assert_eq!(c.limits.max_body, 1_048_576);
    assert_eq!(c.timeouts.keepalive(), Duration::from_secs(75));
    assert_eq!(c.timeouts.header(), Duration::from_secs(60));
    assert_eq!(c.timeouts.body(), Duration::from_secs(60));
    assert_eq!(c.timeouts.send(), Duration::from_secs(60));
    assert_eq!(c.timeouts.linger(), Duration::from_secs(5));
    assert_eq!(c.timeouts.drain(), Duration::from_secs(10));
    assert_eq!(c.ring.entries, 1024);
    assert!(!c.ring.sqpoll);
    assert_eq!(c.ring.sqpoll_idle_ms, 1000);
    assert_eq!(c.ring.buffers, 512);
    assert_eq!(c.ring.buffer_size, 4096);
    assert_eq!(c.log.level, "info");
    assert!(c.log.access_log);
    assert_eq!(c.files.root, PathBuf::from("."));
    assert_eq!(c.files.index, "index.html");
    assert!(!c.files.listing);
    assert!(!c.files.dotfiles);
    assert_eq!(c.files.cache_control, "public, max-age=600");
    c.validate().unwrap();
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(valid(""), Config::default());
    assert_eq!(valid("# nothing\n[server]\n[ring]\n"), Config::default());
}

#[test]
fn shipped_config_toml_is_the_default() {
    assert_eq!(valid(DEFAULT_FILE), Config::default());
}

/// The Docker image's config: every address, the /srv root, and a drain
/// that ends before `docker stop`'s 10 s send SIGKILL.
#[test]
fn the_docker_image_config_is_valid_and_drains_within_docker_stop() {
    let image = valid(include_str!("../../../docker/config.toml"));
    assert_eq!(image.server.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(image.files.root, std::path::PathBuf::from("/srv"));
    assert!(image.timeouts.drain() < std::time::Duration::from_secs(10));
    // Flags come after `--config` in `docker run IMAGE FLAGS` and win.
    let cli = CommonArgs {
        listen: Some("127.0.0.1:9000".parse().unwrap()),
        ..CommonArgs::default()
    };
    let mut flagged = image.clone();
    cli.apply(&mut flagged);
    assert_eq!(flagged.server.listen, "127.0.0.1:9000".parse().unwrap());
}

#[test]
fn shipped_config_toml_sets_and_documents_every_key() {
    for section in &SCHEMA {
        assert!(
            DEFAULT_FILE.contains(&format!("\n[{}]\n", section.name)),
            "[{}] missing",
            section.name
        );
        for key in section.keys {
            assert!(
                DEFAULT_FILE.contains(&format!("\n{key} = ")),
                "{}.{key} missing from config.toml",
                section.name
            );
        }
    }
    // Every non-blank line is a comment, a section header, or a key preceded by a comment.
    let lines: Vec<&str> = DEFAULT_FILE.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains(" = ") && !line.starts_with('#') {
            assert!(lines[i - 1].starts_with('#'), "no comment above {line:?}");
        }
    }
}

#[test]
fn schema_key_lists_match_the_structs() {
    let table = toml::Table::try_from(Config::default()).unwrap();
    let sections: Vec<&str> = SCHEMA.iter().map(|s| s.name).collect();
    let mut actual: Vec<&str> = table.keys().map(String::as_str).collect();
    let mut expected = sections.clone();
    actual.sort_unstable();
    expected.sort_unstable();
    assert_eq!(actual, expected);
    for section in &SCHEMA {
        let mut actual: Vec<&str> = table[section.name]
            .as_table()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = section.keys.to_vec();
        actual.sort_unstable();
        expected.sort_unstable();
        assert_eq!(actual, expected, "[{}]", section.name);
    }
}

#[test]
fn serialize_round_trips() {
    let mut c = Config::default();
    c.server.listen = "[::1]:0".parse().unwrap();
    c.server.workers = 3;
    c.ring.sqpoll = true;
    c.files.root = PathBuf::from("/srv/www");
    c.log.level = "warn,percore=debug".to_owned();
    let text = toml::to_string(&c).unwrap();
    assert_eq!(valid(&text), c);
}

#[test]
fn partial_file_keeps_other_defaults() {
    let c = valid("[limits]\nmax_body = 0\n[ring]\nsqpoll = true\n");
    let mut expected = Config::default();
    expected.limits.max_body = 0;
    expected.ring.sqpoll = true;
    assert_eq!(c, expected);

    // Dotted keys and inline tables are TOML too.
    let c = valid("server.workers = 2\nfiles = { listing = true }\n");
    assert_eq!(c.server.workers, 2);
    assert!(c.files.listing);
    assert_eq!(c.server.listen, DEFAULT_LISTEN);
    assert_eq!(c.files.index, DEFAULT_INDEX);
}

#[test]
fn listen_accepts_port_zero_ipv6_and_host_names() {
    assert_eq!(
        valid("[server]\nlisten = \"127.0.0.1:0\"").server.listen,
        "127.0.0.1:0".parse::<SocketAddr>().unwrap()
    );
    assert!(valid("[server]\nlisten = \"[::]:443\"")
        .server
        .listen
        .is_ipv6());
    assert_eq!(
        parse_listen("localhost:8080").unwrap(),
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert!(parse_listen("127.0.0.1").is_err());
    assert!(parse_listen("127.0.0.1:99999").is_err());
}

// ------------------------------------------------------------ unknown keys

#[test]
fn unknown_key_in_each_section_is_named_with_allowed_keys() {
    for section in &SCHEMA {
        let toml = format!("[{}]\nbogus_key = 1\n", section.name);
        let key = format!("{}.bogus_key", section.name);
        let allowed = format!("(allowed: {})", section.keys.join(", "));
        assert_err(
            &toml,
            ConfigErrorKind::UnknownKey,
            &key,
            &[&format!("unknown key `{key}`"), &allowed],
        );
    }
}

#[test]
fn unknown_key_message_matches_the_documented_shape() {
    let e = err("[limits]\nmax_hedaers = 10\n");
    assert_eq!(
        e.to_string(),
        "config: unknown key `limits.max_hedaers` (allowed: max_request_target, \
         max_header_bytes, max_headers, max_body)"
    );
}

#[test]
fn unknown_key_in_the_wrong_section_says_where_it_belongs() {
    assert_err(
        "[server]\nmax_body = 5\n",
        ConfigErrorKind::UnknownKey,
        "server.max_body",
        &["`max_body` belongs under [limits]"],
    );
}

#[test]
fn unknown_section_is_named() {
    assert_err(
        "[serve]\nlisten = \"127.0.0.1:1\"\n",
        ConfigErrorKind::UnknownKey,
        "serve",
        &[
            "unknown section `[serve]`",
            "allowed: server, limits, timeouts, ring, log, files",
        ],
    );
}

#[test]
fn top_level_key_says_which_section_it_belongs_to() {
    assert_err(
        "workers = 4\n",
        ConfigErrorKind::UnknownKey,
        "workers",
        &[
            "unknown top-level key `workers`",
            "`workers` belongs under [server]",
        ],
    );
}

#[test]
fn unknown_key_in_a_nested_table_is_named() {
    assert_err(
        "[server.extra]\nx = 1\n",
        ConfigErrorKind::UnknownKey,
        "server.extra",
        &["unknown key `server.extra`"],
    );
}

#[test]
fn load_prefixes_errors_with_the_path() {
    let file = TempFile::new("typo", "[limits]\nmax_hedaers = 10\n");
    let e = Config::load(&file.0).unwrap_err();
    let expected = format!("{}: unknown key `limits.max_hedaers`", file.0.display());
    assert!(e.to_string().starts_with(&expected), "{e}");
    assert_eq!(e.origin(), file.0.display().to_string());
}

// ------------------------------------------------------------ wrong types

#[test]
fn wrong_type_names_the_key() {
    let cases = [
        (
            "[server]\nworkers = \"four\"",
            "server.workers",
            "expected a whole number",
        ),
        ("[server]\nworkers = -1", "server.workers", "-1"),
        ("[server]\nlisten = 8080", "server.listen", "127.0.0.1:8080"),
        ("[server]\nlisten = \"nope\"", "server.listen", "HOST:PORT"),
        (
            "[limits]\nmax_body = 1.5",
            "limits.max_body",
            "invalid type",
        ),
        (
            "[timeouts]\nkeepalive_secs = \"75s\"",
            "timeouts.keepalive_secs",
            "75s",
        ),
        ("[ring]\nsqpoll = \"yes\"", "ring.sqpoll", "invalid type"),
        ("[ring]\nentries = 5000000000", "ring.entries", "5000000000"),
        ("[log]\nlevel = 3", "log.level", "invalid type"),
        ("[files]\nlisting = 1", "files.listing", "invalid type"),
        ("[files]\nroot = []", "files.root", "invalid type"),
    ];
    for (toml, key, needle) in cases {
        assert_err(
            toml,
            ConfigErrorKind::InvalidType,
            key,
            &[&format!("{key} = "), needle],
        );
    }
}

#[test]
fn section_that_is_not_a_table_is_named() {
    assert_err(
        "server = 1\n",
        ConfigErrorKind::InvalidType,
        "server",
        &["`server` must be a table"],
    );
}

#[test]
fn syntax_error_is_one_line_with_a_position() {
    let e = err("[server]\nworkers = 4\nlisten = \n");
    let line = e.to_string();
    assert_eq!(e.kind(), ConfigErrorKind::Syntax);
    assert!(!line.contains('\n'), "{line:?}");
    assert!(line.starts_with("config: 3:"), "{line}");
    assert!(line.contains("invalid TOML"), "{line}");

    let e = err("[server]\nworkers = 1\nworkers = 2\n");
    assert!(!e.to_string().contains('\n'), "{e}");
    assert!(e.to_string().contains("workers"), "{e}");
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let path = std::path::Path::new("/nonexistent/percore.toml");
    let e = Config::load(path).unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::Io);
    assert!(e
        .to_string()
        .starts_with("/nonexistent/percore.toml: cannot read"));
    assert!(std::error::Error::source(&e).is_some());
}

// ------------------------------------------------------------ validation

#[test]
fn workers_range() {
    valid("[server]\nworkers = 0");
    valid("[server]\nworkers = 1024");
    invalid(
        "[server]\nworkers = 1025",
        "server.workers",
        &["1025", "0 to 1024"],
    );
}

#[test]
fn max_connections_range() {
    valid("[server]\nmax_connections = 1");
    valid("[server]\nmax_connections = 1000000");
    invalid(
        "[server]\nmax_connections = 0",
        "server.max_connections",
        &["1 to 1000000"],
    );
    invalid(
        "[server]\nmax_connections = 1000001",
        "server.max_connections",
        &["1000001"],
    );
}

#[test]
fn server_header_must_be_a_header_value() {
    assert_eq!(
        valid("[server]\nserver_header = \"\"").server.server_header,
        ""
    );
    valid("[server]\nserver_header = \"percore/0.1 (linux)\"");
    for bad in ["\"a\\r\\nX-Evil: 1\"", "\" padded\"", "\"caf\u{e9}\""] {
        invalid(
            &format!("[server]\nserver_header = {bad}"),
            "server.server_header",
            &["not a valid header value"],
        );
    }
}

#[test]
fn backlog_range() {
    valid("[server]\nbacklog = 1");
    invalid("[server]\nbacklog = 0", "server.backlog", &["1 to 65535"]);
    invalid("[server]\nbacklog = 65536", "server.backlog", &["65536"]);
}

#[test]
fn max_headers_range() {
    valid("[limits]\nmax_headers = 1");
    valid("[limits]\nmax_headers = 256");
    invalid(
        "[limits]\nmax_headers = 0",
        "limits.max_headers",
        &["1 to 256"],
    );
    invalid(
        "[limits]\nmax_headers = 257",
        "limits.max_headers",
        &["257"],
    );
}

#[test]
fn max_request_target_bounds() {
    valid("[limits]\nmax_request_target = 64");
    valid("[limits]\nmax_request_target = 32768");
    invalid(
        "[limits]\nmax_request_target = 63",
        "limits.max_request_target",
        &["63", "64 to"],
    );
    invalid(
        "[limits]\nmax_request_target = 32769",
        "limits.max_request_target",
        &["larger than limits.max_header_bytes = 32768"],
    );
    valid("[limits]\nmax_request_target = 65536\nmax_header_bytes = 65536");
}

#[test]
fn max_header_bytes_range() {
    invalid(
        "[limits]\nmax_header_bytes = 2097152",
        "limits.max_header_bytes",
        &["64 to 1048576"],
    );
    // Lowering max_header_bytes below the default target is caught by the cross rule.
    invalid(
        "[limits]\nmax_header_bytes = 4096",
        "limits.max_request_target",
        &["larger than"],
    );
}

#[test]
fn max_body_zero_and_large_are_allowed() {
    assert_eq!(valid("[limits]\nmax_body = 0").limits.max_body, 0);
    valid("[limits]\nmax_body = 10737418240");
}

#[test]
fn timeouts_must_be_positive_except_drain() {
    for key in [
        "keepalive_secs",
        "header_secs",
        "body_secs",
        "send_secs",
        "linger_secs",
    ] {
        let path = format!("timeouts.{key}");
        invalid(&format!("[timeouts]\n{key} = 0"), &path, &["1 to 86400"]);
        invalid(&format!("[timeouts]\n{key} = 86401"), &path, &["86401"]);
        valid(&format!("[timeouts]\n{key} = 1"));
    }
    assert_eq!(valid("[timeouts]\ndrain_secs = 0").timeouts.drain_secs, 0);
    invalid(
        "[timeouts]\ndrain_secs = 86401",
        "timeouts.drain_secs",
        &["0 to 86400"],
    );
}

#[test]
fn ring_entries_power_of_two_in_bounds() {
    assert_eq!(
        err("[ring]\nentries = 1000").to_string(),
        "config: ring.entries = 1000 is not a power of two between 2 and 32768"
    );
    for bad in [0, 1, 65536] {
        invalid(
            &format!("[ring]\nentries = {bad}"),
            "ring.entries",
            &["power of two"],
        );
    }
    valid("[ring]\nentries = 2");
    valid("[ring]\nentries = 32768");
}

#[test]
fn ring_buffers_power_of_two_in_bounds() {
    for bad in [0, 3, 3000, 65536] {
        invalid(
            &format!("[ring]\nbuffers = {bad}"),
            "ring.buffers",
            &["power of two between 1 and 32768"],
        );
    }
    valid("[ring]\nbuffers = 1");
    valid("[ring]\nbuffers = 32768");
}

#[test]
fn ring_buffer_size_range() {
    valid("[ring]\nbuffer_size = 512");
    valid("[ring]\nbuffer_size = 1048576\nbuffers = 1024");
    invalid(
        "[ring]\nbuffer_size = 511",
        "ring.buffer_size",
        &["512 to 1048576"],
    );
    invalid(
        "[ring]\nbuffer_size = 1048577",
        "ring.buffer_size",
        &["1048577"],
    );
}

#[test]
fn ring_memory_is_bounded() {
    invalid(
        "[ring]\nbuffers = 32768\nbuffer_size = 1048576",
        "ring.buffers",
        &["32768 MiB per core", "1024 MiB"],
    );
}

#[test]
fn log_level_is_a_filter() {
    for ok in [
        "info",
        "DEBUG",
        "warn,percore=trace",
        "percore::http=debug,error",
        "off",
    ] {
        valid(&format!("[log]\nlevel = {ok:?}"));
    }
    for bad in ["", "inof", "percore=loud", "=debug"] {
        invalid(
            &format!("[log]\nlevel = {bad:?}"),
            "log.level",
            &["not a log filter", "off, error, warn, info, debug, trace"],
        );
    }
}

#[test]
fn files_rules() {
    invalid("[files]\nroot = \"\"", "files.root", &["empty"]);
    assert_eq!(valid("[files]\nindex = \"\"").files.index, "");
    for bad in ["../secret", "a/b", ".", ".."] {
        invalid(
            &format!("[files]\nindex = {bad:?}"),
            "files.index",
            &["not a plain file name"],
        );
    }
    valid("[files]\ncache_control = \"\"");
    invalid(
        "[files]\ncache_control = \"no-cache\\n\"",
        "files.cache_control",
        &["not a valid header value"],
    );
}

// ------------------------------------------------------------ command line

fn args(argv: &[&str]) -> CommonArgs {
    let mut full = vec!["example"];
    full.extend_from_slice(argv);
    ExampleCli::try_parse_from(full).unwrap().common
}

#[test]
fn no_flags_give_the_default() {
    assert_eq!(args(&[]).into_config().unwrap(), Config::default());
    assert_eq!(
        CommonArgs::default().into_config().unwrap(),
        Config::default()
    );
}

#[test]
fn flags_parse() {
    let a = args(&["--listen", "127.0.0.1:0", "--workers", "0", "--sqpoll"]);
    assert_eq!(a.listen, Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(a.workers, Some(0));
    assert!(a.sqpoll);
    let c = a.into_config().unwrap();
    assert_eq!(c.server.listen.port(), 0);
    assert_eq!(c.server.workers, 0);
    assert!(c.ring.sqpoll);

    assert!(ExampleCli::try_parse_from(["example", "--listen", "nope"]).is_err());
    assert!(ExampleCli::try_parse_from(["example", "--workers", "-1"]).is_err());
    assert!(ExampleCli::try_parse_from(["example", "--bogus"]).is_err());
}

#[test]
fn flags_override_the_file() {
    let file = TempFile::new(
        "override",
        "[server]\nlisten = \"0.0.0.0:9000\"\nworkers = 8\nbacklog = 77\n[ring]\nsqpoll = true\n",
    );
    let path = file.0.to_str().unwrap();

    let c = args(&["--config", path]).into_config().unwrap();
    assert_eq!(
        c.server.listen,
        "0.0.0.0:9000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.server.workers, 8);
    assert!(c.ring.sqpoll, "no --sqpoll leaves the file's value");

    let c = args(&[
        "--config",
        path,
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
    ])
    .into_config()
    .unwrap();
    assert_eq!(
        c.server.listen,
        "127.0.0.1:0".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.server.workers, 2);
    assert_eq!(
        c.server.backlog, 77,
        "keys without a flag keep the file's value"
    );
    assert_eq!(c.limits, LimitsSection::default());
}

#[test]
fn a_flag_can_fix_a_file_value() {
    let file = TempFile::new("fix", "[server]\nworkers = 5000\n");
    let path = file.0.to_str().unwrap();
    let e = args(&["--config", path]).into_config().unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{path}: server.workers = 5000")),
        "{e}"
    );
    let c = args(&["--config", path, "--workers", "4"])
        .into_config()
        .unwrap();
    assert_eq!(c.server.workers, 4);
}

#[test]
fn invalid_flag_value_is_blamed_on_the_flag() {
    let e = args(&["--workers", "5000"]).into_config().unwrap_err();
    assert_eq!(e.key(), Some("server.workers"));
    assert!(
        e.to_string()
            .starts_with("--workers: server.workers = 5000"),
        "{e}"
    );
}

#[test]
fn config_file_errors_surface_through_the_flags() {
    let e = args(&["--config", "/nonexistent/percore.toml"])
        .into_config()
        .unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::Io);

    let file = TempFile::new("bad", "[ring]\nentrys = 8\n");
    let e = args(&["--config", file.0.to_str().unwrap()])
        .into_config()
        .unwrap_err();
    assert_eq!(e.key(), Some("ring.entrys"));
}

#[test]
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    ExampleCli::command().debug_assert();
    let help = ExampleCli::command().render_help().to_string();
    for flag in [
        "--listen <HOST:PORT>",
        "--workers <N>",
        "--config <FILE>",
        "--sqpoll",
    ] {
        assert!(help.contains(flag), "{help}");
    }
    assert!(
        !help.contains("Flags shared"),
        "doc comment leaked into about: {help}"
    );
}

#[test]
fn tls_needs_a_key_whole_sni_entries_and_an_address_to_redirect_from() {
    let tls = valid(
        "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nredirect_http = \"0.0.0.0:80\"\nhsts = true\n\
         [[tls.sni]]\nserver_name = \"*.example.com\"\ncert = \"/w.pem\"\nkey = \"/wk.pem\"\n",
    );
    assert!(tls.tls.enabled());
    assert_eq!(tls.tls.sni[0].server_name, "*.example.com");
    assert_eq!(tls.tls.hsts_value().as_deref(), Some("max-age=31536000"));
    assert_eq!(tls.tls.redirect_addr(), Some("0.0.0.0:80".parse().unwrap()));
    assert!(!valid("").tls.enabled());
    invalid(
        "[tls]\ncert = \"/c.pem\"\n",
        "tls.key",
        &["tls.key is empty"],
    );
    invalid(
        "[tls]\nkey = \"/k.pem\"\n",
        "tls.cert",
        &["tls.cert is empty"],
    );
    invalid("[tls]\nhsts = true\n", "tls.cert", &["other [tls] keys"]);
    let with = |extra: &str| format!("[tls]\ncert = \"/c\"\nkey = \"/k\"\n{extra}");
    invalid(
        &with("redirect_http = \"localhost\"\n"),
        "tls.redirect_http",
        &["not an IP:PORT"],
    );
    invalid(
        &format!(
            "[server]\nlisten = \"127.0.0.1:8443\"\n{}",
            with("redirect_http = \"127.0.0.1:8443\"\n")
        ),
        "tls.redirect_http",
        &["overlaps server.listen"],
    );
    invalid(
        &format!(
            "[server]\nlisten = \"127.0.0.1:8443\"\n{}",
            with("redirect_http = \"0.0.0.0:8443\"\n")
        ),
        "tls.redirect_http",
        &["overlaps server.listen"],
    );
    valid(&format!(
        "[server]\nlisten = \"127.0.0.1:8443\"\n{}",
        with("redirect_http = \"127.0.0.2:8443\"\n")
    ));
    invalid(
        "[server]\nlisten = \"127.0.0.1:8443\"\n[metrics]\nlisten = \"0.0.0.0:8443\"\n",
        "metrics.listen",
        &["overlaps server.listen"],
    );
    invalid(
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:8501\"\n{}",
            with("redirect_http = \"127.0.0.1:8501\"\n")
        ),
        "metrics.listen",
        &["overlaps tls.redirect_http"],
    );
    let sni =
        |name: &str| format!("[[tls.sni]]\nserver_name = {name:?}\ncert = \"/a\"\nkey = \"/b\"\n");
    invalid(
        &with(&sni("192.0.2.1")),
        "tls.sni.server_name",
        &["IP address"],
    );
    invalid(
        &with(&format!("{}{}", sni("a.example"), sni("A.example"))),
        "tls.sni.server_name",
        &["listed twice"],
    );
    for name in ["", "a..b", "exa mple.com", "*.", "a.*.b", "ex/ample"] {
        invalid(
            &with(&format!(
                "[[tls.sni]]\nserver_name = {name:?}\ncert = \"/a\"\nkey = \"/b\"\n"
            )),
            "tls.sni.server_name",
            &["not a host name"],
        );
    }
    invalid(
        &with("[[tls.sni]]\nserver_name = \"a.example\"\ncert = \"/a\"\n"),
        "tls.sni.cert",
        &["needs both cert and key"],
    );
    let typo = err(&with(
        "[[tls.sni]]\nserver_name = \"a.example\"\ncrt = \"/a\"\n",
    ))
    .to_string();
    assert!(typo.contains("unknown field `crt`"), "{typo}");
}
