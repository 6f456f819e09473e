//! Who the client is behind trusted proxies. A proxy in
//! `server.trusted_proxies` (addresses or CIDR blocks) may name the client
//! it relays: in a PROXY protocol header ([`super::proxy_protocol`]), or in
//! the one field `server.client_header` names: `X-Forwarded-For` (the
//! default: what nginx, HAProxy and cloud load balancers append to) or
//! `Forwarded` (RFC 7239, `for=`). One field only, as nginx's
//! `real_ip_header`: a proxy that appends to one passes the other through
//! from the client, who could write anything in it.
//!
//! As nginx's `real_ip_recursive on`: the list is read from the right, each
//! trusted address passes the question to the one before it, and the first
//! untrusted one is the client. An entry that is not an address (`unknown`,
//! an obfuscated name, a typo) ends the walk: the client is then the last
//! address reached, never a claim further left. From any other peer these
//! fields are ignored.
//!
//! On the request path: the exchange asks this when it builds a request,
//! only when trusted proxies are configured.

use std::net::{IpAddr, SocketAddr};

/// Which field a trusted proxy names the client in (`server.client_header`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ClientHeader {
    /// `X-Forwarded-For: client, proxy1, ...`.
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    #[serde(rename = "forwarded")]
    Forwarded,
}

impl ClientHeader {
    /// The field's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            ClientHeader::XForwardedFor => "x-forwarded-for",
            ClientHeader::Forwarded => "forwarded",
        }
    }
}

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

    /// The client of a request that came from `peer` with `value`, every
    /// line of the `header` field joined as one list.
    pub fn client(
        &self,
        peer: SocketAddr,
        header: ClientHeader,
        value: Option<&[u8]>,
    ) -> SocketAddr {
        if !self.contains(peer.ip()) {
            return peer;
        }
        let Some(value) = value.and_then(|v| std::str::from_utf8(v).ok()) else {
            return peer;
        };
        // From the right: each trusted address passes the question on.
        let mut client = peer;
        let mut walk = |hops: &mut dyn Iterator<Item = Option<SocketAddr>>| {
            for hop in hops {
                match hop {
                    _ if !self.contains(client.ip()) => break,
                    Some(hop) => client = hop,
                    None => break, // not an address: believe nothing further left
                }
            }
        };
        match header {
            ClientHeader::XForwardedFor => walk(&mut value.rsplit(',').map(|e| address(e.trim()))),
            ClientHeader::Forwarded => match forwarded_elements(value) {
                Some(elements) => walk(&mut elements.iter().rev().map(|e| forwarded_for(e))),
                None => return peer, // broken quoting: believe nothing
            },
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

/// The elements of a `Forwarded` value (split at commas outside quoted
/// strings), or `None` if a quoted string is not closed.
fn forwarded_elements(value: &str) -> Option<Vec<String>> {
    let mut elements = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        let current = elements.last_mut().expect("never empty");
        match c {
            _ if escaped => {
                escaped = false;
                current.push(c);
            }
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => elements.push(String::new()),
            c => current.push(c),
        }
    }
    (!quoted).then_some(elements)
}

/// `for=` of one `Forwarded` element (`for=192.0.2.60;proto=http`,
/// `for="[2001:db8::1]:4711"`); `None` for `unknown`, an obfuscated name,
/// anything else, or no `for=`.
fn forwarded_for(element: &str) -> Option<SocketAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let v = v.trim();
        let v = match v.strip_prefix('"') {
            Some(inner) => inner.strip_suffix('"')?,
            None => v,
        };
        address(v)
    })
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]:80`: strictly
/// (no leading zeros, no zone, no spaces); port 0 when none is given.
fn address(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(SocketAddr::new(canonical(a.ip()), a.port()));
    }
    let ip = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    ip.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(canonical(ip), 0))
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
        let client = |xff: &str| t.client(peer, ClientHeader::XForwardedFor, Some(xff.as_bytes()));
        assert_eq!(client("203.0.113.7"), at("203.0.113.7:0"));
        // A spoofed entry on the left is not believed: the first untrusted
        // address from the right is the client.
        assert_eq!(
            client("1.2.3.4, 203.0.113.7, 10.0.0.2"),
            at("203.0.113.7:0")
        );
        assert_eq!(client("10.0.0.3, 10.0.0.2"), at("10.0.0.3:0"));
        // Something that is not an address ends the walk where it stands.
        assert_eq!(client("garbage"), peer);
        assert_eq!(client("6.6.6.6, unknown"), peer);
        assert_eq!(client("6.6.6.6,1.2.3.4 9.9.9.9"), peer);
        assert_eq!(client("6.6.6.6, 001.002.003.004"), peer);
        assert_eq!(client("6.6.6.6, 1.2.3.4%eth0"), peer);
        assert_eq!(client("6.6.6.6, unknown, 10.0.0.9"), at("10.0.0.9:0"));
        // An untrusted peer's fields are ignored.
        let stranger = at("192.0.2.9:7");
        assert_eq!(
            t.client(stranger, ClientHeader::XForwardedFor, Some(b"203.0.113.7")),
            stranger
        );
    }

    #[test]
    fn forwarded_with_quotes_ports_and_v6() {
        let t = trusted();
        let peer = at("10.0.0.1:5000");
        let client = |f: &str| t.client(peer, ClientHeader::Forwarded, Some(f.as_bytes()));
        assert_eq!(
            client(r#"for=198.51.100.17;proto=https, for="[2001:db8::7]:4711""#),
            at("[2001:db8::7]:4711")
        );
        assert_eq!(client("for=unknown"), peer);
        assert_eq!(client("for=6.6.6.6, for=unknown"), peer);
        assert_eq!(client("For=\"192.0.2.43:47011\""), at("192.0.2.43:47011"));
        // A comma inside a quoted string is not a separator.
        assert_eq!(client(r#"for=1.2.3.4;x="a, for=6.6.6.6""#), at("1.2.3.4:0"));
        // An unterminated quote: nothing is believed.
        assert_eq!(client("for=\"6.6.6.6"), peer);
    }

    #[test]
    fn only_the_configured_field_is_read() {
        // The X-Forwarded-For setting never looks at Forwarded (which a
        // proxy appending to X-Forwarded-For passes through from the client).
        let t = trusted();
        let peer = at("127.0.0.1:1");
        assert_eq!(t.client(peer, ClientHeader::XForwardedFor, None), peer);
    }
}
