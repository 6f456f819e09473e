//! The TechEmpower Framework Benchmarks endpoints, on the benchmark's own
//! `hello_world` database (tables `World` and `Fortune`, user
//! `benchmarkdbuser`; `.ci/postgres.sh` creates them):
//! `/json`, `/plaintext`, `/db`, `/queries?queries=N`, `/fortunes`,
//! `/updates?queries=N`, `/cached-queries?count=N`.
//!
//! Each core keeps its own connections (`--pool`, default 4), each with the
//! statements prepared once; tokio-postgres pipelines the queries of
//! concurrent requests on them. `N` is 1 to 500 (a number out of range is
//! clamped, anything else is 1), as the benchmark's rules ask. The cache of
//! `/cached-queries` is per core, loaded at start.
//!
//! `techempower --database-url postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1/hello_world`

use std::cell::RefCell;
use std::rc::Rc;

use clap::Parser;
use percore::config::CommonArgs;
use percore::{get, App, Html, Json, Request, Response, Server, State, StatusCode};
use percore_examples::pool::Pool;
use serde::Serialize;
use tokio_postgres::{Client, Statement};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// The database, as a libpq URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world"
    )]
    database_url: String,
    /// Database connections per core. Requests of one query share the
    /// first, pipelined (`/db`: 9.8 us of PostgreSQL CPU per request,
    /// against 22.6 spread over 4); the queries of `/queries` and
    /// `/updates` spread over all of them (7.0k req/s with 4, against 4.0k
    /// with 1). BENCHMARKS.md has the runs.
    #[arg(long, default_value_t = 4)]
    pool: usize,
}

fn main() {
    let cli = Cli::parse();
    let config = percore_examples::pg::config_or_exit(&cli.database_url);
    let size = cli.pool.max(1);
    let server = Server::from_common_args(cli.common);
    let result = server.serve(move |_core| app(Rc::new(Db::new(config.clone(), size))));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Serialize, Clone, Copy)]
struct World {
    id: i32,
    #[serde(rename = "randomNumber")]
    random_number: i32,
}

/// One connection and its prepared statements.
struct Conn {
    client: Client,
    world: Statement,
    fortunes: Statement,
}

impl percore_examples::pool::Pooled for Conn {
    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// A core's connections and its `/cached-queries` cache.
struct Db {
    pool: Pool<Conn>,
    cache: RefCell<Vec<World>>,
}

impl Db {
    fn new(config: tokio_postgres::Config, size: usize) -> Db {
        let config = Rc::new(config);
        let pool = Pool::new(size, move || {
            let config = config.clone();
            async move { open(&config).await }
        });
        Db {
            pool,
            cache: RefCell::new(Vec::new()),
        }
    }

    /// The first connection: requests of one query share it, pipelined
    /// (PostgreSQL serves a pipelined connection with far less CPU per query).
    async fn first(&self) -> Result<Rc<Conn>, Response> {
        self.pool.first().await.map_err(unavailable)
    }

    /// A connection in turn: the queries of one request spread over them,
    /// run by as many backends.
    async fn conn(&self) -> Result<Rc<Conn>, Response> {
        self.pool.get().await.map_err(unavailable)
    }
}

/// A connection with the statements prepared.
async fn open(config: &tokio_postgres::Config) -> Result<Conn, String> {
    let client = percore_examples::pg::connect(config).await?;
    let world = client
        .prepare("SELECT id, randomNumber FROM World WHERE id = $1")
        .await
        .map_err(|e| e.to_string())?;
    let fortunes = client
        .prepare("SELECT id, message FROM Fortune")
        .await
        .map_err(|e| e.to_string())?;
    Ok(Conn {
        client,
        world,
        fortunes,
    })
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!("database: {e}");
    Response::error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
}

fn failed(e: tokio_postgres::Error) -> Response {
    tracing::error!("query: {e}");
    Response::error(StatusCode::INTERNAL_SERVER_ERROR, "database error")
}

fn random_id() -> i32 {
    fastrand::i32(1..=10_000)
}

async fn world(conn: &Conn, id: i32) -> Result<World, Response> {
    let row = conn
        .client
        .query_one(&conn.world, &[&id])
        .await
        .map_err(failed)?;
    Ok(World {
        id: row.get(0),
        random_number: row.get(1),
    })
}

/// The benchmark's rule: 1 to 500; a number out of range is clamped (a
/// huge one too), anything else (missing, not a number) is 1.
fn clamp(n: Option<&str>) -> usize {
    let Some(v) = n.map(str::trim) else {
        return 1;
    };
    let digits = v.strip_prefix('-').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 1;
    }
    match v.parse::<i64>() {
        Ok(n) => n.clamp(1, 500) as usize,
        Err(_) if v.starts_with('-') => 1,
        Err(_) => 500,
    }
}

