//! Precompressed siblings chosen by `Accept-Encoding` (RFC 9110 12.5.3):
//! pipeline step 6.
//!
//! When precompression is on and the file is a regular file, the runtime
//! looks for `NAME.br`, `NAME.zst` and `NAME.gz` beside it (each opened
//! `RESOLVE_BENEATH` like the file itself), records which exist in
//! [`Available`], and asks [`choose_encoding`] which to send. With
//! `Some(e)` it sends that sibling (its own length, ETag and Last-Modified)
//! with `Content-Encoding: e.token()`, keeping the original's Content-Type.
//! Whenever any sibling exists the response varies by the header, so it
//! carries `Vary: Accept-Encoding` whatever was chosen, 304s included.
//!
//! The rules:
//!
//! - No `Accept-Encoding` header: identity (no preference means no coding,
//!   as every browser sends the header and most other clients mean none).
//! - Each element is `coding [; q=qvalue]`, tokens case-insensitive,
//!   `x-gzip` is `gzip` (8.4.1.3). A malformed element (bad token, bad
//!   qvalue, junk) is ignored; unknown parameters are skipped.
//! - A coding's weight is its own listing's q (the highest if listed twice),
//!   else `*`'s, else 0. q=0 forbids it.
//! - Identity is the fallback. It competes only when the client weighs it:
//!   its own listing's q, else `*`'s; a coding must then weigh at least as
//!   much (`gzip;q=0.5, identity` gets identity). Unlisted, it loses to any
//!   acceptable coding (`br;q=0.5, gzip;q=0.8` wants compression, not the
//!   implicit "identity is acceptable" of 12.5.3 read as q=1).
//!   `identity;q=0` with nothing acceptable still gets identity: serving
//!   something beats a 406, as nginx and Caddy do.
//! - Ties between codings go to brotli, then zstd, then gzip (smallest first).

use crate::http::token::{is_token, trim_ows};

/// A content coding with a precompressed sibling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `br`, sibling `NAME.br`.
    Brotli,
    /// `zstd`, sibling `NAME.zst`.
    Zstd,
    /// `gzip`, sibling `NAME.gz`.
    Gzip,
}

impl Encoding {
    /// All codings, in tie-breaking preference order.
    pub const ALL: [Encoding; 3] = [Encoding::Brotli, Encoding::Zstd, Encoding::Gzip];

    /// The sibling's file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Zstd => "zst",
            Encoding::Gzip => "gz",
        }
    }

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }
}

/// Which precompressed siblings exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Available {
    /// `NAME.br` exists.
    pub brotli: bool,
    /// `NAME.zst` exists.
    pub zstd: bool,
    /// `NAME.gz` exists.
    pub gzip: bool,
}

impl Available {
    /// Whether `e`'s sibling exists.
    pub fn has(self, e: Encoding) -> bool {
        match e {
            Encoding::Brotli => self.brotli,
            Encoding::Zstd => self.zstd,
            Encoding::Gzip => self.gzip,
        }
    }

    /// Mark `e`'s sibling as existing.
    pub fn set(&mut self, e: Encoding) {
        match e {
            Encoding::Brotli => self.brotli = true,
            Encoding::Zstd => self.zstd = true,
            Encoding::Gzip => self.gzip = true,
        }
    }

    /// True if at least one sibling exists (then send `Vary: Accept-Encoding`).
    pub fn any(self) -> bool {
        self.brotli || self.zstd || self.gzip
    }
}

/// The sibling to send, or `None` for the file itself. See the module docs.
pub fn choose_encoding(accept_encoding: Option<&[u8]>, available: Available) -> Option<Encoding> {
    let header = accept_encoding?;
    if !available.any() {
        return None;
    }
    // Weights in thousandths; None = not listed.
    let mut coding: [Option<u16>; 3] = [None; 3];
    let mut identity = None;
    let mut star = None;
    for element in header.split(|&b| b == b',') {
        let Some((name, q)) = parse_element(element) else {
            continue;
        };
        let slot = if name.eq_ignore_ascii_case(b"identity") {
            &mut identity
        } else if name == b"*" {
            &mut star
        } else if let Some(i) = Encoding::ALL.iter().position(|e| matches_token(*e, name)) {
            &mut coding[i]
        } else {
            continue;
        };
        *slot = Some(slot.map_or(q, |old: u16| old.max(q)));
    }
    let identity_q = identity.or(star).unwrap_or(0);
    let mut best: Option<(Encoding, u16)> = None;
    for (i, e) in Encoding::ALL.into_iter().enumerate() {
        let q = coding[i].or(star).unwrap_or(0);
        if available.has(e) && q > 0 && q >= identity_q && best.is_none_or(|(_, b)| q > b) {
            best = Some((e, q));
        }
    }
    best.map(|(e, _)| e)
}

fn matches_token(e: Encoding, name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(e.token().as_bytes())
        || (e == Encoding::Gzip && name.eq_ignore_ascii_case(b"x-gzip"))
}

