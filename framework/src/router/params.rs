//! [`Params`]: the `:param` and `*rest` values of the matched route,
//! percent-decoded into one reused buffer.
//!
//! The caller (the connection, once per core) owns one `Params` and hands it
//! to every [`Router::lookup`](super::Router::lookup); the lookup clears it
//! and refills it. After the first few requests have grown its buffers, a
//! lookup allocates nothing: values are ranges into one `String`, names are
//! `Rc<str>` clones of the route's names (a reference count bump).

use std::fmt;
use std::ops::Range;
use std::rc::Rc;

use percent_encoding::percent_decode;

/// Path parameters of a matched route, in pattern order.
///
/// Values are percent-decoded (`%20` becomes a space, `%2F` a `/` inside the
/// value); a lone `%` or a bad escape such as `%zz` is kept literally. A route
/// whose values do not decode to valid UTF-8 does not match (see
/// [`Router::lookup`](super::Router::lookup)).
#[derive(Default)]
pub struct Params {
    /// Decoded values, back to back.
    buf: String,
    /// Range of each value in `buf`, in pattern order.
    values: Vec<Range<usize>>,
    /// Name of each value; empty until a route is chosen.
    names: Vec<Rc<str>>,
    /// Raw (encoded) captures as byte ranges of the request path, pushed and
    /// popped while the tree backtracks.
    raw: Vec<Range<usize>>,
    /// Decode scratch for values that contain `%`.
    scratch: Vec<u8>,
}

impl Params {
    /// An empty set; buffers grow on first use and are then reused.
    pub fn new() -> Self {
        Self::default()
    }

    /// The decoded value of the parameter `name`, if the route has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|&(n, _)| n == name).map(|(_, v)| v)
    }

    /// `(name, value)` pairs in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names
            .iter()
            .zip(&self.values)
            .map(|(n, r)| (&**n, &self.buf[r.clone()]))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the matched route has no parameters (or nothing matched).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Becomes a copy of `other`'s values, reusing this set's buffers.
    pub(crate) fn copy_from(&mut self, other: &Params) {
        self.clear();
        self.buf.push_str(&other.buf);
        self.values.extend_from_slice(&other.values);
        self.names.extend(other.names.iter().cloned());
    }

    /// Forgets all values, keeping the buffers' capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.values.clear();
        self.names.clear();
        self.raw.clear();
    }

    /// Records a raw capture while the tree descends.
    pub(super) fn push_raw(&mut self, range: Range<usize>) {
        self.raw.push(range);
    }

    /// Undoes [`push_raw`](Self::push_raw) when the tree backtracks.
    pub(super) fn pop_raw(&mut self) {
        self.raw.pop();
    }

    /// Decodes every raw capture of `path` into `buf`. Returns false, with
    /// nothing decoded, if a value is not valid UTF-8 after decoding.
    pub(super) fn decode(&mut self, path: &[u8]) -> bool {
        self.buf.clear();
        self.values.clear();
        for raw in &self.raw {
            let bytes = &path[raw.clone()];
            let decoded = if bytes.contains(&b'%') {
                self.scratch.clear();
                self.scratch.extend(percent_decode(bytes));
                &self.scratch[..]
            } else {
                bytes
            };
            let Ok(value) = std::str::from_utf8(decoded) else {
                self.buf.clear();
                self.values.clear();
                return false;
            };
            let start = self.buf.len();
            self.buf.push_str(value);
            self.values.push(start..self.buf.len());
        }
        true
    }

    /// Names the decoded values after the chosen route's captures.
    pub(super) fn set_names(&mut self, names: &[Rc<str>]) {
        debug_assert_eq!(names.len(), self.values.len());
        self.names.clear();
        self.names.extend(names.iter().cloned());
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `raw` as the single capture of a path and names it "v".
    fn decode_one(raw: &str) -> Option<String> {
        let mut p = Params::new();
        p.push_raw(0..raw.len());
        if !p.decode(raw.as_bytes()) {
            return None;
        }
        p.set_names(&[Rc::from("v")]);
        Some(p.get("v").unwrap().to_owned())
    }

    #[test]
    fn percent_decoding() {
        let table: &[(&str, Option<&str>)] = &[
            ("plain", Some("plain")),
            ("a%20b", Some("a b")),
            ("a%2Fb", Some("a/b")),
            ("a%2fb", Some("a/b")),
            ("caf%C3%A9", Some("café")),
            ("100%", Some("100%")),
            ("%zz", Some("%zz")),
            ("%4", Some("%4")),
            ("%%41", Some("%A")),
            ("+", Some("+")),
            ("%FF", None),
            ("%C3", None),
            ("%C3%28", None),
        ];
        for &(raw, want) in table {
            assert_eq!(decode_one(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn clear_and_reuse() {
        let path = b"/a%20b/c";
        let mut p = Params::new();
        p.push_raw(1..6);
        p.push_raw(7..8);
        assert!(p.decode(path));
        p.set_names(&[Rc::from("x"), Rc::from("y")]);
        assert_eq!(p.len(), 2);
        assert_eq!(p.iter().collect::<Vec<_>>(), [("x", "a b"), ("y", "c")]);
        assert_eq!(format!("{p:?}"), r#"{"x": "a b", "y": "c"}"#);
        p.clear();
        assert!(p.is_empty());
        assert_eq!(p.get("x"), None);
    }
}
