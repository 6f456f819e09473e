//! The access log: one line per request once its answer has been sent (or
//! the connection ended under it), with the body bytes actually sent, as
//! nginx logs them. On for `percore-server` (`log.access_log`), opt-in for
//! an app (`Server::access_log`); nginx's `combined` format plus the
//! request time, or JSON (`log.access_format`), to standard output or
//! `log.access_file` (reopened on SIGUSR1).
//!
//! On the request path: the exchange notes each request as it is
//! dispatched (its line, client, referer, agent) in the connection's
//! [`Track`], and its answer's size as it is encoded; the worker counts
//! the bytes each send completion reports, and a request is logged when
//! the bytes sent pass the end of its body. Requests the codec refuses are
//! logged too. Each core buffers its lines and writes them once per loop
//! turn.

mod format;
mod sink;

pub use format::AccessFormat;
pub(crate) use sink::Sink;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Status logged for a request whose connection ended before its answer
/// (nginx's "client closed request").
const CLIENT_CLOSED: u16 = 499;

/// A core's access log.
pub(crate) struct AccessLog {
    format: AccessFormat,
    sink: Arc<Sink>,
    /// Lines not yet written.
    lines: Vec<u8>,
}

impl AccessLog {
    pub(crate) fn new(format: AccessFormat, sink: Arc<Sink>) -> AccessLog {
        AccessLog {
            format,
            sink,
            lines: Vec::new(),
        }
    }

    fn log(&mut self, r: &Record, status: u16, body_bytes: u64) {
        let entry = format::Entry {
            client: r.client,
            at: SystemTime::now(),
            request: &r.request,
            status,
            body_bytes,
            referer: r.referer.as_deref(),
            user_agent: r.user_agent.as_deref(),
            took: r.started.elapsed(),
        };
        format::write(self.format, &entry, &mut self.lines);
    }

    /// Writes the lines of this loop turn.
    pub(crate) fn flush(&mut self) {
        if !self.lines.is_empty() {
            self.sink.write(&self.lines);
            self.lines.clear();
        }
    }
}

/// A request, from its dispatch until its line is written.
pub(crate) struct Record {
    pub(crate) client: SocketAddr,
    pub(crate) started: Instant,
    /// The request line as received, `-` when there was none.
    pub(crate) request: Box<[u8]>,
    pub(crate) referer: Option<Box<[u8]>>,
    pub(crate) user_agent: Option<Box<[u8]>>,
    answer: Option<Answer>,
}

impl Record {
    pub(crate) fn new(client: SocketAddr, request: &[u8]) -> Record {
        Record {
            client,
            started: Instant::now(),
            request: request.into(),
            referer: None,
            user_agent: None,
            answer: None,
        }
    }
}

/// Where a record's answer sits in the connection's output.
#[derive(Clone, Copy)]
struct Answer {
    status: u16,
    /// Output offset of the body's first byte.
    body_start: u64,
    /// Output offset just past the body; `None` while a streamed body of
    /// unknown length is still being produced.
    body_end: Option<u64>,
}

/// A connection's requests awaiting their lines, and its output counted in
/// bytes: `queued` handed to the output so far, `sent` confirmed by the
/// kernel. Answers leave in request order, so offsets tell them apart.
#[derive(Default)]
pub(crate) struct Track {
    queued: u64,
    sent: u64,
    records: VecDeque<Record>,
}

impl Track {
    /// A request was dispatched. The same request run again (its files
    /// opened) is not noted twice: no new request is dispatched on a
    /// connection while one is unanswered.
    pub(crate) fn request(&mut self, record: Record) {
        if self.records.back().is_none_or(|r| r.answer.is_some()) {
            self.records.push_back(record);
        }
    }

    /// Whether a request is waiting for its answer.
    pub(crate) fn awaiting(&self) -> bool {
        self.records.iter().any(|r| r.answer.is_none())
    }

    /// The oldest unanswered request's answer went to the output: a head of
    /// `head` bytes, then `body` bytes (`None`: streamed, length unknown).
    pub(crate) fn answered(&mut self, status: u16, head: u64, body: Option<u64>) {
        let body_start = self.queued + head;
        let body_end = body.map(|b| body_start + b);
        self.queued = body_end.unwrap_or(body_start);
        if let Some(r) = self.records.iter_mut().find(|r| r.answer.is_none()) {
            r.answer = Some(Answer {
                status,
                body_start,
                body_end,
            });
        }
    }

