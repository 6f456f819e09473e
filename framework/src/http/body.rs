//! Request bodies in the chunked transfer coding (RFC 9112 7.1).
//!
//! Second stage of the codec on the request path (recv -> head -> **body** ->
//! router): when [`super::head::parse_head`] reports `BodyKind::Chunked`, the
//! connection feeds the bytes after the head to a [`ChunkedDecoder`] until it
//! says `Complete`. (`Content-Length` bodies need no decoder: the connection
//! counts bytes.)
//!
//! The decoder is a byte-level state machine, so it resumes exactly where it
//! stopped whatever the split of the input across reads; chunk data is copied
//! in bulk. It is strict where a lenient parser would let two parsers disagree
//! on where the body ends (request smuggling): CRLF is required after the size
//! line, after the data and after every trailer line; sizes are 1*HEXDIG with
//! overflow detection; extensions and trailers are syntax-checked and bounded.

use super::error::ParseError;
use super::token::{hex_value, is_field_byte, is_qdtext, is_tchar};

/// Hex digits accepted in one chunk-size, leading zeros included.
pub const MAX_CHUNK_SIZE_DIGITS: u8 = 32;
/// Bytes of chunk extensions accepted over a whole body (they are ignored, so
/// they only cost; hyper uses the same bound).
pub const MAX_CHUNK_EXT_BYTES: usize = 16 * 1024;
/// Bytes of the trailer section (field lines, ignored) accepted: 431 beyond.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

const fn bad(why: &'static str) -> ParseError {
    ParseError::BadRequest(why)
}

/// Where the decoder is in the chunked grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first hex digit of a chunk-size.
    SizeStart,
    /// Inside chunk-size: more HEXDIG, BWS, ';' or CR.
    Size,
    /// BWS after chunk-size: only more BWS or ';'.
    SizeBws,
    /// After ';': BWS, then the first byte of chunk-ext-name.
    ExtNameStart,
    /// Inside chunk-ext-name: tchar, BWS, '=', ';' or CR.
    ExtName,
    /// BWS after a name: BWS, '=' or ';'.
    ExtNameBws,
    /// After '=': BWS, then a token or a quoted-string.
    ExtValueStart,
    /// Inside a token value: tchar, BWS, ';' or CR.
    ExtValueToken,
    /// Inside a quoted-string value.
    ExtQuoted,
    /// After a backslash in a quoted-string.
    ExtQuotedEscape,
    /// Just after the closing quote: BWS, ';' or CR.
    ExtValueEnd,
    /// BWS after a value: only more BWS or ';'.
    ExtValueBws,
    /// CR of the chunk-size line seen: LF must follow.
    SizeLf,
    /// Copying chunk data: `remaining` bytes to go.
    Data,
    /// After the data: CR must follow.
    DataCr,
    /// After the data's CR: LF must follow.
    DataLf,
    /// At the start of a trailer line or of the final CRLF.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// CR of a trailer line seen: LF must follow.
    TrailerLf,
    /// CR of the final empty line seen: LF must follow.
    FinalLf,
    /// The body is complete.
    Done,
}

/// Whether the body is complete, and how much input was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeStatus {
    /// The last chunk, the trailers and the final CRLF were read. `input[consumed..]`
    /// belongs to the next request.
    Complete { consumed: usize },
    /// The body goes on. The decoder keeps its place, so `consumed` is always the
    /// whole input; call again with the next bytes.
    NeedMore { consumed: usize },
}

/// A resumable decoder of one chunked body. Reuse it with [`ChunkedDecoder::reset`].
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_body: u64,
    /// chunk-size being read.
    size: u64,
    size_digits: u8,
    /// chunk data still to copy.
    remaining: u64,
    /// data bytes decoded so far.
    total: u64,
    ext_bytes: usize,
    trailer_bytes: usize,
    /// Set on the first error, returned by every later call until `reset`.
    error: Option<ParseError>,
}

