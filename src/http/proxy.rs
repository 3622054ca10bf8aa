//! Who the client is behind reverse proxies: `X-Forwarded-For` and
//! `X-Forwarded-Proto`, believed only when they come from a trusted proxy.
//!
//! Anyone can send these headers, so they are ignored unless the direct peer
//! is in the trusted list; then `X-Forwarded-For` is walked from the right
//! (nearest hop) past trusted proxies, and the first untrusted address is the
//! client. A spoofed entry added by the client sits to the left of that and
//! is never reached.

use std::net::IpAddr;

/// A set of networks (`10.0.0.0/8`, `::1/128`, ...).
#[derive(Clone, Debug)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl Default for TrustedProxies {
    /// Loopback only: a proxy on the same machine.
    fn default() -> Self {
        TrustedProxies::parse(&["127.0.0.0/8", "::1/128"]).unwrap_or(TrustedProxies {
            networks: Vec::new(),
        })
    }
}

impl TrustedProxies {
    /// Parses addresses and CIDR networks; the error names the bad entry.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<TrustedProxies, String> {
        let mut networks = Vec::with_capacity(specs.len());
        for spec in specs {
            let spec = spec.as_ref().trim();
            let (address, prefix) = spec.split_once('/').unwrap_or((spec, ""));
            let address: IpAddr = address.parse().map_err(|_| {
                format!("trusted proxy {spec:?} is not an IP address or CIDR network")
            })?;
            let bits = if address.is_ipv4() { 32 } else { 128 };
            let prefix = if prefix.is_empty() {
                bits
            } else {
                prefix
                    .parse::<u8>()
                    .ok()
                    .filter(|prefix| *prefix <= bits)
                    .ok_or_else(|| {
                        format!("trusted proxy {spec:?} has an invalid prefix length (0 to {bits})")
                    })?
            };
            networks.push((address, prefix));
        }
        Ok(TrustedProxies { networks })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.networks
            .iter()
            .any(|&(network, prefix)| match (canonical(network), address) {
                (IpAddr::V4(network), IpAddr::V4(address)) => {
                    masked(u128::from(u32::from(network)) << 96, prefix)
                        == masked(u128::from(u32::from(address)) << 96, prefix)
                }
                (IpAddr::V6(network), IpAddr::V6(address)) => {
                    masked(u128::from(network), prefix) == masked(u128::from(address), prefix)
                }
                _ => false,
            })
    }

    /// The client's address, given the peer and the `X-Forwarded-For` values.
    pub fn client_ip<'h>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'h str>,
    ) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .collect();
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(address) => client = address,
                None => break,
            }
            if !self.contains(client) {
                break;
            }
        }
        client
    }

    /// Whether the original request was HTTPS, per a trusted proxy's `X-Forwarded-Proto`.
    pub fn is_secure<'h>(
        &self,
        peer: IpAddr,
        forwarded_proto: impl IntoIterator<Item = &'h str>,
    ) -> bool {
        self.contains(peer) && says_https(forwarded_proto)
    }
}

/// Whether the nearest proxy's `X-Forwarded-Proto` (the last value) is
/// `https`. Only meaningful when the peer is a trusted proxy.
pub fn says_https<'h>(forwarded_proto: impl IntoIterator<Item = &'h str>) -> bool {
    let last = forwarded_proto
        .into_iter()
        .flat_map(|value| value.split(','))
        .last();
    last.is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

fn masked(address: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        address & (u128::MAX << (128 - u32::from(prefix)))
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) compares as the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, maybe bracketed or with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest
            .split_once(']')
            .and_then(|(inside, _)| inside.parse().ok())
            .map(canonical);
    }
    hop.rsplit_once(':')
        .and_then(|(address, _)| address.parse().ok())
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn networks_and_loopback_default() {
        let trusted =
            TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]).expect("valid");
        assert!(trusted.contains(ip("10.1.2.3")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!(trusted.contains(ip("192.168.1.7")));
        assert!(!trusted.contains(ip("192.168.1.8")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(trusted.contains(ip("::ffff:10.9.9.9")));
        let default = TrustedProxies::default();
        assert!(default.contains(ip("127.0.0.1")) && default.contains(ip("::1")));
        assert!(!default.contains(ip("203.0.113.5")));
    }

    #[test]
    fn bad_entries_are_named() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33"])
            .unwrap_err()
            .contains("10.0.0.0/33"));
        assert!(TrustedProxies::parse(&["proxy.local"])
            .unwrap_err()
            .contains("proxy.local"));
    }

    #[test]
    fn forwarded_for_only_from_trusted_peers() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).expect("valid");
        // Direct client: its own header is ignored.
        assert_eq!(
            trusted.client_ip(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
        // Through a trusted proxy: the entry it appended is the client.
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), ["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // A spoofed entry to the left of the real client is not reached.
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), ["6.6.6.6, 198.51.100.7, 10.0.0.5"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), ["6.6.6.6", "198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), ["nonsense"]),
            ip("10.0.0.2")
        );
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), ["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), ["198.51.100.7:5000"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn forwarded_proto() {
        let trusted = TrustedProxies::default();
        assert!(trusted.is_secure(ip("127.0.0.1"), ["https"]));
        assert!(!trusted.is_secure(ip("127.0.0.1"), ["http"]));
        assert!(!trusted.is_secure(ip("203.0.113.9"), ["https"]));
        assert!(trusted.is_secure(ip("::1"), ["http, HTTPS"]));
    }
}
