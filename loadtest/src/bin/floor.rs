//! The floor: a bare io_uring HTTP/1.1 responder that parses nothing, to
//! measure percore's hot path against (BENCHMARKS.md, "The floor").
//!
//! One thread, one ring with the flags percore's workers use (single
//! issuer, deferred task running), a multishot accept, a multishot recv
//! per connection into a provided-buffer ring, and per request a canned
//! answer the size of percore's. It finds requests by counting `\r\n\r\n`
//! (a GET has no body) and answers them all in one send, so a pipelined
//! batch costs one send as it does in percore. What it lacks is all of
//! HTTP: no parsing, no routing, no header checks, no Date updates, no
//! timeouts, no limits. It is not a server: never expose it.
//!
//! Modes, for the candidates of sending a file's bytes (`--file PATH`):
//! - `plaintext`: `Hello, World!` (the default);
//! - `file-send`: head and file bytes from memory in one send (the kernel
//!   copies them into the socket);
//! - `file-sendmsg`: the same bytes as two iovecs, head and body, in one
//!   `sendmsg` (what percore does: the head is written per response, the
//!   body is the cached file's memory);
//! - `file-zc`: the same with `SEND_ZC` (the kernel pins the pages; on
//!   loopback it copies them anyway when the receiver takes them);
//! - `file-splice`: the head by send, then the file spliced from the page
//!   cache through a pipe to the socket, three linked entries.
//! - `file-sendfile`: the head by send(2) with MSG_MORE and the file by
//!   sendfile(2), called directly from the loop as nginx does.
//!
//! usage: floor [--listen ADDR] [--mode MODE] [--file PATH]
//! (ADDR defaults to 127.0.0.1:8080)

use std::net::TcpListener;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

const ACCEPT: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;
const SPLICE_LAST: u64 = 4;
const OTHER: u64 = 5;
const WRITABLE: u64 = 6;

const GROUP: u16 = 0;
const BUFS: u16 = 512;
const BUF_SIZE: usize = 4096;
/// Answers one send may carry (a pipelined batch).
const BATCH: usize = 16;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Plaintext,
    FileSend,
    FileSendmsg,
    FileZc,
    FileSplice,
    FileSendfile,
}

#[derive(Default)]
struct Conn {
    /// Bytes of `\r\n\r\n` matched at the end of the last buffer.
    matched: u8,
    /// Requests seen and not yet answered.
    owed: usize,
    /// The answer bytes of the send in flight, and how many went.
    sending: usize,
    sent: usize,
    /// file-sendfile: the file offset reached by the answer in flight.
    file_offset: Option<libc::off_t>,
    /// A send (or splice chain) is in flight.
    busy: bool,
    /// The connection's pipe (file-splice).
    pipe: Option<(RawFd, RawFd)>,
    /// file-sendmsg: the header and the two iovecs the kernel reads, boxed
    /// so they stay put until the CQE.
    msg: Option<Box<Gather>>,
}

struct Gather {
    msg: libc::msghdr,
    iov: [libc::iovec; 2],
}

fn token(fd: RawFd, op: u64) -> u64 {
    ((fd as u64) << 8) | op
}

fn main() {
    let mut listen = "127.0.0.1:8080".to_string();
    let mut mode = Mode::Plaintext;
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&a));
        match a.as_str() {
            "--listen" => listen = value(),
            "--file" => file = Some(value()),
            "--mode" => {
                mode = match value().as_str() {
                    "plaintext" => Mode::Plaintext,
                    "file-send" => Mode::FileSend,
                    "file-sendmsg" => Mode::FileSendmsg,
                    "file-zc" => Mode::FileZc,
                    "file-splice" => Mode::FileSplice,
                    "file-sendfile" => Mode::FileSendfile,
                    m => usage(m),
                }
            }
            _ => usage(&a),
        }
    }
    let answer = answer(mode, file.as_deref());
    let file_fd = file.filter(|_| mode != Mode::Plaintext).map(|f| {
        std::fs::File::open(&f)
            .unwrap_or_else(|e| fail(&format!("{f}: {e}")))
            .into_raw_fd()
    });
    let listener = TcpListener::bind(&listen).unwrap_or_else(|e| fail(&format!("{listen}: {e}")));
    serve(listener, mode, answer, file_fd);
}