/// The first value of `key` in the query string: a repeated key is no
/// error here (the benchmark wants an answer).
fn first(query: Option<&str>, key: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or("")).ok()?;
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn app(db: Rc<Db>) -> App {
    let warm = db.clone();
    percore::spawn_local(async move {
        // The /cached-queries cache, once per core.
        let loaded = async {
            let conn = warm.conn().await?;
            let rows = conn
                .client
                .query("SELECT id, randomNumber FROM World", &[])
                .await
                .map_err(failed)?;
            Ok::<_, Response>(
                rows.iter()
                    .map(|r| World {
                        id: r.get(0),
                        random_number: r.get(1),
                    })
                    .collect(),
            )
        }
        .await;
        match loaded {
            Ok(worlds) => {
                let mut worlds: Vec<World> = worlds;
                worlds.sort_by_key(|w| w.id);
                *warm.cache.borrow_mut() = worlds;
            }
            Err(_) => tracing::error!("the /cached-queries cache could not be loaded"),
        }
    });
    App::new()
        .with_state(db)
        .route(
            "/plaintext",
            get(|| {
                Response::ok()
                    .content_type_static("text/plain")
                    .body("Hello, World!")
            }),
        )
        .route(
            "/json",
            get(|| {
                Json(Message {
                    message: "Hello, World!",
                })
            }),
        )
        .route("/db", get(single))
        .route("/queries", get(queries))
        .route("/updates", get(updates))
        .route("/fortunes", get(fortunes))
        .route("/cached-queries", get(cached))
}

async fn single(State(db): State<Rc<Db>>) -> Result<Json<World>, Response> {
    let conn = db.first().await?;
    Ok(Json(world(&conn, random_id()).await?))
}

/// `n` worlds, queried at once, spread over the core's connections.
async fn worlds(db: &Db, n: usize) -> Result<Vec<World>, Response> {
    let spread = n.min(db.pool.size());
    let mut conns = Vec::with_capacity(spread);
    for _ in 0..spread {
        conns.push(db.conn().await?);
    }
    let queries: Vec<_> = (0..n)
        .map(|i| Box::pin(world(&conns[i % conns.len()], random_id())))
        .collect();
    all(queries).await.into_iter().collect()
}

/// Polls every future until all are done (so their queries go out
/// together), results in order.
async fn all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut done: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match std::pin::Pin::new(f).poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

async fn queries(State(db): State<Rc<Db>>, req: Request) -> Result<Json<Vec<World>>, Response> {
    let n = clamp(first(req.query(), "queries").as_deref());
    Ok(Json(worlds(&db, n).await?))
}

async fn updates(State(db): State<Rc<Db>>, req: Request) -> Result<Json<Vec<World>>, Response> {
    let n = clamp(first(req.query(), "queries").as_deref());
    let mut worlds = worlds(&db, n).await?;
    for w in worlds.iter_mut() {
        w.random_number = random_id();
    }
    // One statement for the lot, in id order (no deadlock between updates).
    let mut sorted = worlds.clone();
    sorted.sort_by_key(|w| w.id);
    sorted.dedup_by_key(|w| w.id);
    let mut sql = String::from("UPDATE World AS w SET randomNumber = v.r FROM (VALUES ");
    for (i, w) in sorted.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("({}, {})", w.id, w.random_number));
    }
    sql.push_str(") AS v(id, r) WHERE w.id = v.id");
    let conn = db.conn().await?;
    conn.client
        .execute(sql.as_str(), &[])
        .await
        .map_err(failed)?;
    // A world updated twice answers with the value written last.
    for w in worlds.iter_mut() {
        if let Some(s) = sorted.iter().find(|s| s.id == w.id) {
            w.random_number = s.random_number;
        }
    }
    Ok(Json(worlds))
}

async fn fortunes(State(db): State<Rc<Db>>) -> Result<Html<String>, Response> {
    let conn = db.first().await?;
    let rows = conn
        .client
        .query(&conn.fortunes, &[])
        .await
        .map_err(failed)?;
    let mut all: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    all.push((0, "Additional fortune added at request time.".to_string()));
    all.sort_by(|a, b| a.1.cmp(&b.1));
    let mut html = String::with_capacity(2048);
    html.push_str("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>");
    for (id, message) in &all {
        html.push_str(&format!("<tr><td>{id}</td><td>"));
        escape(&mut html, message);
        html.push_str("</td></tr>");
    }
    html.push_str("</table></body></html>");
    Ok(Html(html))
}

/// HTML-escapes `text` into `out` (the five characters that matter).
fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

async fn cached(State(db): State<Rc<Db>>, req: Request) -> Result<Json<Vec<World>>, Response> {
    let n = clamp(first(req.query(), "count").as_deref());
    let cache = db.cache.borrow();
    if cache.len() < 10_000 {
        return Err(Response::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cache is still loading",
        ));
    }
    Ok(Json(
        (0..n).map(|_| cache[(random_id() - 1) as usize]).collect(),
    ))
}
