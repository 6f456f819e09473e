//! One access-log line from a finished request: nginx's `combined` format
//! with the request time appended, or one JSON object. Escaping follows
//! nginx's `escape=default`: `"`, `\` and bytes outside printable ASCII as
//! `\xXX`, so a line cannot be split or forged by what a client sends.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The line's format (`log.access_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessFormat {
    /// `127.0.0.1 - - [28/Nov/2026:07:30:00 +0000] "GET / HTTP/1.1" 200 612
    /// "-" "curl/8.5.0" 0.001`: nginx's `combined`, then `$request_time`.
    #[default]
    Combined,
    /// `{"time":"2026-11-28T07:30:00Z","client":"127.0.0.1",...}`.
    Json,
}

/// What a line says of one request.
pub(crate) struct Entry<'a> {
    pub(crate) client: SocketAddr,
    pub(crate) at: SystemTime,
    /// The request line as received (`-` when none could be read).
    pub(crate) request: &'a [u8],
    pub(crate) status: u16,
    /// Body bytes actually sent.
    pub(crate) body_bytes: u64,
    pub(crate) referer: Option<&'a [u8]>,
    pub(crate) user_agent: Option<&'a [u8]>,
    pub(crate) took: Duration,
}

/// Appends `entry` as one line (with its newline) to `out`.
pub(crate) fn write(format: AccessFormat, entry: &Entry<'_>, out: &mut Vec<u8>) {
    let mut line = String::with_capacity(160);
    let secs = entry
        .at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, mo, d, h, mi, s) = civil(secs);
    match format {
        AccessFormat::Combined => {
            let _ = write!(
                line,
                "{} - - [{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000] \"",
                entry.client.ip(),
                MONTHS[mo as usize - 1],
            );
            escape(entry.request, &mut line);
            let _ = write!(line, "\" {} {} \"", entry.status, entry.body_bytes);
            escape(entry.referer.unwrap_or(b"-"), &mut line);
            line.push_str("\" \"");
            escape(entry.user_agent.unwrap_or(b"-"), &mut line);
            let _ = writeln!(line, "\" {}", seconds(entry.took));
        }
        AccessFormat::Json => {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let value = serde_json::json!({
                "time": format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
                "client": entry.client.ip().to_string(),
                "request": text(entry.request),
                "status": entry.status,
                "body_bytes": entry.body_bytes,
                "referer": entry.referer.map(text),
                "user_agent": entry.user_agent.map(text),
                "request_time": entry.took.as_secs_f64(),
            });
            line = value.to_string();
            line.push('\n');
        }
    }
    out.extend_from_slice(line.as_bytes());
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds with milliseconds, as nginx's `$request_time`.
fn seconds(took: Duration) -> String {
    format!("{}.{:03}", took.as_secs(), took.subsec_millis())
}

/// nginx's default escaping of a variable in a log line.
fn escape(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b as char);
        }
    }
}

/// (year, month, day, hour, minute, second) in UTC of a Unix time
/// (Howard Hinnant's `civil_from_days`).
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (y, m, d, h as u32, mi as u32, s as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(request: &'static [u8]) -> Entry<'static> {
        Entry {
            client: "203.0.113.7:51000".parse().unwrap(),
            // 2026-11-28T07:30:05Z
            at: UNIX_EPOCH + Duration::from_secs(1_795_851_005),
            request,
            status: 200,
            body_bytes: 612,
            referer: None,
            user_agent: Some(b"curl/8.5.0"),
            took: Duration::from_micros(1_500),
        }
    }

    #[test]
    fn combined_as_nginx_writes_it() {
        let mut out = Vec::new();
        write(
            AccessFormat::Combined,
            &entry(b"GET /a?b=c HTTP/1.1"),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "203.0.113.7 - - [28/Nov/2026:07:30:05 +0000] \"GET /a?b=c HTTP/1.1\" 200 612 \"-\" \"curl/8.5.0\" 0.001\n"
        );
    }

    #[test]
    fn quotes_backslashes_and_control_bytes_are_escaped() {
        let mut e = entry(b"GET /\"x\\y\x01\xff HTTP/1.1");
        e.user_agent = Some(b"evil\" \"\n200");
        let mut out = Vec::new();
        write(AccessFormat::Combined, &e, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.contains("\"GET /\\x22x\\x5Cy\\x01\\xFF HTTP/1.1\""),
            "{line}"
        );
        assert!(line.contains("\"evil\\x22 \\x22\\x0A200\""), "{line}");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn json_is_one_object_per_line() {
        let mut out = Vec::new();
        write(AccessFormat::Json, &entry(b"GET / HTTP/1.1"), &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["time"], "2026-11-28T07:30:05Z");
        assert_eq!(v["client"], "203.0.113.7");
        assert_eq!(v["status"], 200);
        assert_eq!(v["body_bytes"], 612);
        assert_eq!(v["referer"], serde_json::Value::Null);
        assert_eq!(v["user_agent"], "curl/8.5.0");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_795_851_005), (2026, 11, 28, 7, 30, 5));
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59));
    }
}
