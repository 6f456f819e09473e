//! `user_data` tokens: which operation a CQE completes, for which connection
//! slot, and of which generation of that slot.
//!
//! Layout of the 64 bits: `op (8) | generation (24) | slot (32)`. A slot is
//! reused by the slab once a connection is gone; the generation lets the event
//! loop recognise (and drop) a late CQE that still names the old connection.

/// The operation a submission belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Multishot accept on the core's listener.
    Accept = 1,
    /// Multishot recv of a connection, into the provided buffer ring.
    Recv = 2,
    /// A send of a connection's output: its write buffer, or a large body
    /// part sent from where it lies.
    Send = 3,
    /// `shutdown(SHUT_WR)` before a lingering close.
    Shutdown = 4,
    /// Close of a connection's direct descriptor.
    Close = 5,
    /// Cancel of a connection's (or the listener's) outstanding ops.
    Cancel = 6,
    /// Read of the worker's eventfd: the shutdown notice.
    Wake = 7,
    /// splice: file -> the connection's pipe.
    SpliceIn = 9,
    /// splice: the connection's pipe -> socket (linked after `SpliceIn`).
    SpliceOut = 10,
    /// A step of opening a file through the ring (openat2, statx, read).
    FileOpen = 11,
    /// Read of the worker's second eventfd: wakes from other threads.
    Remote = 12,
    /// A task's op: the slot is its index in the core's op table.
    Task = 13,
    /// TLS: a read of a file part's next chunk, to be sealed.
    ReadChunk = 14,
    /// At the connection cap: the listener's backlog has clients waiting.
    ListenerReady = 15,
}

impl Op {
    fn from_u8(v: u8) -> Option<Op> {
        Some(match v {
            1 => Op::Accept,
            2 => Op::Recv,
            3 => Op::Send,
            4 => Op::Shutdown,
            5 => Op::Close,
            6 => Op::Cancel,
            7 => Op::Wake,
            9 => Op::SpliceIn,
            10 => Op::SpliceOut,
            11 => Op::FileOpen,
            12 => Op::Remote,
            13 => Op::Task,
            14 => Op::ReadChunk,
            15 => Op::ListenerReady,
            _ => return None,
        })
    }
}

/// Generations wrap at 24 bits; a CQE would have to outlive 16 million
/// connections on one slot to be mistaken for a live one.
pub const GENERATION_MASK: u32 = (1 << 24) - 1;

/// A decoded `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What the submission was.
    pub op: Op,
    /// Generation of the slot when the op was submitted.
    pub generation: u32,
    /// Connection slot (0 for worker-level ops).
    pub slot: u32,
}

impl Token {
    /// A token for a worker-level op that has no connection.
    pub const fn worker(op: Op) -> Token {
        Token {
            op,
            generation: 0,
            slot: 0,
        }
    }

    /// A token for an op of connection `slot` at `generation`.
    pub const fn conn(op: Op, slot: u32, generation: u32) -> Token {
        Token {
            op,
            generation,
            slot,
        }
    }

    /// Packs the token into a `user_data` value.
    pub const fn encode(self) -> u64 {
        ((self.op as u64) << 56)
            | (((self.generation & GENERATION_MASK) as u64) << 32)
            | self.slot as u64
    }

    /// Unpacks a `user_data` value; `None` for a value this crate never wrote.
    pub fn decode(user_data: u64) -> Option<Token> {
        let op = Op::from_u8((user_data >> 56) as u8)?;
        Some(Token {
            op,
            generation: ((user_data >> 32) as u32) & GENERATION_MASK,
            slot: user_data as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_op_and_extreme_values() {
        for op in [
            Op::Accept,
            Op::Recv,
            Op::Send,
            Op::Shutdown,
            Op::Close,
            Op::Cancel,
            Op::Wake,
            Op::SpliceIn,
            Op::SpliceOut,
            Op::FileOpen,
            Op::Remote,
            Op::Task,
            Op::ReadChunk,
            Op::ListenerReady,
        ] {
            for (slot, generation) in [(0, 0), (u32::MAX, GENERATION_MASK), (17, 99)] {
                let t = Token::conn(op, slot, generation);
                assert_eq!(Token::decode(t.encode()), Some(t));
            }
        }
    }

    #[test]
    fn generation_wraps_into_24_bits() {
        let t = Token::conn(Op::Recv, 3, GENERATION_MASK + 5);
        assert_eq!(Token::decode(t.encode()).unwrap().generation, 4);
    }

    #[test]
    fn foreign_user_data_is_rejected() {
        assert_eq!(Token::decode(0), None);
        assert_eq!(Token::decode(0xff << 56), None);
    }
}