impl ChunkedDecoder {
    /// A decoder that refuses (413) a body longer than `max_body` decoded bytes.
    pub fn new(max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            max_body,
            size: 0,
            size_digits: 0,
            remaining: 0,
            total: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
            error: None,
        }
    }

    /// Forget the current body; keep `max_body`.
    pub fn reset(&mut self) {
        *self = ChunkedDecoder::new(self.max_body);
    }

    /// Change the body limit (for the next body; call before `reset` or on a new one).
    pub fn set_max_body(&mut self, max_body: u64) {
        self.max_body = max_body;
    }

    /// True once the whole body has been decoded.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Data bytes decoded so far.
    pub fn decoded_len(&self) -> u64 {
        self.total
    }

    /// Decode as much of `input` as possible, appending chunk data to `out`;
    /// consumed = input bytes used. Complete after the last-chunk, trailer section
    /// and final CRLF. Calling again with the unconsumed rest plus new bytes
    /// continues exactly where it stopped. After an error, every call returns it
    /// again until [`ChunkedDecoder::reset`].
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<DecodeStatus, ParseError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => return Ok(DecodeStatus::Complete { consumed: i }),
                State::Data => {
                    let avail = input.len() - i;
                    let n = usize::try_from(self.remaining).map_or(avail, |r| r.min(avail));
                    out.extend_from_slice(&input[i..i + n]);
                    i += n;
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    let b = input[i];
                    i += 1;
                    if let Err(e) = self.step(b) {
                        self.error = Some(e);
                        return Err(e);
                    }
                }
            }
        }
        Ok(if self.state == State::Done {
            DecodeStatus::Complete { consumed: i }
        } else {
            DecodeStatus::NeedMore { consumed: i }
        })
    }

    /// Advance over one framing byte (everything but chunk data).
    fn step(&mut self, b: u8) -> Result<(), ParseError> {
        use State::*;
        let ws = b == b' ' || b == b'\t';
        self.state = match self.state {
            SizeStart | Size => {
                if let Some(d) = hex_value(b) {
                    self.size_digits += 1;
                    if self.size_digits > MAX_CHUNK_SIZE_DIGITS {
                        return Err(bad("chunk-size has too many digits"));
                    }
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(u64::from(d)))
                        .ok_or(bad("chunk-size overflows"))?;
                    Size
                } else if self.state == SizeStart {
                    return Err(bad("chunk-size must start with a hex digit"));
                } else {
                    match b {
                        b'\r' => SizeLf,
                        b';' => ExtNameStart,
                        b' ' | b'\t' => SizeBws,
                        _ => return Err(bad("invalid byte after chunk-size")),
                    }
                }
            }
            SizeBws => match b {
                b' ' | b'\t' => SizeBws,
                b';' => ExtNameStart,
                _ => return Err(bad("whitespace after chunk-size not followed by ';'")),
            },
            SizeLf => {
                if b != b'\n' {
                    return Err(bad("chunk-size line not ended by CRLF"));
                }
                self.end_size_line()?
            }
            Data => unreachable!("data is copied in bulk by decode"),
            DataCr if b == b'\r' => DataLf,
            DataCr => return Err(bad("chunk data not followed by CRLF")),
            DataLf if b == b'\n' => SizeStart,
            DataLf => return Err(bad("chunk data not followed by CRLF")),
            Done => Done,
            ext @ (ExtNameStart | ExtName | ExtNameBws | ExtValueStart | ExtValueToken
            | ExtQuoted | ExtQuotedEscape | ExtValueEnd | ExtValueBws) => {
                self.ext_bytes += 1;
                if self.ext_bytes > MAX_CHUNK_EXT_BYTES {
                    return Err(bad("chunk extensions too long"));
                }
                match (ext, b) {
                    (ExtNameStart, _) if ws => ExtNameStart,
                    (ExtNameStart | ExtName, _) if is_tchar(b) => ExtName,
                    (ExtName | ExtNameBws, _) if ws => ExtNameBws,
                    (ExtName | ExtNameBws, b'=') => ExtValueStart,
                    (ExtName | ExtNameBws | ExtValueToken | ExtValueEnd | ExtValueBws, b';') => {
                        ExtNameStart
                    }
                    (ExtName | ExtValueToken | ExtValueEnd, b'\r') => SizeLf,
                    (ExtValueStart, _) if ws => ExtValueStart,
                    (ExtValueStart, b'"') => ExtQuoted,
                    (ExtValueStart | ExtValueToken, _) if is_tchar(b) => ExtValueToken,
                    (ExtValueToken | ExtValueEnd | ExtValueBws, _) if ws => ExtValueBws,
                    (ExtQuoted, b'"') => ExtValueEnd,
                    (ExtQuoted, b'\\') => ExtQuotedEscape,
                    (ExtQuoted, _) if is_qdtext(b) => ExtQuoted,
                    (ExtQuotedEscape, _) if b == b'\t' || b == b' ' || is_field_byte(b) => {
                        ExtQuoted
                    }
                    _ => return Err(bad("invalid chunk extension")),
                }
            }
            trailer @ (TrailerStart | TrailerName | TrailerValue | TrailerLf | FinalLf) => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err(ParseError::HeadersTooLarge);
                }
                match (trailer, b) {
                    (TrailerStart, b'\r') => FinalLf,
                    (TrailerStart | TrailerName, _) if is_tchar(b) => TrailerName,
                    (TrailerName, b':') => TrailerValue,
                    (TrailerValue, b'\r') => TrailerLf,
                    (TrailerValue, _) if is_field_byte(b) => TrailerValue,
                    (TrailerLf, b'\n') => TrailerStart,
                    (FinalLf, b'\n') => Done,
                    (TrailerStart, b' ' | b'\t') => return Err(bad("obs-fold in trailer")),
                    (TrailerName, _) => return Err(bad("invalid trailer field name")),
                    (TrailerValue, _) => return Err(bad("invalid byte in trailer value")),
                    _ => return Err(bad("trailer line not ended by CRLF")),
                }
            }
        };
        Ok(())
    }

    /// The LF of a chunk-size line: start the data, or the trailers after the last chunk.
    fn end_size_line(&mut self) -> Result<State, ParseError> {
        let size = std::mem::take(&mut self.size);
        self.size_digits = 0;
        if size == 0 {
            return Ok(State::TrailerStart);
        }
        match self.total.checked_add(size) {
            Some(t) if t <= self.max_body => self.total = t,
            _ => return Err(ParseError::PayloadTooLarge),
        }
        self.remaining = size;
        Ok(State::Data)
    }
}

#[cfg(test)]
mod tests;
