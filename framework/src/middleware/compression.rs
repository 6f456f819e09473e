//! `Compression`: gzip or brotli for dynamic responses, as the client's
//! `Accept-Encoding` prefers (its q-values honoured; `q=0` refuses a
//! coding; ties go to brotli). Compressed only: a 2xx (not 204, 206) whose body is in
//! memory, at least `min_size` bytes, of a compressible type (text, JSON,
//! JavaScript, XML, SVG ...), not already encoded and not a range. A strong
//! ETag becomes weak (the bytes differ from the identity's). Responses that
//! could have been compressed say `Vary: Accept-Encoding`.
//!
//! Static files are not compressed here: `StaticFiles` serves precompressed
//! `.br`/`.gz` siblings itself.

use std::io::Write;

use http::header::{CONTENT_ENCODING, CONTENT_RANGE, CONTENT_TYPE, ETAG, VARY};
use http::StatusCode;

use super::Middleware;
use crate::handler::{Body, Request, Response};

/// A content coding this layer can apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
}

/// Compresses dynamic responses (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    min_size: usize,
    gzip_level: u32,
    brotli_quality: u32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::new()
    }
}

impl Compression {
    /// At least 1 KiB; gzip level 6, brotli quality 4 (fast enough for
    /// dynamic bodies).
    pub fn new() -> Compression {
        Compression {
            min_size: 1024,
            gzip_level: 6,
            brotli_quality: 4,
        }
    }

    /// Bodies smaller than this are sent as they are.
    pub fn min_size(mut self, bytes: usize) -> Compression {
        self.min_size = bytes;
        self
    }

    fn compress(&self, coding: Coding, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match coding {
            Coding::Gzip => {
                let mut e = flate2::write::GzEncoder::new(
                    Vec::with_capacity(data.len() / 3),
                    flate2::Compression::new(self.gzip_level),
                );
                e.write_all(data)?;
                e.finish()
            }
            Coding::Brotli => {
                let mut out = Vec::with_capacity(data.len() / 3);
                {
                    let mut w =
                        brotli::CompressorWriter::new(&mut out, 16 * 1024, self.brotli_quality, 22);
                    w.write_all(data)?;
                }
                Ok(out)
            }
        }
    }
}

/// The coding `accept` (an `Accept-Encoding` value) prefers among those
/// this layer has, if any is acceptable (RFC 9110 12.5.3).
pub fn preferred(accept: &str) -> Option<Coding> {
    let mut star = None;
    let (mut br, mut gzip) = (None, None);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .map(|v| v.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(Some(1.0));
        // A qvalue is 0 to 1 (RFC 9110 12.4.2): an element with another is
        // ignored.
        let Some(q) = q.filter(|q| (0.0..=1.0).contains(q)) else {
            continue;
        };
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    match (br > 0.0, gzip > 0.0) {
        (false, false) => None,
        _ if br >= gzip => Some(Coding::Brotli),
        _ => Some(Coding::Gzip),
    }
}

/// Types worth compressing: text, and the structured text formats.
fn compressible(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
        )
}

impl Middleware for Compression {
    type Memo = Option<Coding>;

    fn before(&self, req: &Request) -> Result<Option<Coding>, Response> {
        // Every line of the field, as one list (RFC 9110 5.3).
        let accepted = req.header_list("accept-encoding");
        Ok(accepted
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(preferred))
    }

    fn after(&self, coding: Option<Coding>, mut response: Response) -> Response {
        let typed = response
            .header_value(CONTENT_TYPE.as_str())
            .and_then(|v| v.to_str().ok())
            .is_some_and(compressible);
        let encoded = response.header_value(CONTENT_ENCODING.as_str()).is_some()
            || response.header_value(CONTENT_RANGE.as_str()).is_some();
        let status = response.status_code();
        let whole = status.is_success()
            && status != StatusCode::NO_CONTENT
            && status != StatusCode::PARTIAL_CONTENT;
        if !typed || encoded || !whole {
            return response;
        }
        response = response.header(VARY, "accept-encoding");
        let Some(coding) = coding else {
            return response;
        };
        let Some(data) = response.body_ref().as_bytes() else {
            return response; // a stream: sent as it comes
        };
        if data.len() < self.min_size {
            return response;
        }
        let Ok(compressed) = self.compress(coding, data) else {
            return response;
        };
        if compressed.len() >= data.len() {
            return response;
        }
        response.body = Body::Vec(compressed);
        let name = match coding {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        };
        if let Some((_, etag)) = response.headers.iter_mut().find(|(n, _)| *n == ETAG) {
            if let Ok(v) = etag.to_str() {
                if !v.starts_with("W/") {
                    if let Ok(weak) = http::HeaderValue::from_str(&format!("W/{v}")) {
                        *etag = weak;
                    }
                }
            }
        }
        response.header(CONTENT_ENCODING, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_q_values() {
        assert_eq!(preferred("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(preferred("gzip"), Some(Coding::Gzip));
        assert_eq!(preferred("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(preferred("br;q=0, gzip;q=0"), None);
        assert_eq!(preferred("identity"), None);
        assert_eq!(preferred("*"), Some(Coding::Brotli));
        assert_eq!(preferred("*;q=0.1, br;q=0"), Some(Coding::Gzip));
        assert_eq!(preferred("GZIP;Q=1"), Some(Coding::Gzip));
        assert_eq!(preferred(""), None);
        assert_eq!(
            preferred("br;q=1.5, gzip"),
            Some(Coding::Gzip),
            "q over 1 is ignored"
        );
        assert_eq!(preferred("br;q=x"), None);
    }
}