    /// Bytes that are part of no answer's body (a `100 Continue`), or the
    /// next bytes of a streamed body.
    pub(crate) fn queued(&mut self, bytes: u64) {
        self.queued += bytes;
    }

    /// A streamed body ended: its end is what has been queued.
    pub(crate) fn stream_ended(&mut self) {
        let end = self.queued;
        for r in self.records.iter_mut() {
            if let Some(a) = r.answer.as_mut() {
                a.body_end.get_or_insert(end);
            }
        }
    }

    /// The kernel took `bytes` more: log every request whose body is out.
    pub(crate) fn sent(&mut self, bytes: u64, log: &mut AccessLog) {
        self.sent += bytes;
        while let Some(r) = self.records.front() {
            let Some(a) = r.answer else { break };
            match a.body_end {
                Some(end) if end <= self.sent => {
                    log.log(r, a.status, end - a.body_start);
                    self.records.pop_front();
                }
                _ => break,
            }
        }
    }

    /// The connection ended: every request left is logged with what was
    /// sent of its body (499 for one never answered).
    pub(crate) fn close(&mut self, log: &mut AccessLog) {
        for r in self.records.drain(..) {
            match r.answer {
                Some(a) => {
                    let end = a.body_end.unwrap_or(u64::MAX);
                    let sent = self.sent.min(end).saturating_sub(a.body_start);
                    log.log(&r, a.status, sent);
                }
                None => log.log(&r, CLIENT_CLOSED, 0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_to_vec() -> AccessLog {
        AccessLog::new(AccessFormat::Json, Arc::new(Sink::new(None).unwrap()))
    }

    fn lines(log: &mut AccessLog) -> Vec<serde_json::Value> {
        let out = std::mem::take(&mut log.lines);
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    fn record(line: &str) -> Record {
        Record::new("127.0.0.1:9".parse().unwrap(), line.as_bytes())
    }

    #[test]
    fn logged_when_the_body_is_out_in_request_order() {
        let mut log = log_to_vec();
        let mut t = Track::default();
        t.request(record("GET /a HTTP/1.1"));
        t.answered(200, 100, Some(10));
        t.request(record("GET /b HTTP/1.1"));
        t.request(record("GET /b HTTP/1.1")); // the same, run again: ignored
        t.answered(404, 90, Some(5));
        t.sent(105, &mut log);
        assert!(lines(&mut log).is_empty(), "a body not all sent");
        t.sent(5, &mut log);
        let got = lines(&mut log);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0]["status"].as_u64(), got[0]["body_bytes"].as_u64()),
            (Some(200), Some(10))
        );
        t.sent(95, &mut log);
        let got = lines(&mut log);
        assert_eq!(got[0]["request"], "GET /b HTTP/1.1");
        assert_eq!(got[0]["body_bytes"], 5);
        assert!(!t.awaiting());
    }

    #[test]
    fn a_100_continue_and_a_stream_keep_the_offsets() {
        let mut log = log_to_vec();
        let mut t = Track::default();
        t.request(record("POST /up HTTP/1.1"));
        t.queued(25); // 100 Continue
        t.answered(200, 50, None);
        t.queued(7);
        t.queued(5);
        t.sent(80, &mut log);
        assert!(lines(&mut log).is_empty(), "the stream has not ended");
        t.stream_ended();
        t.sent(7, &mut log);
        let got = lines(&mut log);
        assert_eq!(got[0]["body_bytes"], 12);
    }

    #[test]
    fn a_connection_that_ends_logs_what_was_sent() {
        let mut log = log_to_vec();
        let mut t = Track::default();
        t.request(record("GET /big HTTP/1.1"));
        t.answered(200, 100, Some(1_000_000));
        t.sent(4_100, &mut log);
        t.request(record("GET /never HTTP/1.1"));
        t.close(&mut log);
        let got = lines(&mut log);
        assert_eq!(got[0]["body_bytes"], 4_000);
        assert_eq!(got[1]["status"], 499);
        assert_eq!(got[1]["body_bytes"], 0);
    }
}
