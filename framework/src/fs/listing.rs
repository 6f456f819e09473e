//! The optional HTML directory listing: pipeline step 5, when a directory
//! has no `index.html` and listings are enabled (off by default).
//!
//! The runtime reads the directory's entries, drops hidden names unless
//! dotfiles are allowed, and passes them with the directory's resolved path
//! (the request ended in `/`, so relative links resolve inside it). Names are
//! bytes: the text shows them lossily as UTF-8, HTML-escaped; the links
//! percent-encode the exact bytes, so every entry stays reachable.

use std::fmt::Write as _;

use percent_encoding::percent_encode;

use super::path::SEGMENT;

/// A complete `text/html; charset=utf-8` page listing `entries` of the
/// directory at `dir` (a [`super::path::ResolvedPath::rel`], empty for the
/// root). Entries are `(name, is_dir)`; they are sorted in place, directories
/// first, then by name bytes. Directories get a trailing `/`; a `../` link
/// leads up unless `dir` is the root. `.`, `..` and names holding `/` or NUL
/// are skipped.
pub fn render_listing(dir: &[u8], entries: &mut [(Vec<u8>, bool)]) -> String {
    entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut title = String::from("Index of /");
    if !dir.is_empty() {
        escape_into(&mut title, &String::from_utf8_lossy(dir));
        title.push('/');
    }
    let mut out = String::with_capacity(256 + entries.len() * 96);
    out.push_str("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n");
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n<ul>\n"
    );
    if !dir.is_empty() {
        out.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in entries.iter() {
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.contains(&b'/')
            || name.contains(&0)
        {
            continue;
        }
        let slash = if *is_dir { "/" } else { "" };
        // `./` keeps a name like `a:b` from being read as a URL scheme.
        out.push_str("<li><a href=\"./");
        // Escaped as well: `&amp;` in a name must not become `&` in the link.
        let href: String = percent_encode(name, SEGMENT).collect();
        escape_into(&mut out, &href);
        out.push_str(slash);
        out.push_str("\">");
        escape_into(&mut out, &String::from_utf8_lossy(name));
        out.push_str(slash);
        out.push_str("</a></li>\n");
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}

/// HTML-escape `s` onto `out` (`& < > " '`), safe in text and in attributes.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[(&[u8], bool)]) -> Vec<(Vec<u8>, bool)> {
        list.iter().map(|(n, d)| (n.to_vec(), *d)).collect()
    }

    /// The `<li>` lines of a page.
    fn items(page: &str) -> Vec<&str> {
        page.lines().filter(|l| l.starts_with("<li>")).collect()
    }

    #[test]
    fn sorted_dirs_first_with_parent() {
        let mut e = entries(&[
            (b"b.txt", false),
            (b"z", true),
            (b"a.txt", false),
            (b"c", true),
        ]);
        let page = render_listing(b"docs/sub", &mut e);
        assert!(page.contains("<title>Index of /docs/sub/</title>"));
        assert_eq!(
            items(&page),
            [
                "<li><a href=\"../\">../</a></li>",
                "<li><a href=\"./c/\">c/</a></li>",
                "<li><a href=\"./z/\">z/</a></li>",
                "<li><a href=\"./a.txt\">a.txt</a></li>",
                "<li><a href=\"./b.txt\">b.txt</a></li>",
            ]
        );
    }

    #[test]
    fn root_has_no_parent() {
        let page = render_listing(b"", &mut entries(&[(b"x", false)]));
        assert!(page.contains("<title>Index of /</title>"));
        assert_eq!(items(&page), ["<li><a href=\"./x\">x</a></li>"]);
    }

    #[test]
    fn names_escaped_and_encoded() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"<img src=x onerror='alert(1)'>",
                "<li><a href=\"./%3Cimg%20src=x%20onerror=&#39;alert(1)&#39;%3E\">\
                 &lt;img src=x onerror=&#39;alert(1)&#39;&gt;</a></li>",
            ),
            (
                b"a&amp;b \"q\".html",
                "<li><a href=\"./a&amp;amp;b%20%22q%22.html\">a&amp;amp;b &quot;q&quot;.html</a></li>",
            ),
            (b"50%.txt", "<li><a href=\"./50%25.txt\">50%.txt</a></li>"),
            (b"q?#.txt", "<li><a href=\"./q%3F%23.txt\">q?#.txt</a></li>"),
            (b"javascript:x", "<li><a href=\"./javascript:x\">javascript:x</a></li>"),
            (b"caf\xc3\xa9", "<li><a href=\"./caf%C3%A9\">caf\u{e9}</a></li>"),
            (b"\xff.bin", "<li><a href=\"./%FF.bin\">\u{fffd}.bin</a></li>"),
            (b"back\\slash", "<li><a href=\"./back%5Cslash\">back\\slash</a></li>"),
        ];
        for (name, want) in cases {
            let page = render_listing(b"", &mut [(name.to_vec(), false)]);
            assert_eq!(items(&page), [*want]);
        }
        let page = render_listing(b"<d>&", &mut []);
        assert!(page.contains("<h1>Index of /&lt;d&gt;&amp;/</h1>"));
    }

    #[test]
    fn odd_entries_skipped() {
        let mut e = entries(&[
            (b".", true),
            (b"..", true),
            (b"", false),
            (b"a/b", false),
            (b"a\0", false),
            (b"ok", false),
        ]);
        assert_eq!(
            items(&render_listing(b"", &mut e)),
            ["<li><a href=\"./ok\">ok</a></li>"]
        );
    }
}
