//! A connection: its direct descriptor, what it has in flight on the ring
//! (as enums, so a close cancels exactly that), its deadlines, and the HTTP
//! side of it ([`HttpState`]: bytes in, responses out) that the exchange
//! works on without a ring.
//!
//! Life of a connection: accepted (receive armed) -> requests parsed from
//! provided buffers, responses appended to `http.out` -> `http.out` moved
//! into a send op, one send per loop turn -> idle again, or (Connection:
//! close, an error, the peer's EOF) `CloseAfterFlush` -> everything owed
//! sent -> shut down for writing and lingering until the peer closes (not
//! when the peer already sent EOF) -> `Closing`: cancel what is in flight
//! -> close op when nothing else is -> slot freed on the close's CQE.
//!
//! An idle keep-alive connection owns no buffer: `inbuf`, `out` and the send
//! buffer go back to the core's [`BufPool`] as soon as they are empty.

mod http;
mod outgoing;
mod pool;
mod tls;

pub(crate) use http::{
    BodyFeed, BodyProgress, ChunkedProgress, FeedFraming, HeadScan, HttpState, Waiting,
};
pub(crate) use outgoing::Outgoing;
pub(crate) use pool::BufPool;
pub(crate) use tls::TlsConn;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::driver::op::{self, SplicePair};
use crate::runtime::timer::{Armed, Deadline, Millis};

/// A deadline that never comes.
pub(crate) const NEVER: Millis = Millis::MAX;

/// The connection's multishot recv.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Receive {
    /// Not in flight; armed again at the next flush.
    Off,
    /// In flight.
    Armed,
    /// Backpressure: the recv was cancelled; its final CQE is still due.
    Pausing,
    /// Backpressure: reading is stopped, nothing in flight.
    Paused,
    /// Cancelled for good (closing); its final CQE is still due.
    Stopping,
    /// Never again: the peer sent EOF, or the connection is closing.
    Ended,
}

impl Receive {
    pub(crate) fn in_flight(self) -> bool {
        matches!(self, Receive::Armed | Receive::Stopping | Receive::Pausing)
    }
}

/// The one output op a connection may have in flight.
pub(crate) enum Output {
    /// Nothing in flight.
    Idle,
    /// The write buffer (moved out of `http.out`).
    Send(op::Send<Vec<u8>>),
    /// The write buffer and body parts from their own memory, gathered.
    SendVec(Box<op::SendVec>),
    /// A file range, spliced through a pipe.
    Splice(Box<Splicing>),
    /// TLS: records sealed from `plain` bytes of plaintext.
    Sealed(Box<Sealed>),
    /// TLS: a chunk of a file part being read, to be sealed.
    ReadChunk(Box<op::ReadAt>),
}

/// A send of TLS records.
pub(crate) struct Sealed {
    pub(crate) op: op::Send<Vec<u8>>,
    /// The plaintext they carry (the access log counts it, not the records).
    pub(crate) plain: u64,
    /// The plaintext was the front body part's next bytes.
    pub(crate) of_part: bool,
}

impl Output {
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self, Output::Idle)
    }
}

/// A splice round in flight.
pub(crate) struct Splicing {
    /// Owns the file and the pipe the two SQEs name.
    pub(crate) pair: SplicePair,
    /// CQEs still due (2 for file -> pipe -> socket, 1 for a pipe drain).
    pub(crate) awaiting: u8,
    /// Whether this round started with file -> pipe.
    pub(crate) from_file: bool,
    /// Bytes in the pipe (added by the file -> pipe CQE, taken by the
    /// pipe -> socket one).
    pub(crate) in_pipe: u32,
    /// Bytes this round put on the socket.
    pub(crate) sent: u32,
    /// The file shrank, or a splice failed: the connection ends.
    pub(crate) failed: bool,
}

impl Splicing {
    /// A round that starts with file -> pipe (`from_file`), or that drains
    /// `in_pipe` bytes a short round left behind.
    pub(crate) fn new(pair: SplicePair, from_file: bool, in_pipe: u32) -> Splicing {
        Splicing {
            pair,
            awaiting: if from_file { 2 } else { 1 },
            from_file,
            in_pipe,
            sent: 0,
            failed: false,
        }
    }
}

