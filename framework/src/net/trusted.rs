//! Who the client is behind trusted proxies. A proxy in
//! `server.trusted_proxies` (addresses or CIDR blocks) may name the client
//! it relays: in a PROXY protocol header ([`super::proxy_protocol`]), in
//! `Forwarded` (RFC 7239, `for=`) or, without one, in `X-Forwarded-For`.
//! As nginx's `real_ip_recursive on`: the list is read from the right,
//! each trusted address passes the question to the one before it, and the
//! first untrusted one is the client. From any other peer these fields are
//! ignored: anybody can write them.
//!
//! On the request path: the exchange asks this when it builds a request,
//! only when trusted proxies are configured.

use std::net::{IpAddr, SocketAddr};

/// Addresses and networks whose forwarding fields are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `"10.0.0.0/8"`, `"127.0.0.1"`, `"fd00::/8"`, `"::1"`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for e in entries {
            let e = e.as_ref().trim();
            let (ip, bits) = match e.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (e, None),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("{e:?} is not an IP address or CIDR block"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => match b.parse::<u8>() {
                    Ok(b) if b <= max => b,
                    _ => return Err(format!("{e:?}: the prefix length must be 0 to {max}")),
                },
            };
            nets.push((canonical(ip), bits));
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether none are configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|&(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
            _ => false,
        })
    }

    /// The client of a request that came from `peer` with these fields
    /// (every line of each, joined as one list).
    pub fn client(
        &self,
        peer: SocketAddr,
        forwarded: Option<&[u8]>,
        x_forwarded_for: Option<&[u8]>,
    ) -> SocketAddr {
        if !self.contains(peer.ip()) {
            return peer;
        }
        let hops: Vec<SocketAddr> = match (forwarded, x_forwarded_for) {
            (Some(f), _) => list(f).filter_map(forwarded_for).collect(),
            (None, Some(x)) => list(x).filter_map(|e| address(e, 0)).collect(),
            (None, None) => return peer,
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            if !self.contains(client.ip()) {
                break;
            }
            client = hop;
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_canonical(),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = ((bits / 8) as usize, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

/// The comma-separated elements of a list field, trimmed.
fn list(value: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(value)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

/// `for=` of one `Forwarded` element (`for=192.0.2.60;proto=http`,
/// `for="[2001:db8::1]:4711"`); `unknown` and obfuscated names give none.
fn forwarded_for(element: &str) -> Option<SocketAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("for")
            .then(|| address(v.trim().trim_matches('"'), 0))?
    })
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]:80`.
fn address(s: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(SocketAddr::new(canonical(a.ip()), a.port()));
    }
    let ip = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    ip.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(canonical(ip), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8", "fd00::/8"]).unwrap()
    }

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks() {
        let t = trusted();
        for yes in ["127.0.0.1", "10.1.2.3", "fd12::1", "::ffff:10.0.0.1"] {
            assert!(t.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in ["127.0.0.2", "11.0.0.1", "fe80::1", "192.0.2.1"] {
            assert!(!t.contains(no.parse().unwrap()), "{no}");
        }
        let odd = TrustedProxies::parse(&["192.0.2.128/25"]).unwrap();
        assert!(odd.contains("192.0.2.200".parse().unwrap()));
        assert!(!odd.contains("192.0.2.127".parse().unwrap()));
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["ten"]).is_err());
        assert!(TrustedProxies::parse(&["0.0.0.0/0"])
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn x_forwarded_for_from_the_right() {
        let t = trusted();
        let peer = at("127.0.0.1:5000");
        let client = |xff: &str| t.client(peer, None, Some(xff.as_bytes()));
        assert_eq!(client("203.0.113.7"), at("203.0.113.7:0"));
        // A spoofed entry on the left is not believed: the first untrusted
        // address from the right is the client.
        assert_eq!(
            client("1.2.3.4, 203.0.113.7, 10.0.0.2"),
            at("203.0.113.7:0")
        );
        assert_eq!(client("10.0.0.3, 10.0.0.2"), at("10.0.0.3:0"));
        assert_eq!(client("garbage"), peer);
        // An untrusted peer's fields are ignored.
        let stranger = at("192.0.2.9:7");
        assert_eq!(t.client(stranger, None, Some(b"203.0.113.7")), stranger);
    }

    #[test]
    fn forwarded_wins_and_takes_ports_and_v6() {
        let t = trusted();
        let peer = at("10.0.0.1:5000");
        let f = br#"for=198.51.100.17;proto=https, for="[2001:db8::7]:4711""#;
        assert_eq!(
            t.client(peer, Some(f), Some(b"1.1.1.1")),
            at("[2001:db8::7]:4711")
        );
        assert_eq!(t.client(peer, Some(b"for=unknown"), None), peer);
        assert_eq!(
            t.client(peer, Some(b"For=\"192.0.2.43:47011\""), None),
            at("192.0.2.43:47011")
        );
    }
}
