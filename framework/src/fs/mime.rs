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
//! No charset is added by default (nginx's `charset off`): a file is served
//! as stored, and a page in ISO-8859-1 that declares it in a `<meta>` must
//! not be overridden by a header. With `files.charset` set, text types
//! (`text/*`, JavaScript, JSON and `+json`) say `; charset=VALUE`.
//! JavaScript is `text/javascript` (RFC 9239), whatever `mime_guess` says.
//! The types are static strings; a charset is formatted on demand (once per
//! file: the file cache keeps the header).

use std::borrow::Cow;

/// The fallback for unknown or missing extensions.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Types the web relies on, kept here so they never depend on `mime_guess`'s
/// table and never allocate. Extensions in lowercase.
const COMMON: &[(&str, &str)] = &[
    ("html", "text/html"),
    ("htm", "text/html"),
    ("css", "text/css"),
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("cjs", "text/javascript"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("webmanifest", "application/manifest+json"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
    ("csv", "text/csv"),
    ("xml", "text/xml"),
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

/// The `Content-Type` for the file at `path` (bytes; only the last name
/// matters), with `; charset=CHARSET` on text types when one is given.
pub fn content_type(path: &[u8], charset: Option<&str>) -> Cow<'static, str> {
    let essence = essence(path);
    match charset {
        Some(charset) if wants_charset(essence) => {
            Cow::Owned(format!("{essence}; charset={charset}"))
        }
        _ => Cow::Borrowed(essence),
    }
}

fn essence(path: &[u8]) -> &'static str {
    let name = match memchr::memrchr(b'/', path) {
        Some(i) => &path[i + 1..],
        None => path,
    };
    let ext = match memchr::memrchr(b'.', name) {
        Some(i) if i > 0 => &name[i + 1..],
        _ => return OCTET_STREAM,
    };
    let Ok(ext) = std::str::from_utf8(ext) else {
        return OCTET_STREAM;
    };
    if let Some((_, ct)) = COMMON.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)) {
        return ct;
    }
    mime_guess::from_ext(ext)
        .first_raw()
        .unwrap_or(OCTET_STREAM)
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
        // (path, type without a charset, with `files.charset = "utf-8"`).
        let cases: &[(&[u8], &str, &str)] = &[
            (b"index.html", "text/html", "text/html; charset=utf-8"),
            (b"a/b/INDEX.HTM", "text/html", "text/html; charset=utf-8"),
            (
                b"app.js",
                "text/javascript",
                "text/javascript; charset=utf-8",
            ),
            (
                b"mod.mjs",
                "text/javascript",
                "text/javascript; charset=utf-8",
            ),
            (b"style.css", "text/css", "text/css; charset=utf-8"),
            (
                b"data.json",
                "application/json",
                "application/json; charset=utf-8",
            ),
            (b"readme.txt", "text/plain", "text/plain; charset=utf-8"),
            (b"logo.svg", "image/svg+xml", "image/svg+xml"),
            (b"photo.JPG", "image/jpeg", "image/jpeg"),
            (b"x.wasm", "application/wasm", "application/wasm"),
            (b"f.woff2", "font/woff2", "font/woff2"),
            (b"archive.tar.gz", "application/gzip", "application/gzip"),
            (b"song.mp3", "audio/mpeg", "audio/mpeg"),
            // Rare text types from mime_guess.
            (
                b"prog.f90",
                "text/x-fortran",
                "text/x-fortran; charset=utf-8",
            ),
            (b"t.vtt", "text/vtt", "text/vtt; charset=utf-8"),
            (
                b"ld.jsonld",
                "application/ld+json",
                "application/ld+json; charset=utf-8",
            ),
            // No or unknown extension.
            (b"Makefile", OCTET_STREAM, OCTET_STREAM),
            (b".bashrc", OCTET_STREAM, OCTET_STREAM),
            (b"dir.d/file", OCTET_STREAM, OCTET_STREAM),
            (b"file.", OCTET_STREAM, OCTET_STREAM),
            (b"x.unknownext", OCTET_STREAM, OCTET_STREAM),
            (b"x.\xff", OCTET_STREAM, OCTET_STREAM),
            (b"", OCTET_STREAM, OCTET_STREAM),
            (b"a.html/", OCTET_STREAM, OCTET_STREAM),
        ];
        for (path, plain, utf8) in cases {
            let name = String::from_utf8_lossy(path);
            assert_eq!(content_type(path, None), *plain, "{name}");
            assert_eq!(content_type(path, Some("utf-8")), *utf8, "{name}");
        }
        assert_eq!(
            content_type(b"old.html", Some("iso-8859-1")),
            "text/html; charset=iso-8859-1"
        );
    }

    #[test]
    fn without_a_charset_types_do_not_allocate() {
        for (ext, _) in COMMON {
            let path = format!("f.{ext}");
            assert!(
                matches!(content_type(path.as_bytes(), None), Cow::Borrowed(_)),
                "{ext}"
            );
        }
    }
}
