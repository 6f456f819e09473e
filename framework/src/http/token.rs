//! Byte classes of the HTTP grammar (RFC 9110 5.6, RFC 3986), shared by the
//! request-line parser, the field checks and the chunked decoder. Lookup tables
//! built at compile time, so each check is one load.

const fn tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' |
        b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z')
}

static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = tchar(i as u8);
        i += 1;
    }
    t
};

/// `tchar` (RFC 9110 5.6.2): the bytes of a token (method, field name, coding).
#[inline]
pub fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// True if `s` is a non-empty `token`.
#[inline]
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `field-vchar / SP / HTAB` (RFC 9110 5.5): a byte allowed inside a field value.
#[inline]
pub fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// `qdtext` (RFC 9110 5.6.4): a byte allowed unescaped inside a quoted-string.
#[inline]
pub fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

const fn reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

const fn target_byte(b: u8) -> bool {
    (b >= b'!' && b <= b'~' && b != b'#') || b >= 0x80
}

/// Builds a byte-class table at compile time.
macro_rules! byte_table {
    ($f:ident) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $f(i as u8);
            i += 1;
        }
        t
    }};
}

static REG_NAME: [bool; 256] = byte_table!(reg_name_byte);
static TARGET: [bool; 256] = byte_table!(target_byte);

/// `unreserved / sub-delims` (RFC 3986 2.2, 2.3): reg-name bytes other than `%`.
#[inline]
pub fn is_reg_name_byte(b: u8) -> bool {
    REG_NAME[b as usize]
}

/// A byte allowed in a request-target: visible ASCII except `#` (a fragment is not
/// part of a request-target), or a high byte (accepted raw, as nginx does).
#[inline]
pub fn is_target_byte(b: u8) -> bool {
    TARGET[b as usize]
}

/// Eight bytes at a time (SWAR), for the scans of the head: true if some
/// byte of `w` is below `n` (`n` at most 0x80; bytes from 0x80 up never
/// count). Exact as a yes or no for the whole word.
#[inline]
pub(crate) const fn word_has_below(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES * n as u64) & !w & HIGHS != 0
}

/// True if some byte of `w` equals `b`.
#[inline]
pub(crate) const fn word_has(w: u64, b: u8) -> bool {
    let x = w ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The value of one hex digit (`HEXDIG`, either case).
#[inline]
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Trim optional whitespace (SP / HTAB) from both ends.
#[inline]
pub fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Iterate the non-empty, OWS-trimmed elements of a comma-separated list
/// (RFC 9110 5.6.1: empty elements are ignored).
#[inline]
pub fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_token(b"GET"));
        assert!(is_token(b"x-Custom_1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_tchar(b'"'));
        assert!(is_field_byte(b'\t') && is_field_byte(0xff) && !is_field_byte(0x7f));
        assert!(!is_field_byte(0) && !is_field_byte(b'\r') && !is_field_byte(b'\n'));
        assert!(is_target_byte(b'/') && !is_target_byte(b'#') && !is_target_byte(b' '));
        assert!(!is_target_byte(0x7f) && !is_target_byte(0x01));
        assert!(is_qdtext(b' ') && !is_qdtext(b'"') && !is_qdtext(b'\\'));
        assert!(is_reg_name_byte(b'a') && !is_reg_name_byte(b'@') && !is_reg_name_byte(b':'));
    }

    #[test]
    fn lists() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"  "), b"");
        let v: Vec<&[u8]> = list_elements(b" a ,, b,\t,c ").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(list_elements(b" , ,").count(), 0);
    }
}
