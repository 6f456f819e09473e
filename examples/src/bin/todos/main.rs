//! A JSON "todos" API backed by PostgreSQL, through tokio-postgres on each
//! core's ring (no tokio runtime).
//!
//! A todo is `{"id": int, "title": string, "done": bool}`.
//! - `GET /todos?limit=&offset=`: by id (limit 1 to 1000, default 100;
//!   offset default 0; anything else is 400).
//! - `POST /todos` `{"title": .., "done": ..}`: `done` optional (false),
//!   `title` 1 to 200 characters, no other field (else 422); 201 with the
//!   todo and `Location: /todos/ID`.
//! - `GET|PUT|DELETE /todos/:id`: PUT takes the same body and answers the
//!   updated todo; DELETE answers 204; a missing or non-numeric id is 404.
//! - `GET /health`: 200 once the database answers, else 503.
//!
//! Every error, the framework's own included, is `{"error": "..."}` with its
//! status. The table is created at start (if it does not exist).
//!
//! `todos --database-url postgres://percore:percore@127.0.0.1:5432/todos`
//! (or `DATABASE_URL`); `--pool N` connections per core (default 2).

// Handlers answer `Result<_, Response>`: the error is the response itself,
// built once on the error path; boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod pool;

use std::rc::Rc;

use clap::Parser;
use percore::config::CommonArgs;
use percore::{get, App, IntoResponse, Json, Path, Query, Response, Server, State, StatusCode};
use serde::{Deserialize, Serialize};

use pool::{DbError, Pool};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// The database, as a libpq URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://percore:percore@127.0.0.1:5432/todos"
    )]
    database_url: String,
    /// Database connections per core.
    #[arg(long, default_value_t = 2)]
    pool: usize,
}

fn main() {
    let cli = Cli::parse();
    let config = percore_examples::pg::config_or_exit(&cli.database_url);
    let size = cli.pool;
    let server = Server::from_common_args(cli.common);
    let result = server.serve(move |_core| app(Rc::new(Pool::new(config.clone(), size))));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

#[derive(Serialize, Debug, PartialEq, Deserialize)]
struct Todo {
    id: i64,
    title: String,
    done: bool,
}

/// A todo's fields as a client sends them: a JSON object (serde would
/// also take an array of the fields in order; that is the wrong shape
/// here, 422), no other field.
#[derive(Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
struct NewTodo {
    title: String,
    done: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTodoFields {
    title: String,
    #[serde(default)]
    done: bool,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for NewTodo {
    type Error = serde_json::Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        let NewTodoFields { title, done } = serde_json::from_value(object.into())?;
        Ok(NewTodo { title, done })
    }
}

/// `?limit=&offset=`; other parameters are ignored (as a query usually is).
#[derive(Deserialize)]
struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

type Db = Rc<Pool>;

/// An error as JSON with its status.
fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    Response::error(status, message.to_string())
}

fn db_error(e: DbError) -> Response {
    tracing::error!("{e}");
    match e {
        DbError::Connect(_) => error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
        DbError::Query(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "database error"),
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS todos (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    done boolean NOT NULL DEFAULT false
)";

fn app(db: Db) -> App {
    // The table, once per core at start (serialized between cores by an
    // advisory lock: concurrent CREATE TABLE IF NOT EXISTS can collide).
    let boot = db.clone();
    percore::spawn_local(async move {
        let result = async {
            let client = boot.get().await?;
            client
                .batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock(7403); {SCHEMA}; COMMIT"
                ))
                .await?;
            Ok::<_, DbError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!("creating the todos table: {e}");
        }
    });
    App::new()
        .with_state(db)
        .route("/health", get(health))
        .route("/todos", get(list).post(create))
        .route("/todos/:id", get(read).put(update).delete(remove))
        .error_page(|_, message| Json(serde_json::json!({ "error": message })))
}

async fn health(State(db): State<Db>) -> Response {
    let result = async {
        db.get()
            .await?
            .simple_query("SELECT 1")
            .await
            .map_err(DbError::from)
    }
    .await;
    match result {
        Ok(_) => Response::json(r#"{"status":"ok"}"#),
        Err(e) => {
            tracing::warn!("health: {e}");
            error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

fn todo(row: &tokio_postgres::Row) -> Todo {
    Todo {
        id: row.get(0),
        title: row.get(1),
        done: row.get(2),
    }
}

fn check(new: &NewTodo) -> Result<(), Response> {
    let chars = new.title.chars().count();
    if !(1..=200).contains(&chars) {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("title must be 1 to 200 characters, not {chars}"),
        ));
    }
    // Any 1 to 200 characters, spaces too, but NUL: PostgreSQL's text
    // cannot hold it.
    if new.title.contains('\0') {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "title must not contain NUL",
        ));
    }
    Ok(())
}

async fn list(State(db): State<Db>, Query(page): Query<Page>) -> Result<Json<Vec<Todo>>, Response> {
    let limit = page.limit.unwrap_or(100);
    let offset = page.offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) || offset < 0 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "limit must be 1 to 1000 and offset at least 0",
        ));
    }
    let client = db.get().await.map_err(db_error)?;
    let rows = client
        .query(
            "SELECT id, title, done FROM todos ORDER BY id LIMIT $1 OFFSET $2",
            &[&limit, &offset],
        )
        .await
        .map_err(|e| db_error(e.into()))?;
    Ok(Json(rows.iter().map(todo).collect()))
}

async fn create(State(db): State<Db>, Json(new): Json<NewTodo>) -> Result<Response, Response> {
    check(&new)?;
    let client = db.get().await.map_err(db_error)?;
    let row = client
        .query_one(
            "INSERT INTO todos (title, done) VALUES ($1, $2) RETURNING id, title, done",
            &[&new.title, &new.done],
        )
        .await
        .map_err(|e| db_error(e.into()))?;
    let t = todo(&row);
    let location = format!("/todos/{}", t.id);
    Ok((StatusCode::CREATED, [("location", location)], Json(t)).into_response())
}

async fn read(State(db): State<Db>, Path(id): Path<i64>) -> Result<Json<Todo>, Response> {
    let client = db.get().await.map_err(db_error)?;
    let row = client
        .query_opt("SELECT id, title, done FROM todos WHERE id = $1", &[&id])
        .await
        .map_err(|e| db_error(e.into()))?;
    row.map(|r| Json(todo(&r)))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no todo {id}")))
}

async fn update(
    State(db): State<Db>,
    Path(id): Path<i64>,
    Json(new): Json<NewTodo>,
) -> Result<Json<Todo>, Response> {
    check(&new)?;
    let client = db.get().await.map_err(db_error)?;
    let row = client
        .query_opt(
            "UPDATE todos SET title = $2, done = $3 WHERE id = $1 RETURNING id, title, done",
            &[&id, &new.title, &new.done],
        )
        .await
        .map_err(|e| db_error(e.into()))?;
    row.map(|r| Json(todo(&r)))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no todo {id}")))
}

async fn remove(State(db): State<Db>, Path(id): Path<i64>) -> Result<StatusCode, Response> {
    let client = db.get().await.map_err(db_error)?;
    let n = client
        .execute("DELETE FROM todos WHERE id = $1", &[&id])
        .await
        .map_err(|e| db_error(e.into()))?;
    if n == 0 {
        return Err(error(StatusCode::NOT_FOUND, format!("no todo {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