/// Where the connection stands on ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving requests.
    Open,
    /// The last response is queued: once everything owed is sent, close.
    CloseAfterFlush,
    /// Write side shut down after the last response; reading and discarding
    /// until the peer's EOF or the linger timeout, so a peer still sending
    /// does not get a reset that destroys the answer it has not read yet.
    Lingering { shutdown_in_flight: bool },
    /// Cancels issued; the close goes out once nothing else is in flight.
    Closing {
        shutdown_in_flight: bool,
        close_in_flight: bool,
    },
}

/// The client's address, compact (18 bytes, not `SocketAddr`'s 32: every
/// connection holds one): IPv4 as an IPv4-mapped IPv6 address. A scope id
/// is not kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PeerAddr {
    ip: [u8; 16],
    port: u16,
}

impl PeerAddr {
    pub(crate) fn new(addr: SocketAddr) -> PeerAddr {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        PeerAddr {
            ip,
            port: addr.port(),
        }
    }

    pub(crate) fn get(self) -> SocketAddr {
        SocketAddr::new(Ipv6Addr::from(self.ip).to_canonical(), self.port)
    }
}

/// One accepted connection.
pub(crate) struct Conn {
    /// Index in the ring's direct descriptor table.
    pub(crate) fd: u32,
    /// Generation of the slot; part of every op's user_data.
    pub(crate) generation: u32,
    pub(crate) receive: Receive,
    pub(crate) output: Output,
    pub(crate) phase: Phase,
    /// The connection ends with input the client may still be sending (a
    /// refused request, a body left unread, bytes after the last
    /// response): its close lingers, so those bytes do not turn into a
    /// reset that destroys the answer (nginx's `lingering_close on`).
    pub(crate) linger: bool,
    /// Empty lines received (and dropped) since the last request: they
    /// count toward the limit on empty lines before a request line as if
    /// they had arrived with it (kept here, where a byte is free, rather
    /// than in `HttpState`, which it would grow by eight).
    pub(crate) blank_lines: u8,
    /// When reading stalls too long: keep-alive, header, body or linger
    /// timeout, whichever applies ([`HttpState::waiting`]).
    pub(crate) read_deadline: Deadline,
    /// When the output op in flight has stalled too long.
    pub(crate) send_deadline: Deadline,
    /// The earliest timer entry armed for this connection.
    pub(crate) timer_armed: Armed,
    /// The client (the TCP peer).
    pub(crate) peer: PeerAddr,
    /// A connection on the TLS listener: its session.
    pub(crate) tls: Option<Box<TlsConn>>,
    pub(crate) http: HttpState,
}

impl Conn {
    /// A freshly accepted connection on direct descriptor `fd`.
    pub(crate) fn new(fd: u32, generation: u32, read_deadline: Millis) -> Conn {
        Conn {
            fd,
            generation,
            receive: Receive::Off,
            output: Output::Idle,
            phase: Phase::Open,
            linger: false,
            blank_lines: 0,
            read_deadline: Deadline::at(read_deadline),
            send_deadline: Deadline::default(),
            timer_armed: Armed::default(),
            peer: PeerAddr::default(),
            tls: None,
            http: HttpState::default(),
        }
    }

