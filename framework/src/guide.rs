//! # A guide to building with percore
//!
//! Every snippet here is compiled with the crate's tests; the ones that run
//! (through [`crate::testing::TestClient`], no socket) are run too.
//!
//! **One rule first: a blocking call in a handler stalls its whole core.**
//! Every connection of that core waits while it blocks (a synchronous
//! database driver, `std::thread::sleep`, a long computation). Run blocking
//! work with [`crate::spawn_blocking`], and wait with async handlers.
//!
//! ## A JSON API
//!
//! Extractors are handler arguments ([`crate::extract`]); a piece that
//! cannot be had answers for the handler (415, 400, 422, 404 ...). The error
//! page makes every error, the framework's own included, JSON.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use percore::testing::TestClient;
//! use percore::{get, App, Json, Path, StatusCode, State};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone)]
//! struct Todo { id: u64, title: String }
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct NewTodo { title: String }
//!
//! type Store = Rc<RefCell<Vec<Todo>>>;
//!
//! fn app() -> App {
//!     App::new()
//!         .with_state(Store::default())
//!         .route("/todos", get(|State(s): State<Store>| Json(s.borrow().clone()))
//!             .post(|State(s): State<Store>, Json(new): Json<NewTodo>| {
//!                 let todo = Todo { id: s.borrow().len() as u64 + 1, title: new.title };
//!                 s.borrow_mut().push(todo.clone());
//!                 (StatusCode::CREATED, [("location", format!("/todos/{}", todo.id))], Json(todo))
//!             }))
//!         .route("/todos/{id}", get(|State(s): State<Store>, Path(id): Path<u64>| {
//!             s.borrow().iter().find(|t| t.id == id).cloned().map(Json) // None is 404
//!         }))
//!         .error_page(|_, message| Json(serde_json::json!({ "error": message })))
//! }
//!
//! let mut client = TestClient::new(app());
//! let r = client.post_json("/todos", &serde_json::json!({ "title": "milk" }));
//! assert_eq!(r.status, 201);
//! assert_eq!(r.header("location"), Some("/todos/1"));
//! assert_eq!(client.get("/todos/1").json::<serde_json::Value>()["title"], "milk");
//! assert_eq!(client.get("/todos/9").status, 404);
//! assert_eq!(client.get("/todos/x").status, 404); // not a number: no such todo
//! let r = client.post_json("/todos", &serde_json::json!({ "title": "x", "color": 1 }));
//! assert_eq!(r.status, 422); // the wrong shape, with serde's message
//! assert!(r.json::<serde_json::Value>()["error"].is_string());
//! ```
//!
//! ## Forms and cookies
//!
//! ```
//! use percore::testing::TestClient;
//! use percore::{get, post, App, Form, IntoResponse, Redirect, Request};
//!
//! #[derive(serde::Deserialize)]
//! struct Login { user: String }
//!
//! let app = App::new()
//!     .route("/login", post(|Form(l): Form<Login>| {
//!         let cookie = cookie::Cookie::build(("user", l.user)).path("/").http_only(true);
//!         Redirect::see_other("/").into_response().cookie(cookie)
//!     }))
//!     .route("/", get(|req: &Request| format!("hello {}", req.cookie("user").as_deref().unwrap_or("stranger"))));
//! let mut c = TestClient::new(app);
//! let r = c.post("/login", "application/x-www-form-urlencoded", "user=ann");
//! assert_eq!(r.status, 303);
//! assert!(r.header("set-cookie").unwrap().starts_with("user=ann"));
//! let r = c.request(http::Request::get("/").header("cookie", "user=ann").body(Default::default()).unwrap());
//! assert_eq!(r.text(), "hello ann");
//! ```
//!
//! ## State: per core, or shared
//!
//! The factory given to `Server::serve` runs once per core, so what it makes
//! is per core: an `Rc<RefCell<..>>` costs no lock, and **is a different
//! value on each core**: a counter or an in-memory store made there counts
//! per core. What must be one for the whole server is an `Arc` (with a
//! `Mutex` or atomics) made before `serve`, cloned into each factory call.
//!
//! ```no_run
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use percore::{get, App, Server, State};
//!
//! let total = Arc::new(AtomicU64::new(0)); // one for the server
//! Server::from_args().unwrap().serve(move |_core| {
//!     let mine = Rc::new(Cell::new(0u64)); // one per core
//!     App::new()
//!         .with_state(total.clone())
//!         .with_state(mine)
//!         .route("/hit", get(|State(all): State<Arc<AtomicU64>>, State(mine): State<Rc<Cell<u64>>>| {
//!             mine.set(mine.get() + 1);
//!             format!("{} in all, {} on this core", all.fetch_add(1, Ordering::Relaxed) + 1, mine.get())
//!         }))
//! }).unwrap();
//! ```
//!
//! ## Middleware
//!
//! A layer is a pair of hooks ([`crate::middleware::Middleware`]): `before`
//! may answer instead of the handler, `after` sees every response, the
//! framework's 404 and 405 included. Built in: request ids, access logs
//! with timings, CORS, compression, auth, timeouts.
//!
//! ```
//! use std::time::Duration;
//! use percore::middleware::{Auth, Compression, Cors, RequestId, Timeout};
//! use percore::testing::TestClient;
//! use percore::{get, App};
//!
//! let app = App::new()
//!     .route("/", get(|| "home"))
//!     .nest("/admin", App::new()
//!         .route("/", get(|| "secrets"))
//!         .layer(Auth::bearer(|token| token == "letmein")))
//!     .layer(RequestId::new())
//!     .layer(Cors::origins(["https://app.example"]))
//!     .layer(Compression::new())
//!     .layer(Timeout(Duration::from_secs(5)));
//! let mut c = TestClient::new(app);
//! assert!(c.get("/").header("x-request-id").is_some());
//! assert_eq!(c.get("/admin").status, 401);
//! ```
//!
//! ## Async handlers
//!
//! An async handler runs on its core's executor: while it waits, the core
//! serves everyone else. It reads the request body itself, as it arrives.
//!
//! ```
//! use std::time::Duration;
//! use percore::testing::TestClient;
//! use percore::{post, App, BodyError, Request};
//!
//! let app = App::new().route("/upload", post(|mut req: Request| async move {
//!     let mut body = req.body_stream();
//!     let mut total = 0;
//!     while let Some(chunk) = body.chunk().await {
//!         total += chunk?.len();
//!         percore::time::sleep(Duration::from_millis(1)).await; // a slow consumer
//!     }
//!     Ok::<_, BodyError>(format!("{total} bytes"))
//! }));
//! let mut c = TestClient::new(app);
//! assert_eq!(c.post("/upload", "application/octet-stream", vec![0u8; 100_000]).text(), "100000 bytes");
//! ```
//!
//! ## Testing
//!
//! [`crate::testing::TestClient`] runs an app on the test's thread, without
//! a socket or io_uring (CI containers that block it included): the codec,
//! router, extractors, middleware, error page and handlers, sync and async.
//! Ring I/O (`percore::fs`, `percore::net`, static files) needs a real
//! server: `Server::new(config).start(factory)` on `127.0.0.1:0`.
//!
//! ## A database
//!
//! `percore::net::TcpStream::compat()` gives tokio's `AsyncRead` and
//! `AsyncWrite` without a tokio runtime, so tokio-postgres runs on the
//! core's ring: connect with `Config::connect_raw` and give the connection
//! to `spawn_local`. Crates that call `tokio::spawn`, use tokio's timers or
//! its own sockets do not work. `examples/todos` (a JSON API with a per-core
//! pool) and `examples/techempower` are complete programs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use percore::net::TcpStream;
//! let config: tokio_postgres::Config = "postgres://percore:percore@127.0.0.1/todos".parse()?;
//! let stream = TcpStream::connect("127.0.0.1:5432".parse()?).await?;
//! let (client, connection) = config.connect_raw(stream.compat(), tokio_postgres::NoTls).await?;
//! percore::spawn_local(async move { let _ = connection.await; });
//! let row = client.query_one("SELECT 1 + 1", &[]).await?;
//! assert_eq!(row.get::<_, i32>(0), 2);
//! # Ok(()) }
//! ```
