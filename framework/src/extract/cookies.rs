//! Cookies sent by the client (RFC 6265 5.4): every `Cookie` line, each a
//! `name=value; name2=value2` list. Values are percent-decoded, as
//! `Response::cookie` percent-encodes them, so a value round-trips.
//! `req.cookie("name")` finds one (copying only to decode); the `Cookies`
//! extractor holds them all.

use super::FromRequestParts;
use crate::handler::Request;

/// Every `name=value` pair of every `Cookie` line, in order.
pub(crate) fn pairs<'a>(req: &'a Request) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    req.headers()
        .filter(|(name, _)| name.eq_ignore_ascii_case(b"cookie"))
        .filter_map(|(_, value)| std::str::from_utf8(value).ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            let value = value.trim();
            // A cookie-value may be in double quotes (RFC 6265 4.1.1).
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name.trim(), value))
        })
        .filter(|(name, _)| !name.is_empty())
}

/// A cookie value, percent-decoded (invalid UTF-8 replaced).
pub(crate) fn decode(value: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(value).decode_utf8_lossy()
}

/// The client's cookies: `cookies.get("session")`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cookies(Vec<(String, String)>);

impl Cookies {
    /// The first cookie named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every cookie, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl FromRequestParts for Cookies {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(req: &Request) -> Result<Self, Self::Rejection> {
        Ok(Cookies(
            pairs(req)
                .map(|(n, v)| (n.to_string(), decode(v).into_owned()))
                .collect(),
        ))
    }
}
