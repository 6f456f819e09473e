//! The TechEmpower database endpoints as TechEmpower's own Rust entries write
//! them: one tokio-postgres connection per worker thread, statements
//! prepared once, a request's queries pipelined on that connection, the
//! updates in one statement. The peer brings the connection (its runtime's
//! socket) and the HTTP side; this module holds what they share.

use std::cell::RefCell;
use std::rc::Rc;

use tokio_postgres::{Client, Statement};

/// The benchmark's database (.ci/postgres.sh provisions it).
pub const URL: &str = "postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world";

/// A worker's connection and its prepared statements.
pub struct Conn {
    pub client: Client,
    pub world: Statement,
    pub fortunes: Statement,
}

thread_local! {
    static CONN: RefCell<Option<Rc<Conn>>> = const { RefCell::new(None) };
}

/// The worker's connection, opened on first use by `open` (which returns a
/// client whose connection task the peer has already spawned).
pub async fn conn<F, Fut>(open: F) -> Rc<Conn>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Client>,
{
    if let Some(c) = CONN.with(|c| c.borrow().clone()) {
        return c;
    }
    let client = open().await;
    let world = client
        .prepare("SELECT id, randomNumber FROM World WHERE id = $1")
        .await
        .expect("prepare");
    let fortunes = client
        .prepare("SELECT id, message FROM Fortune")
        .await
        .expect("prepare");
    let c = Rc::new(Conn {
        client,
        world,
        fortunes,
    });
    CONN.with(|slot| *slot.borrow_mut() = Some(c.clone()));
    c
}

#[derive(serde::Serialize, Clone, Copy)]
pub struct World {
    pub id: i32,
    #[serde(rename = "randomNumber")]
    pub random_number: i32,
}

fn random_id() -> i32 {
    fastrand::i32(1..=10_000)
}

async fn world(conn: &Conn, id: i32) -> World {
    let row = conn
        .client
        .query_one(&conn.world, &[&id])
        .await
        .expect("world");
    World {
        id: row.get(0),
        random_number: row.get(1),
    }
}

/// `queries=N` from a query string: 1 to 500, 1 when missing or not a number.
pub fn count(query: &str) -> usize {
    let v = query
        .split('&')
        .find_map(|p| p.strip_prefix("queries="))
        .unwrap_or("1");
    v.parse::<i64>().unwrap_or(1).clamp(1, 500) as usize
}

/// `/db`: one random row, as JSON.
pub async fn single(conn: &Conn) -> Vec<u8> {
    serde_json::to_vec(&world(conn, random_id()).await).expect("serialise")
}

async fn worlds(conn: &Conn, n: usize) -> Vec<World> {
    futures_util::future::join_all((0..n).map(|_| world(conn, random_id()))).await
}

/// `/queries`: N random rows, as JSON.
pub async fn queries(conn: &Conn, query: &str) -> Vec<u8> {
    serde_json::to_vec(&worlds(conn, count(query)).await).expect("serialise")
}

/// `/updates`: N random rows given new random numbers, in one statement.
pub async fn updates(conn: &Conn, query: &str) -> Vec<u8> {
    let mut worlds = worlds(conn, count(query)).await;
    for w in worlds.iter_mut() {
        w.random_number = random_id();
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
    conn.client
        .execute(sql.as_str(), &[])
        .await
        .expect("update");
    serde_json::to_vec(&worlds).expect("serialise")
}

/// `/fortunes`: every fortune and one added, sorted by message, escaped.
pub async fn fortunes(conn: &Conn) -> String {
    let rows = conn
        .client
        .query(&conn.fortunes, &[])
        .await
        .expect("fortunes");
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
    html
}
