//! may_minihttp: a coroutine per connection on may's N worker threads (epoll
//! underneath), one shared listener. may_minihttp writes `Server: M` and a
//! cached `Date` itself; keep-alive and pipelining are its defaults (it parses
//! every request in the read buffer and answers them with one write).

use std::io;

use bytes::BufMut;
use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};
use peer_common::{announce, Args, Message, PLAINTEXT};

const NAME: &str = "peer-may";

struct Techempower;

impl HttpService for Techempower {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        match (req.method(), req.path()) {
            ("GET", "/plaintext") => {
                rsp.header("Content-Type: text/plain").body(PLAINTEXT);
            }
            ("GET", "/json") => {
                rsp.header("Content-Type: application/json");
                serde_json::to_writer(rsp.body_mut().writer(), &Message::HELLO)?;
            }
            _ => {
                rsp.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

struct Factory;

impl HttpServiceFactory for Factory {
    type Service = Techempower;

    fn new_service(&self, _id: usize) -> Techempower {
        Techempower
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse(NAME);
    // As in may_minihttp's TechEmpower entry, small coroutine stacks and a
    // large pool; 8 KiB rather than its 4 KiB, to leave serde_json room.
    may::config()
        .set_workers(args.workers)
        .set_pool_capacity(10_000)
        .set_stack_size(0x2000);
    let server = Factory.start(args.listen)?;
    announce(NAME, args.listen, args.workers);
    server
        .join()
        .map_err(|_| io::Error::other("server coroutine panicked"))?;
    Ok(())
}
