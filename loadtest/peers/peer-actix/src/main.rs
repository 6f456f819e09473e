//! actix-web 4: `HttpServer` with N workers (each a single-threaded actix/tokio
//! runtime; the listener is shared by the workers, actix's default).
//! actix adds `Date` itself; `Server` is set per response, as TechEmpower's actix does.

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use actix_web::{web, App, HttpResponse, HttpServer};
use peer_common::{announce, Args, Message, PLAINTEXT};

const NAME: &str = "peer-actix";
static SERVER_NAME: HeaderValue = HeaderValue::from_static("actix");

async fn plaintext() -> HttpResponse {
    let mut res = HttpResponse::Ok().body(PLAINTEXT);
    let h = res.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

async fn json() -> HttpResponse {
    let body = serde_json::to_vec(&Message::HELLO).expect("serialise");
    let mut res = HttpResponse::Ok().body(body);
    let h = res.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// The benchmark's database: each actix worker (one thread, one runtime)
/// opens one connection on first use and prepares its statements.
mod db {
    use std::cell::RefCell;
    use std::rc::Rc;

    use tokio_postgres::{Client, NoTls, Statement};

    pub struct Conn {
        pub client: Client,
        pub world: Statement,
        pub fortunes: Statement,
    }

    thread_local! {
        static CONN: RefCell<Option<Rc<Conn>>> = const { RefCell::new(None) };
    }

    pub const URL: &str = "postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world";

    pub async fn conn() -> Rc<Conn> {
        if let Some(c) = CONN.with(|c| c.borrow().clone()) {
            return c;
        }
        let (client, connection) = tokio_postgres::connect(URL, NoTls).await.expect("database");
        actix_web::rt::spawn(async move {
            let _ = connection.await;
        });
        let world = client.prepare("SELECT id, randomNumber FROM World WHERE id = $1").await.unwrap();
        let fortunes = client.prepare("SELECT id, message FROM Fortune").await.unwrap();
        let c = Rc::new(Conn { client, world, fortunes });
        CONN.with(|slot| *slot.borrow_mut() = Some(c.clone()));
        c
    }
}

#[derive(serde::Serialize, Clone, Copy)]
struct World {
    id: i32,
    #[serde(rename = "randomNumber")]
    random_number: i32,
}

fn json_response<T: serde::Serialize>(value: &T) -> HttpResponse {
    let body = serde_json::to_vec(value).expect("serialise");
    let mut res = HttpResponse::Ok().body(body);
    let h = res.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

async fn world(conn: &db::Conn, id: i32) -> World {
    let row = conn.client.query_one(&conn.world, &[&id]).await.expect("world");
    World { id: row.get(0), random_number: row.get(1) }
}

fn count(req: &actix_web::HttpRequest) -> usize {
    let q = req.query_string();
    let v = q.split('&').find_map(|p| p.strip_prefix("queries=")).unwrap_or("1");
    v.parse::<i64>().unwrap_or(1).clamp(1, 500) as usize
}

async fn single() -> HttpResponse {
    let conn = db::conn().await;
    json_response(&world(&conn, fastrand::i32(1..=10_000)).await)
}

async fn queries(req: actix_web::HttpRequest) -> HttpResponse {
    let conn = db::conn().await;
    let n = count(&req);
    let worlds = futures_util::future::join_all((0..n).map(|_| world(&conn, fastrand::i32(1..=10_000)))).await;
    json_response(&worlds)
}

async fn updates(req: actix_web::HttpRequest) -> HttpResponse {
    let conn = db::conn().await;
    let n = count(&req);
    let mut worlds = futures_util::future::join_all((0..n).map(|_| world(&conn, fastrand::i32(1..=10_000)))).await;
    for w in worlds.iter_mut() {
        w.random_number = fastrand::i32(1..=10_000);
    }
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
    conn.client.execute(sql.as_str(), &[]).await.expect("update");
    json_response(&worlds)
}

async fn fortunes() -> HttpResponse {
    let conn = db::conn().await;
    let rows = conn.client.query(&conn.fortunes, &[]).await.expect("fortunes");
    let mut all: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    all.push((0, "Additional fortune added at request time.".to_string()));
    all.sort_by(|a, b| a.1.cmp(&b.1));
    let mut html = String::with_capacity(2048);
    html.push_str("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>");
    for (id, message) in &all {
        html.push_str(&format!("<tr><td>{id}</td><td>"));
        for c in message.chars() {
            match c {
                '&' => html.push_str("&amp;"),
                '<' => html.push_str("&lt;"),
                '>' => html.push_str("&gt;"),
                '"' => html.push_str("&quot;"),
                '\'' => html.push_str("&#x27;"),
                c => html.push(c),
            }
        }
        html.push_str("</td></tr>");
    }
    html.push_str("</table></body></html>");
    let mut res = HttpResponse::Ok().body(html);
    let h = res.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

fn main() -> std::io::Result<()> {
    let args = Args::parse(NAME);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new()
                .route("/plaintext", web::get().to(plaintext))
                .route("/json", web::get().to(json))
                .route("/db", web::get().to(single))
                .route("/queries", web::get().to(queries))
                .route("/updates", web::get().to(updates))
                .route("/fortunes", web::get().to(fortunes))
        })
        .workers(args.workers)
        .backlog(4096)
        .bind(args.listen)?;
        let addr = server.addrs().first().copied().unwrap_or(args.listen);
        let running = server.run();
        announce(NAME, addr, args.workers);
        running.await
    })
}
