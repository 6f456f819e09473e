//! Routing: static segments, `:param`s, a `*rest` wildcard, several methods
//! on one path (others get 405 with Allow), and 404 for everything else.
//!
//! `cargo run -p percore-examples --bin router`, then for instance
//! `curl localhost:8080/users/42/posts/7` or `curl -X DELETE localhost:8080/users`.

use percore::{get, App, Request, Response, Server, StatusCode};

fn main() {
    let result = Server::from_args().and_then(|server| server.serve(|_core| app()));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

fn app() -> App {
    App::new()
        .route(
            "/",
            get(|| "routes: /users, /users/:id, /users/:id/posts/:post, /files/*path\n"),
        )
        .route(
            "/users",
            get(|| "user list\n").post(|req: &Request| {
                (
                    StatusCode::CREATED,
                    format!("created user from {} bytes\n", req.body().len()),
                )
            }),
        )
        .route("/users/me", get(|| "the current user (static beats :id)\n"))
        .route(
            "/users/:id",
            get(|req: &Request| format!("user {}\n", req.param("id").unwrap_or(""))),
        )
        .route(
            "/users/:id/posts/:post",
            get(|req: &Request| {
                format!(
                    "post {} of user {}\n",
                    req.param("post").unwrap_or(""),
                    req.param("id").unwrap_or("")
                )
            }),
        )
        .route(
            "/files/*path",
            get(|req: &Request| {
                Response::text(format!("file {:?}\n", req.param("path").unwrap_or("")))
            }),
        )
}
