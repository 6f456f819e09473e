//! `Content-Type` from the file name: pipeline step 9.
//!
//! Called with the resolved path of the file as requested (for a
//! precompressed sibling, the original name: `app.js`, not `app.js.br`).
//! The extension (after the last `.` of the last name, not a leading one:
//! `.bashrc` has none) is looked up case-insensitively, first in a small table
//! kept here for the types the web relies on, then in `mime_guess`; unknown
//! or none gives `application/octet-stream`, which browsers will not sniff
//! into HTML.
//!
//! Text types (`text/*`, JavaScript, JSON and `+json`) say
//! `; charset=utf-8`: files are served as stored and the web is UTF-8.
//! JavaScript is `text/javascript` (RFC 9239), whatever `mime_guess` says.
//! The common types are static strings; the rare `text/*` types of
//! `mime_guess`'s table (`text/x-fortran`) are formatted on demand.

use std::borrow::Cow;

/// The fallback for unknown or missing extensions.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Types the web relies on, kept here so they never depend on `mime_guess`'s
/// table and never allocate. Extensions in lowercase.
const COMMON: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("cjs", "text/javascript; charset=utf-8"),
    ("json", "application/json; charset=utf-8"),
    ("map", "application/json; charset=utf-8"),
    ("webmanifest", "application/manifest+json; charset=utf-8"),
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("xml", "text/xml; charset=utf-8"),
    ("svg", "image/svg+xml"),
    ("wasm", "application/wasm"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/x-icon"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("pdf", "application/pdf"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
];

/// The `Content-Type` for the file at `path` (bytes; only the last name matters).
pub fn content_type(path: &[u8]) -> Cow<'static, str> {
    let name = match memchr::memrchr(b'/', path) {
        Some(i) => &path[i + 1..],
        None => path,
    };
    let ext = match memchr::memrchr(b'.', name) {
        Some(i) if i > 0 => &name[i + 1..],
        _ => return Cow::Borrowed(OCTET_STREAM),
    };
    let Ok(ext) = std::str::from_utf8(ext) else {
        return Cow::Borrowed(OCTET_STREAM);
    };
    if let Some((_, ct)) = COMMON.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)) {
        return Cow::Borrowed(ct);
    }
    match mime_guess::from_ext(ext).first_raw() {
        Some(essence) if wants_charset(essence) => Cow::Owned(format!("{essence}; charset=utf-8")),
        Some(essence) => Cow::Borrowed(essence),
        None => Cow::Borrowed(OCTET_STREAM),
    }
}

fn wants_charset(essence: &str) -> bool {
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || matches!(essence, "application/javascript" | "application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&[u8], &str)] = &[
            (b"index.html", "text/html; charset=utf-8"),
            (b"a/b/INDEX.HTM", "text/html; charset=utf-8"),
            (b"app.js", "text/javascript; charset=utf-8"),
            (b"mod.mjs", "text/javascript; charset=utf-8"),
            (b"style.css", "text/css; charset=utf-8"),
            (b"data.json", "application/json; charset=utf-8"),
            (b"readme.txt", "text/plain; charset=utf-8"),
            (b"logo.svg", "image/svg+xml"),
            (b"photo.JPG", "image/jpeg"),
            (b"x.wasm", "application/wasm"),
            (b"f.woff2", "font/woff2"),
            (b"archive.tar.gz", "application/gzip"),
            (b"song.mp3", "audio/mpeg"),
            // Rare text types from mime_guess, charset added.
            (b"prog.f90", "text/x-fortran; charset=utf-8"),
            (b"t.vtt", "text/vtt; charset=utf-8"),
            (b"ld.jsonld", "application/ld+json; charset=utf-8"),
            // No or unknown extension.
            (b"Makefile", OCTET_STREAM),
            (b".bashrc", OCTET_STREAM),
            (b"dir.d/file", OCTET_STREAM),
            (b"file.", OCTET_STREAM),
            (b"x.unknownext", OCTET_STREAM),
            (b"x.\xff", OCTET_STREAM),
            (b"", OCTET_STREAM),
            (b"a.html/", OCTET_STREAM),
        ];
        for (path, want) in cases {
            assert_eq!(
                content_type(path),
                *want,
                "{:?}",
                String::from_utf8_lossy(path)
            );
        }
    }

    #[test]
    fn common_types_do_not_allocate() {
        for (ext, _) in COMMON {
            let path = format!("f.{ext}");
            assert!(
                matches!(content_type(path.as_bytes()), Cow::Borrowed(_)),
                "{ext}"
            );
        }
    }
}
