//! `percore-server`: the standalone static file server. Its file-serving
//! pipeline is the subject of its own issue; until then it starts nothing.

fn main() {
    eprintln!("percore-server: static file serving is not implemented yet; run the hello example: cargo run --release -p percore-examples --bin hello");
    std::process::exit(2);
}
