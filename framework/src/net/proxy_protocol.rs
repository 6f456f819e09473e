//! The PROXY protocol (HAProxy's, v1 text and v2 binary): the header a load
//! balancer sends first on each connection, naming the client it relays.
//! With `server.proxy_protocol` on, every connection must start with one
//! (as nginx's `listen ... proxy_protocol`); the address it names becomes
//! the client only when the connection comes from a trusted proxy
//! (`server.trusted_proxies`), else it is read and ignored. A connection
//! without a valid header is closed.
//!
//! On the request path: the first bytes of a connection, before the codec.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line (RFC-like spec: 107 bytes with CRLF).
const V1_MAX: usize = 107;

/// What the start of a connection holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Header {
    /// Not all of it yet.
    Partial,
    /// A header of `len` bytes; `source`: the client it names (`None` for
    /// v2 LOCAL, a health check, or v1 UNKNOWN: keep the TCP peer).
    Complete {
        len: usize,
        source: Option<SocketAddr>,
    },
    /// Not a PROXY header (or a broken one).
    Invalid(&'static str),
}

/// Parses the PROXY header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Header {
    let sig = &V2_SIGNATURE[..buf.len().min(12)];
    if buf.starts_with(sig) && !buf.is_empty() && buf[0] == b'\r' {
        return parse_v2(buf);
    }
    let prefix = &b"PROXY "[..buf.len().min(6)];
    if !buf.starts_with(prefix) {
        return Header::Invalid("no PROXY header");
    }
    parse_v1(buf)
}

fn parse_v1(buf: &[u8]) -> Header {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Header::Invalid("PROXY v1 line too long")
        } else {
            Header::Partial
        };
    };
    if end + 2 > V1_MAX {
        return Header::Invalid("PROXY v1 line too long");
    }
    let Ok(line) = std::str::from_utf8(&buf[6..end]) else {
        return Header::Invalid("PROXY v1 line not ASCII");
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let len = end + 2;
    match fields.as_slice() {
        ["UNKNOWN", ..] => Header::Complete { len, source: None },
        [family @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let Ok(ip) = src.parse::<IpAddr>() else {
                return Header::Invalid("PROXY v1 source address");
            };
            if ip.is_ipv4() != (*family == "TCP4") {
                return Header::Invalid("PROXY v1 address family");
            }
            match port(sport) {
                Some(p) => Header::Complete {
                    len,
                    source: Some(SocketAddr::new(ip, p)),
                },
                None => Header::Invalid("PROXY v1 source port"),
            }
        }
        _ => Header::Invalid("PROXY v1 fields"),
    }
}

/// A port as the spec writes it: 1 to 5 digits, no leading zero, <= 65535.
fn port(s: &str) -> Option<u16> {
    let ok = !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

fn parse_v2(buf: &[u8]) -> Header {
    if buf.len() < 16 {
        return Header::Partial;
    }
    let (ver_cmd, family) = (buf[12], buf[13]);
    if ver_cmd >> 4 != 2 {
        return Header::Invalid("PROXY v2 version");
    }
    let len = 16 + u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if buf.len() < len {
        return Header::Partial;
    }
    let addr = &buf[16..len];
    match ver_cmd & 0x0f {
        0 => Header::Complete { len, source: None }, // LOCAL
        1 => {
            let source = match family {
                // TCP over IPv4: src, dst (4 each), sport, dport.
                0x11 if addr.len() >= 12 => {
                    let ip = Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]);
                    Some(SocketAddr::new(
                        ip.into(),
                        u16::from_be_bytes([addr[8], addr[9]]),
                    ))
                }
                // TCP over IPv6: 16 each, then the ports.
                0x21 if addr.len() >= 36 => {
                    let mut ip = [0u8; 16];
                    ip.copy_from_slice(&addr[..16]);
                    let port = u16::from_be_bytes([addr[32], addr[33]]);
                    Some(SocketAddr::new(Ipv6Addr::from(ip).into(), port))
                }
                0x11 | 0x21 => return Header::Invalid("PROXY v2 address block too short"),
                // UNSPEC, UDP, unix sockets: no TCP client to name.
                _ => None,
            };
            Header::Complete { len, source }
        }
        _ => Header::Invalid("PROXY v2 command"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn v1() {
        let line = b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(line),
            Header::Complete {
                len: 44,
                source: src("203.0.113.7:51000")
            }
        );
        assert_eq!(
            parse(b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n"),
            Header::Complete {
                len: 46,
                source: src("[2001:db8::7]:51000")
            }
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Header::Complete {
                len: 15,
                source: None
            }
        );
        // Every prefix of a valid line is partial.
        for n in 0..44 {
            assert_eq!(parse(&line[..n]), Header::Partial, "{n}");
        }
    }

    #[test]
    fn v1_refusals() {
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 203.0.113.7 192.0.2.1 51000\r\n",
            b"PROXY TCP4 2001:db8::7 192.0.2.1 51000 443\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 65536 443\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 0123 443\r\n",
            b"PROXY TCP4  203.0.113.7 192.0.2.1 1 443\r\n",
            b"PROXY TCP5 203.0.113.7 192.0.2.1 1 443\r\n",
        ] {
            assert!(
                matches!(parse(bad), Header::Invalid(_)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = [b"PROXY ".as_slice(), &[b'x'; 120]].concat();
        assert!(matches!(parse(&long), Header::Invalid(_)));
    }

    fn v2(cmd: u8, family: u8, addr: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | cmd);
        h.push(family);
        h.extend_from_slice(&(addr.len() as u16).to_be_bytes());
        h.extend_from_slice(addr);
        h
    }

    #[test]
    fn v2_ipv4_ipv6_local_and_tlvs() {
        let mut a4 = vec![203, 0, 113, 7, 192, 0, 2, 1];
        a4.extend_from_slice(&51000u16.to_be_bytes());
        a4.extend_from_slice(&443u16.to_be_bytes());
        a4.extend_from_slice(&[0x04, 0, 1, 0]); // a TLV, skipped
        let h = v2(1, 0x11, &a4);
        assert_eq!(
            parse(&h),
            Header::Complete {
                len: h.len(),
                source: src("203.0.113.7:51000")
            }
        );
        for n in 0..h.len() {
            assert_eq!(parse(&h[..n]), Header::Partial, "{n}");
        }
        let mut a6 = vec![0u8; 36];
        a6[15] = 7;
        a6[32..34].copy_from_slice(&8080u16.to_be_bytes());
        assert_eq!(
            parse(&v2(1, 0x21, &a6)),
            Header::Complete {
                len: 52,
                source: src("[::7]:8080")
            }
        );
        assert_eq!(
            parse(&v2(0, 0, &[])),
            Header::Complete {
                len: 16,
                source: None
            }
        );
        assert!(matches!(
            parse(&v2(1, 0x11, &[1, 2, 3])),
            Header::Invalid(_)
        ));
        let mut bad_version = v2(1, 0x11, &a4);
        bad_version[12] = 0x11;
        assert!(matches!(parse(&bad_version), Header::Invalid(_)));
    }
}
