//! The `Date` header value (RFC 9110 6.6.1), cached per core.
//!
//! Off the request path proper: the per-core timer tick calls
//! [`DateCache::refresh`], and [`super::encode::write_head`] copies
//! [`DateCache::get`] into every response. Formatting happens at most once a
//! second (hyper's `common/date.rs` does the same), into a fixed array: no
//! allocation, no clock read per request.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
pub const DATE_LEN: usize = 29;

/// httpdate formats years up to 9999 only; later clocks are clamped to its end.
const MAX_SECS: u64 = 253_402_300_799;

/// The current IMF-fixdate, reformatted only when the second changes.
#[derive(Clone, Debug)]
pub struct DateCache {
    bytes: [u8; DATE_LEN],
    secs: u64,
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    /// A cache holding the current time.
    pub fn new() -> Self {
        let mut c = DateCache {
            bytes: [0; DATE_LEN],
            secs: u64::MAX,
        };
        c.refresh(SystemTime::now());
        c
    }

    /// Set the cache to `now`; formats only if the second differs from the
    /// cached one. Times before 1970 or after 9999 are clamped (never panics).
    pub fn refresh(&mut self, now: SystemTime) {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .min(MAX_SECS);
        if secs == self.secs {
            return;
        }
        let date = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs));
        let mut w = &mut self.bytes[..];
        // An IMF-fixdate is always exactly DATE_LEN bytes for years 1970..=9999.
        if write!(w, "{date}").is_ok() && w.is_empty() {
            self.secs = secs;
        }
    }

    /// The IMF-fixdate bytes (29 of them).
    pub fn get(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_httpdate() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let mut c = DateCache::new();
        c.refresh(t);
        assert_eq!(c.get(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        let now = SystemTime::now();
        c.refresh(now);
        assert_eq!(c.get().len(), DATE_LEN);
        assert_eq!(c.get(), httpdate::fmt_http_date(now).as_bytes());
    }

    #[test]
    fn changes_only_with_the_second() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let mut c = DateCache::new();
        c.refresh(t);
        let first = c.get().to_vec();
        c.refresh(t + Duration::from_millis(999));
        assert_eq!(c.get(), &first[..]);
        c.refresh(t + Duration::from_secs(1));
        assert_ne!(c.get(), &first[..]);
        assert_eq!(
            c.get(),
            httpdate::fmt_http_date(t + Duration::from_secs(1)).as_bytes()
        );
    }

    #[test]
    fn extreme_clocks_do_not_panic() {
        let mut c = DateCache::new();
        c.refresh(UNIX_EPOCH - Duration::from_secs(10));
        assert_eq!(c.get(), b"Thu, 01 Jan 1970 00:00:00 GMT");
        c.refresh(UNIX_EPOCH + Duration::from_secs(MAX_SECS + 1000));
        assert_eq!(c.get(), b"Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(DateCache::new().get().len(), 29);
    }
}
