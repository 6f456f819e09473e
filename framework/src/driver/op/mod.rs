//! One type per ring operation. Each owns the memory and the descriptors its
//! submission entry names, and is kept by whoever submitted it (a connection's
//! state enum, the worker, a file-open job) until the operation's final
//! completion has been reaped. Dropping it earlier would hand freed memory to
//! the kernel; the event loop never does (see [`super::Ring::push`]).
//!
//! An op builds its own entry with `entry(user_data)`; building is safe,
//! pushing it is the one `unsafe` step, in [`super::Ring::push`]. Memory the
//! kernel reads or writes lives on the heap (`Vec`, `Box`, `Bytes`), so the
//! op value itself may move (a slab growing) while the kernel works.
//!
//! [`PROBED`] lists every opcode these types submit; the startup probe checks
//! the kernel has each one, so a missing one is a clear error at start and
//! never an `EINVAL` on the first request that needs it.

mod accept;
mod cancel;
mod close;
mod eventfd;
mod file_io;
mod open;
mod poll;
mod read;
mod recv;
mod send;
mod send_vec;
mod shutdown;
mod socket_io;
mod splice;
mod statx;

pub(crate) use accept::AcceptDirect;
pub(crate) use cancel::Cancel;
pub(crate) use close::Close;
pub(crate) use eventfd::EventfdRead;
pub(crate) use file_io::{Fsync, ReadAt, WriteAt};
pub(crate) use open::OpenAt2;
pub(crate) use poll::ListenerPoll;
pub(crate) use read::Read;
pub(crate) use recv::RecvMulti;
pub(crate) use send::Send;
pub(crate) use send_vec::SendVec;
pub(crate) use shutdown::Shutdown;
pub(crate) use socket_io::{AcceptOne, Connect, RecvInto, SendFrom};
pub(crate) use splice::{Pipe, SplicePair};
pub(crate) use statx::Statx;

/// A CQE's result as I/O: the count (or descriptor), or the errno.
pub(crate) fn cqe_result(res: i32) -> std::io::Result<usize> {
    if res < 0 {
        Err(std::io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}

/// `buf` with the `n` bytes the kernel wrote into its spare capacity
/// counted in (a read or recv into `buf[len..capacity]`).
pub(crate) fn filled(mut buf: Vec<u8>, n: usize) -> Vec<u8> {
    let n = n.min(buf.capacity() - buf.len());
    // SAFETY: the op's CQE said the kernel initialised `n` bytes of the
    // spare capacity, which the op owned (and the kernel wrote) until then.
    unsafe { buf.set_len(buf.len() + n) };
    buf
}

/// What the startup probe needs to know of an operation type.
pub(crate) trait RingOp {
    /// The `IORING_OP_*` code the type submits.
    const CODE: u8;
    /// Its name, for the error when the kernel lacks it.
    const NAME: &'static str;
}

const fn probe<T: RingOp>() -> (u8, &'static str) {
    (T::CODE, T::NAME)
}

/// Every opcode the event loop submits, from the op types themselves.
pub(crate) const PROBED: [(u8, &str); 17] = [
    probe::<AcceptDirect>(),
    probe::<ListenerPoll>(),
    probe::<RecvMulti>(),
    probe::<Send<Vec<u8>>>(),
    probe::<SendVec>(),
    probe::<SplicePair>(),
    probe::<OpenAt2>(),
    probe::<Statx>(),
    probe::<Read>(),
    probe::<Close>(),
    probe::<Shutdown>(),
    probe::<Cancel>(),
    probe::<EventfdRead>(),
    probe::<WriteAt>(),
    probe::<Fsync>(),
    probe::<Connect>(),
    probe::<RecvInto>(),
];