    /// No more requests are served: close once everything owed is sent.
    pub(crate) fn end_after_flush(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::CloseAfterFlush;
        }
    }

    /// [`Self::end_after_flush`], with input the client may still be
    /// sending: the close lingers (see `Conn::linger`).
    pub(crate) fn end_and_linger(&mut self) {
        self.end_after_flush();
        self.linger = true;
    }

    /// Whether the connection may read and serve requests.
    pub(crate) fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether received bytes are still wanted: the connection serves
    /// requests, or a request body streams to its handler (which may go on
    /// after the connection's last response was queued).
    pub(crate) fn takes_input(&self) -> bool {
        self.is_open() || self.http.is_feeding()
    }

    /// Whether any op of the connection is in flight (its slot and memory
    /// must stay until none is).
    pub(crate) fn ops_in_flight(&self) -> bool {
        let phase_op = match self.phase {
            Phase::Lingering { shutdown_in_flight } => shutdown_in_flight,
            Phase::Closing {
                shutdown_in_flight,
                close_in_flight,
            } => shutdown_in_flight || close_in_flight,
            _ => false,
        };
        phase_op
            || self.receive.in_flight()
            || !self.output.is_idle()
            || self.http.file_op_in_flight()
    }

    /// Nothing received and unanswered, nothing waiting to be sent.
    pub(crate) fn is_idle(&self) -> bool {
        self.output.is_idle() && self.http.is_idle()
    }

    /// When the connection's timer must fire next (given the time now): the
    /// send deadline while output is in flight, the read deadline while a
    /// request is being read (or between requests, once nothing is owed),
    /// the linger deadline; never while it only waits for its own turn
    /// (held requests, an answer in progress, a close about to be flushed).
    pub(crate) fn due(&self, now: Millis) -> Millis {
        let read = self.read_deadline.get(now);
        let send = self.send_deadline.get(now);
        match self.phase {
            Phase::Closing { .. } => return NEVER,
            Phase::Lingering { .. } => return read,
            Phase::Open | Phase::CloseAfterFlush => {}
        }
        let reading = matches!(
            self.http.waiting,
            Waiting::Head | Waiting::Body | Waiting::Proxy
        );
        match (self.output.is_idle(), reading) {
            (false, false) => send,
            (false, true) => send.min(read),
            (true, true) => read,
            (true, false) if self.phase == Phase::CloseAfterFlush => NEVER,
            (true, false) if self.http.pending.is_some() => NEVER,
            // A streaming body waits on its handler's stream.
            (true, false) if self.http.outgoing.is_some() => NEVER,
            (true, false) if self.http.waiting == Waiting::Held => NEVER,
            (true, false) => read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_connection_is_small() {
        // Idle connections are what a server holds most of: the slot is
        // most of their cost (136 bytes before the client's address, which
        // took it to 160; the access log's pointer to 168; the TLS
        // session's pointer to 176).
        assert!(
            std::mem::size_of::<Conn>() <= 176,
            "{}",
            std::mem::size_of::<Conn>()
        );
    }

    #[test]
    fn peer_addresses_survive_the_compact_form() {
        for a in [
            "192.0.2.7:443",
            "[2001:db8::1]:8080",
            "[::1]:1",
            "0.0.0.0:0",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(PeerAddr::new(addr).get(), addr);
        }
    }

    #[test]
    fn idle_means_nothing_pending() {
        let mut c = Conn::new(1, 1, 0);
        assert!(c.is_idle());
        c.http.out.push(b'x');
        assert!(!c.is_idle());
    }

    #[test]
    fn ops_in_flight_follow_the_enums() {
        let mut c = Conn::new(1, 1, 0);
        assert!(!c.ops_in_flight());
        c.receive = Receive::Pausing;
        assert!(c.ops_in_flight());
        c.receive = Receive::Ended;
        c.phase = Phase::Closing {
            shutdown_in_flight: false,
            close_in_flight: false,
        };
        assert!(!c.ops_in_flight());
        c.output = Output::Send(op::Send::new(vec![1]));
        assert!(c.ops_in_flight());
    }

    #[test]
    fn the_send_deadline_applies_while_sending_and_the_read_one_while_reading() {
        let mut c = Conn::new(1, 1, 500);
        assert_eq!(c.due(0), 500);
        c.send_deadline = Deadline::at(900);
        c.output = Output::Send(op::Send::new(vec![1]));
        assert_eq!(c.due(0), 900, "keep-alive does not run while sending");
        c.http.waiting = Waiting::Body;
        assert_eq!(
            c.due(0),
            500,
            "a body still arriving keeps its own deadline"
        );
        c.output = Output::Idle;
        c.http.waiting = Waiting::Held;
        assert_eq!(c.due(0), NEVER, "held requests wait for the output");
    }
}
