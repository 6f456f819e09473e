//! Fuzz `percore::fs::path::resolve` (the static server's request path to
//! file path step). Checks:
//!
//! 1. it never panics;
//! 2. an accepted path stays beneath the root: no NUL, no empty, `.` or
//!    `..` segment, no leading or trailing `/`, at most `PATH_MAX` bytes,
//!    and (dotfiles off) no segment starting with `.`;
//! 3. the query is ignored: `path?anything` resolves like `path`;
//! 4. resolving is a fixed point: the resolved path, percent-encoded again
//!    and given its slashes back, resolves to itself;
//! 5. dotfiles on accepts whatever dotfiles off accepts, the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::{percent_encode, AsciiSet, CONTROLS};
use percore::fs::path::{resolve, PathError};

/// Enough to re-encode a decoded segment: `%` and `?` must not be read as
/// escapes or a query, controls are escaped for good measure.
const SEGMENT: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'/').add(b'#');

fuzz_target!(|raw: &[u8]| {
    let strict = resolve(raw, false);
    let loose = resolve(raw, true);
    if let Ok(p) = &strict {
        assert_eq!(loose.as_ref().ok(), Some(p), "dotfiles on disagrees");
    }
    for (result, dotfiles) in [(&strict, false), (&loose, true)] {
        let Ok(p) = result else { continue };
        let rel = &p.rel;
        assert!(!rel.contains(&0), "NUL in {rel:?}");
        assert!(rel.len() <= 4096, "longer than PATH_MAX");
        if !rel.is_empty() {
            assert!(rel[0] != b'/' && *rel.last().unwrap() != b'/', "{rel:?}");
            for seg in rel.split(|&b| b == b'/') {
                assert!(!seg.is_empty() && seg != b"." && seg != b"..", "{rel:?}");
                assert!(dotfiles || seg[0] != b'.', "hidden segment in {rel:?}");
            }
        }
        // 4. Fixed point.
        let mut again = b"/".to_vec();
        for (i, seg) in rel.split(|&b| b == b'/').enumerate() {
            if rel.is_empty() {
                break;
            }
            if i > 0 {
                again.push(b'/');
            }
            again.extend(percent_encode(seg, SEGMENT).to_string().as_bytes());
        }
        if p.trailing_slash && !rel.is_empty() {
            again.push(b'/');
        }
        let re = resolve(&again, dotfiles);
        assert_eq!(
            re.as_ref(),
            Ok(p),
            "re-encoded {again:?} resolves differently"
        );
    }
    // 3. The query does not count.
    if !raw.contains(&b'?') {
        let mut with_query = raw.to_vec();
        with_query.extend_from_slice(b"?../../etc/passwd%00");
        assert_eq!(resolve(&with_query, false), strict);
    }
    if let Err(PathError::Invalid(why)) = strict {
        assert!(!why.is_empty());
    }
});