/// The bytes of `BATCH` answers (plaintext), or of one head and body.
struct Answer {
    bytes: Vec<u8>,
    one: usize,
    /// file-splice: the head's length and the file's.
    head: usize,
    body: usize,
}

fn answer(mode: Mode, file: Option<&str>) -> Answer {
    let date = "date: Sat, 28 Nov 2026 15:00:04 GMT\r\n";
    if mode == Mode::Plaintext {
        let one = format!(
            "HTTP/1.1 200 OK\r\nserver: percore\r\n{date}content-length: 13\r\ncontent-type: text/plain\r\n\r\nHello, World!"
        );
        let n = one.len();
        return Answer {
            bytes: one.repeat(BATCH).into_bytes(),
            one: n,
            head: 0,
            body: 0,
        };
    }
    let path = file.unwrap_or_else(|| usage("--file is needed with a file mode"));
    let body = std::fs::read(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let head = format!(
        "HTTP/1.1 200 OK\r\nserver: percore\r\n{date}content-length: {}\r\ncontent-type: application/octet-stream\r\netag: \"0123456789abcdef\"\r\nlast-modified: Sat, 28 Nov 2026 14:52:00 GMT\r\naccept-ranges: bytes\r\n\r\n",
        body.len()
    );
    let mut bytes = head.clone().into_bytes();
    let (head, body_len) = (head.len(), body.len());
    if mode != Mode::FileSplice && mode != Mode::FileSendfile {
        bytes.extend_from_slice(&body);
    }
    Answer {
        one: bytes.len(),
        bytes,
        head,
        body: body_len,
    }
}

fn serve(listener: TcpListener, mode: Mode, answer: Answer, file_fd: Option<RawFd>) {
    let mut ring: IoUring = IoUring::builder()
        .setup_cqsize(4096)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(1024)
        .unwrap_or_else(|e| fail(&format!("io_uring_setup: {e}")));
    let mut bufs = BufRing::new(&ring);
    let accept = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
        .build()
        .user_data(ACCEPT);
    let mut backlog: Vec<squeue::Entry> = vec![accept];
    let mut conns: Vec<Option<Conn>> = Vec::new();
    loop {
        {
            let mut sq = ring.submission();
            while let Some(e) = backlog.last() {
                // SAFETY: every entry names memory that outlives the ring:
                // `answer.bytes` and the buffer ring live until the process
                // exits, and the descriptors until their connection closes.
                if unsafe { sq.push(e) }.is_err() {
                    break;
                }
                backlog.pop();
            }
        }
        if let Err(e) = ring.submit_and_wait(1) {
            if e.raw_os_error() != Some(libc::EINTR) {
                fail(&format!("io_uring_enter: {e}"));
            }
        }
        let cqes: Vec<cqueue::Entry> = ring.completion().collect();
        for c in cqes {
            let (fd, op) = ((c.user_data() >> 8) as RawFd, c.user_data() & 0xff);
            let res = c.result();
            match op {
                ACCEPT => {
                    if res >= 0 {
                        if conns.len() <= res as usize {
                            conns.resize_with(res as usize + 1, || None);
                        }
                        conns[res as usize] = Some(Conn::default());
                        if mode == Mode::FileSendfile {
                            // SAFETY: plain fcntl on the new descriptor.
                            unsafe { libc::fcntl(res, libc::F_SETFL, libc::O_NONBLOCK) };
                        }
                        backlog.push(recv(res));
                    }
                    if !cqueue::more(c.flags()) {
                        backlog.push(
                            opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
                                .build()
                                .user_data(ACCEPT),
                        );
                    }
                }
                RECV => {
                    let Some(Some(conn)) = conns.get_mut(fd as usize) else {
                        continue;
                    };
                    if res <= 0 {
                        if res != -libc::ENOBUFS {
                            close(&mut conns, fd);
                            continue;
                        }
                    } else {
                        let bid = cqueue::buffer_select(c.flags()).unwrap_or(0);
                        let data = bufs.filled(bid, res as usize);
                        conn.owed += count_heads(data, &mut conn.matched);
                        bufs.recycle(bid);
                    }
                    if !cqueue::more(c.flags()) {
                        backlog.push(recv(fd));
                    }
                    start(conn, fd, mode, &answer, file_fd, &mut backlog);
                }
                WRITABLE => {
                    let Some(Some(conn)) = conns.get_mut(fd as usize) else {
                        continue;
                    };
                    sendfile_rest(conn, fd, &answer, file_fd, &mut backlog);
                    start(conn, fd, mode, &answer, file_fd, &mut backlog);
                }
                SEND | SPLICE_LAST => {
                    let Some(Some(conn)) = conns.get_mut(fd as usize) else {
                        continue;
                    };
                    if cqueue::notif(c.flags()) {
                        continue; // file-zc: the kernel let go of the pages
                    }
                    if res < 0 {
                        close(&mut conns, fd);
                        continue;
                    }
                    if op == SEND && mode != Mode::FileSplice {
                        conn.sent += res as usize;
                        if conn.sent < conn.sending {
                            let rest = &answer.bytes[conn.sent..conn.sending];
                            backlog.push(send(fd, rest, mode == Mode::FileZc));
                            continue;
                        }
                    }
                    if op == SEND && mode == Mode::FileSplice {
                        continue; // the chain's last entry reports
                    }
                    conn.busy = false;
                    start(conn, fd, mode, &answer, file_fd, &mut backlog);
                }
                _ => {}
            }
        }
        bufs.publish();
    }
}

/// Starts the answers owed, if none is in flight.
fn start(
    conn: &mut Conn,
    fd: RawFd,
    mode: Mode,
    answer: &Answer,
    file_fd: Option<RawFd>,
    backlog: &mut Vec<squeue::Entry>,
) {
    if conn.busy || conn.owed == 0 {
        return;
    }
    conn.busy = true;
    match mode {
        Mode::Plaintext => {
            let n = conn.owed.min(BATCH);
            conn.owed -= n;
            conn.sending = n * answer.one;
            conn.sent = 0;
            backlog.push(send(fd, &answer.bytes[..conn.sending], false));
        }
        Mode::FileSendmsg => {
            conn.owed -= 1;
            conn.sending = answer.one;
            conn.sent = 0;
            let g = conn.msg.get_or_insert_with(|| {
                Box::new(Gather {
                    // SAFETY: msghdr is plain data; all-zero is valid.
                    msg: unsafe { std::mem::zeroed() },
                    iov: [libc::iovec {
                        iov_base: std::ptr::null_mut(),
                        iov_len: 0,
                    }; 2],
                })
            });
            let (head, body) = answer.bytes.split_at(answer.head);
            g.iov = [
                libc::iovec {
                    iov_base: head.as_ptr() as *mut libc::c_void,
                    iov_len: head.len(),
                },
                libc::iovec {
                    iov_base: body.as_ptr() as *mut libc::c_void,
                    iov_len: body.len(),
                },
            ];
            g.msg.msg_iov = g.iov.as_mut_ptr();
            g.msg.msg_iovlen = 2;
            backlog.push(
                opcode::SendMsg::new(types::Fd(fd), &g.msg)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build()
                    .user_data(token(fd, SEND)),
            );
        }
        Mode::FileSend | Mode::FileZc => {
            conn.owed -= 1;
            conn.sending = answer.one;
            conn.sent = 0;
            backlog.push(send(fd, &answer.bytes, mode == Mode::FileZc));
        }
        Mode::FileSendfile => {
            // Outside the ring, as nginx does: the head by send(2) with
            // MSG_MORE, then sendfile(2) on the non-blocking socket; when
            // the socket is full, a poll for POLLOUT resumes it.
            conn.busy = false;
            while conn.owed > 0 && !conn.busy {
                conn.owed -= 1;
                let head = &answer.bytes[..answer.head];
                // SAFETY: `head` is live memory of the given length; the
                // call copies it before returning (the socket is empty:
                // the answer before this one went whole).
                unsafe {
                    libc::send(
                        fd,
                        head.as_ptr().cast(),
                        head.len(),
                        libc::MSG_MORE | libc::MSG_NOSIGNAL,
                    )
                };
                conn.file_offset = Some(0);
                sendfile_rest(conn, fd, answer, file_fd, backlog);
            }
        }
        Mode::FileSplice => {
            conn.owed -= 1;
            let (r, w) = *conn.pipe.get_or_insert_with(pipe);
            let file = file_fd.expect("file modes open the file");
            // The head, then the file in rounds of one pipe's capacity
            // (file -> pipe, pipe -> socket), all linked: a round larger
            // than the pipe would block its io-wq worker for ever.
            let mut chain = vec![send(fd, &answer.bytes[..answer.head], false)];
            let mut offset = 0;
            while offset < answer.body {
                let len = (answer.body - offset).min(PIPE_CHUNK) as u32;
                chain.push(
                    opcode::Splice::new(types::Fd(file), offset as i64, types::Fd(w), -1, len)
                        .build()
                        .user_data(token(fd, OTHER)),
                );
                chain.push(
                    opcode::Splice::new(types::Fd(r), -1, types::Fd(fd), -1, len)
                        .build()
                        .user_data(token(fd, OTHER)),
                );
                offset += len as usize;
            }
            let last = chain.len() - 1;
            for (i, entry) in chain.into_iter().enumerate().rev() {
                // Pushed in reverse: the backlog is a stack.
                backlog.push(if i == last {
                    entry.user_data(token(fd, SPLICE_LAST))
                } else {
                    entry.flags(squeue::Flags::IO_LINK)
                });
            }
        }
    }
}

/// file-sendfile: sends the rest of the file, or polls for room.
fn sendfile_rest(
    conn: &mut Conn,
    fd: RawFd,
    answer: &Answer,
    file_fd: Option<RawFd>,
    backlog: &mut Vec<squeue::Entry>,
) {
    let file = file_fd.expect("file modes open the file");
    let Some(mut offset) = conn.file_offset else {
        return;
    };
    while (offset as usize) < answer.body {
        let left = answer.body - offset as usize;
        // SAFETY: `offset` is a live off_t the call updates.
        let n = unsafe { libc::sendfile(fd, file, &mut offset, left) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
            conn.file_offset = Some(offset);
            conn.busy = true;
            backlog.push(
                opcode::PollAdd::new(types::Fd(fd), libc::POLLOUT as u32)
                    .build()
                    .user_data(token(fd, WRITABLE)),
            );
            return;
        }
        if n <= 0 {
            break;
        }
    }
    conn.file_offset = None;
    conn.busy = false;
}

/// Bytes per splice round: a pipe's default capacity.
const PIPE_CHUNK: usize = 64 * 1024;

fn send(fd: RawFd, bytes: &[u8], zc: bool) -> squeue::Entry {
    let user_data = token(fd, SEND);
    if zc {
        return opcode::SendZc::new(types::Fd(fd), bytes.as_ptr(), bytes.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data);
    }
    opcode::Send::new(types::Fd(fd), bytes.as_ptr(), bytes.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data)
}

fn recv(fd: RawFd) -> squeue::Entry {
    opcode::RecvMulti::new(types::Fd(fd), GROUP)
        .build()
        .user_data(token(fd, RECV))
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail("pipe2 failed");
    }
    (fds[0], fds[1])
}

