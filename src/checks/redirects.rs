//! Which addresses a redirect may not lead to: loopback, private, link-local, unique-local
//! (and the unspecified and shared ranges that reach the same machines), unless the configured
//! URL is itself such an address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Host;

/// What kind of internal address `ip` is, or `None` for a public one.
pub(super) fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        // 100.64.0.0/10, carrier-grade NAT: internal to a provider.
        Some("shared (CGNAT)")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else {
        None
    }
}

/// Whether the configured URL is an internal address, so redirects to other internal
/// addresses are expected: an IP literal in those ranges, `localhost`, or a name that resolved
/// to a private (not loopback) address. A public-looking name that resolves to loopback is the
/// DNS-rebinding trick, not an internal service, and does not count.
pub(super) fn origin_is_private(host: &Host<String>, addrs: &[IpAddr]) -> bool {
    match host {
        Host::Ipv4(ip) => private_kind(IpAddr::V4(*ip)).is_some(),
        Host::Ipv6(ip) => private_kind(IpAddr::V6(*ip)).is_some(),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || name.ends_with(".localhost")
                || addrs
                    .iter()
                    .any(|ip| private_kind(*ip).is_some_and(|k| k != "loopback"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges() {
        for (ip, kind) in [
            ("127.0.0.1", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("0.0.0.0", Some("unspecified")),
            ("100.64.0.1", Some("shared (CGNAT)")),
            ("::1", Some("loopback")),
            ("fd00::1", Some("unique-local")),
            ("fe80::1", Some("link-local")),
            ("::ffff:10.0.0.1", Some("private")),
            ("203.0.113.10", None),
            ("2001:db8::1", None),
        ] {
            assert_eq!(private_kind(ip.parse().unwrap()), kind, "{ip}");
        }
    }
}