/// `coding *( OWS ";" OWS param )` -> (coding, q in thousandths, default 1000).
/// `None` if malformed, including an invalid q.
fn parse_element(element: &[u8]) -> Option<(&[u8], u16)> {
    let mut params = element.split(|&b| b == b';');
    let name = trim_ows(params.next()?);
    if !(name == b"*" || is_token(name)) {
        return None;
    }
    let mut q = 1000;
    for p in params {
        let p = trim_ows(p);
        let eq = p.iter().position(|&b| b == b'=')?;
        let (key, value) = (&p[..eq], &p[eq + 1..]);
        if key.eq_ignore_ascii_case(b"q") {
            q = parse_qvalue(value)?;
        } else if !is_token(key) {
            return None;
        }
    }
    Some((name, q))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v {
        [i, b'.', frac @ ..] => (*i, frac),
        [i] => (*i, &[][..]),
        _ => return None,
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for (k, &d) in frac.iter().enumerate() {
        thousandths += u16::from(d - b'0') * [100, 10, 1][k];
    }
    match int {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Encoding::{Brotli, Gzip, Zstd};
    use super::*;

    const ALL: Available = Available {
        brotli: true,
        zstd: true,
        gzip: true,
    };
    const GZ: Available = Available {
        brotli: false,
        zstd: false,
        gzip: true,
    };
    const BR_GZ: Available = Available {
        brotli: true,
        zstd: false,
        gzip: true,
    };

    #[test]
    fn names() {
        let got: Vec<_> = Encoding::ALL
            .iter()
            .map(|e| (e.token(), e.extension()))
            .collect();
        assert_eq!(got, [("br", "br"), ("zstd", "zst"), ("gzip", "gz")]);
        let mut a = Available::default();
        assert!(!a.any());
        a.set(Zstd);
        assert!(a.any() && a.has(Zstd) && !a.has(Gzip));
    }

    #[test]
    fn table() {
        let cases: &[(Option<&str>, Available, Option<Encoding>)] = &[
            (None, ALL, None),
            (Some(""), ALL, None),
            (Some("gzip"), Available::default(), None),
            (Some("gzip, deflate, br, zstd"), ALL, Some(Brotli)),
            (Some("gzip, deflate, br, zstd"), GZ, Some(Gzip)),
            (Some("gzip, deflate, zstd"), ALL, Some(Zstd)),
            (Some("GZIP"), ALL, Some(Gzip)),
            (Some("x-gzip"), ALL, Some(Gzip)),
            (Some("br;q=0.5, gzip;q=0.8"), ALL, Some(Gzip)),
            (Some("br;q=0.8, gzip;q=0.8"), ALL, Some(Brotli)),
            (Some("br ; Q=0.9 , gzip;q=1.000"), ALL, Some(Gzip)),
            (Some("br;q=0, gzip"), BR_GZ, Some(Gzip)),
            (Some("br;q=0"), BR_GZ, None),
            (Some("br;q=0.000"), ALL, None),
            (Some("br;q=0.001"), ALL, Some(Brotli)),
            // `*` covers what is not listed.
            (Some("*"), ALL, Some(Brotli)),
            (Some("*;q=0.5, br;q=0"), ALL, Some(Zstd)),
            (Some("gzip, *;q=0"), ALL, Some(Gzip)),
            (Some("*;q=0"), ALL, None),
            // Identity's weight.
            (Some("gzip;q=0.5, identity"), GZ, None),
            (Some("gzip;q=0.5, identity;q=0.5"), GZ, Some(Gzip)),
            (Some("gzip;q=0.5, *;q=0.1"), GZ, Some(Gzip)),
            (Some("gzip;q=0.5"), GZ, Some(Gzip)),
            (Some("br, identity;q=0"), GZ, None),
            (Some("identity"), ALL, None),
            // Malformed elements ignored, others kept.
            (Some("br;q=2, gzip"), ALL, Some(Gzip)),
            (Some("br;q=1.5, gzip"), ALL, Some(Gzip)),
            (Some("br;q=0.1234, gzip"), ALL, Some(Gzip)),
            (Some("br;q=, gzip"), ALL, Some(Gzip)),
            (Some("br;q=.5, gzip"), ALL, Some(Gzip)),
            (Some("br;q, gzip"), ALL, Some(Gzip)),
            (Some("b r, gzip"), ALL, Some(Gzip)),
            (Some("br;level=5, gzip;q=0.5"), ALL, Some(Brotli)),
            (Some(" , ,gzip,, "), ALL, Some(Gzip)),
            (Some("gzip;q=0, gzip;q=0.5"), GZ, Some(Gzip)),
            (Some("gzip;q=0.5, *;q=0.8"), GZ, None),
            (Some("gzip;q=0.4, gzip;q=1"), GZ, Some(Gzip)),
            (Some("\u{e9}, gzip"), GZ, Some(Gzip)),
        ];
        for (header, available, want) in cases {
            let got = choose_encoding(header.map(str::as_bytes), *available);
            assert_eq!(got, *want, "{header:?} {available:?}");
        }
    }

    #[test]
    fn qvalues() {
        let cases: &[(&str, Option<u16>)] = &[
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.999", Some(999)),
            ("1", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("2", None),
            ("0.1234", None),
            ("", None),
            ("-1", None),
            ("0.a", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_qvalue(v.as_bytes()), *want, "{v:?}");
        }
    }
}