/// Closes a connection (ops still in flight on it fail and are ignored:
/// the floor is measured on clients that stay).
fn close(conns: &mut [Option<Conn>], fd: RawFd) {
    if let Some(conn) = conns[fd as usize].take() {
        // SAFETY: the descriptors are this connection's, closed once.
        unsafe {
            libc::close(fd);
            if let Some((r, w)) = conn.pipe {
                libc::close(r);
                libc::close(w);
            }
        }
    }
}

/// Counts the ends of heads (`\r\n\r\n`) in `data`, carrying a partial
/// match across buffers in `matched`.
fn count_heads(data: &[u8], matched: &mut u8) -> usize {
    const END: &[u8; 4] = b"\r\n\r\n";
    let mut n = 0;
    let mut m = *matched as usize;
    let mut i = 0;
    while i < data.len() {
        if m == 0 {
            match memchr::memchr(b'\r', &data[i..]) {
                Some(at) => i += at,
                None => break,
            }
        }
        if data[i] == END[m] {
            m += 1;
            if m == 4 {
                n += 1;
                m = 0;
            }
        } else {
            m = usize::from(data[i] == b'\r');
        }
        i += 1;
    }
    *matched = m as u8;
    n
}

/// The provided-buffer ring the multishot recvs take buffers from.
struct BufRing {
    ring: *mut types::BufRingEntry,
    buffers: Vec<u8>,
    tail: u16,
}

impl BufRing {
    fn new(ring: &IoUring) -> BufRing {
        let bytes = BUFS as usize * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: an anonymous private mapping, owned by this BufRing (and
        // shared with the kernel once registered) for the process's life.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            fail("mmap of the buffer ring failed");
        }
        let mut this = BufRing {
            ring: addr.cast(),
            buffers: vec![0; BUFS as usize * BUF_SIZE],
            tail: 0,
        };
        // SAFETY: the ring memory lives as long as the process (never
        // unmapped), as the kernel requires of a registered ring.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(this.ring as u64, BUFS, GROUP, 0)
                .unwrap_or_else(|e| fail(&format!("register_buf_ring: {e}")));
        }
        for bid in 0..BUFS {
            this.recycle(bid);
        }
        this.publish();
        this
    }

    fn filled(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * BUF_SIZE;
        &self.buffers[start..start + len.min(BUF_SIZE)]
    }

    /// Queues buffer `bid` for the kernel again (seen at the next publish).
    fn recycle(&mut self, bid: u16) {
        let slot = (self.tail & (BUFS - 1)) as usize;
        // SAFETY: `slot` < BUFS entries of the mapping; the kernel reads
        // entries only up to the published tail, which is behind this one.
        let entry = unsafe { &mut *self.ring.add(slot) };
        entry.set_addr(self.buffers.as_ptr() as u64 + (bid as usize * BUF_SIZE) as u64);
        entry.set_len(BUF_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&mut self) {
        // SAFETY: the ring's tail is the u16 at byte 14 of its first entry
        // (struct io_uring_buf_ring), read by the kernel atomically.
        let tail = unsafe { &*(self.ring.cast::<u8>().add(14).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
    }
}

fn usage(what: &str) -> ! {
    fail(&format!(
        "{what}: usage: floor [--listen ADDR (127.0.0.1:8080)] [--mode plaintext|file-send|file-sendmsg|file-zc|file-splice|file-sendfile] [--file PATH]"
    ))
}

fn fail(message: &str) -> ! {
    eprintln!("floor: {message}");
    std::process::exit(2)
}

#[cfg(test)]
mod tests {
    use super::count_heads;

    #[test]
    fn heads_are_counted_across_any_split() {
        let two = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..=two.len() {
            let mut m = 0;
            let n = count_heads(&two[..cut], &mut m) + count_heads(&two[cut..], &mut m);
            assert_eq!(n, 2, "split at {cut}");
        }
        let mut m = 0;
        assert_eq!(count_heads(b"\r\r\n\r\n\r\n", &mut m), 1);
    }
}
