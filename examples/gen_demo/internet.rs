//! Internet names and addresses: concrete hostnames and documentation-range addresses for the
//! topology's free-text `egress_internet` destinations.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::rng::fnv1a;

/// Concrete hostnames for the topology's vague egress descriptions.
const VAGUE_DESTINATIONS: [(&str, &[&str]); 7] = [
    ("subtitle", &["api.opensubtitles.com"]),
    ("indexer", &["api.nzbgeek.info", "nzbplanet.net"]),
    ("usenet", &["news.newshosting.com"]),
    (
        "cloud integrations",
        &["api.met.no", "services.home-assistant.io"],
    ),
    ("watched website", &["www.example.com", "www.iana.org"]),
    ("widgets", &["api.openweathermap.org"]),
    ("registries", &["registry-1.docker.io"]),
];

/// Deterministic public-looking IPv4 addresses (documentation ranges) for a hostname.
pub(crate) fn addresses_for(name: &str) -> Vec<IpAddr> {
    const RANGES: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
    let h = fnv1a(name);
    let count = 1 + (h % 2) as usize;
    (0..count)
        .map(|i| {
            let hi = h.rotate_left(17 * i as u32);
            let r = RANGES[(hi % 3) as usize];
            IpAddr::V4(Ipv4Addr::new(r[0], r[1], r[2], (hi >> 8) as u8 % 250 + 3))
        })
        .collect()
}

/// A few names are reached over IPv6 (dual-stack egress).
pub(crate) fn ipv6_address_for(name: &str) -> Option<IpAddr> {
    let h = fnv1a(name);
    h.is_multiple_of(7).then(|| {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            (h >> 16) as u16,
            0,
            0,
            0,
            0,
            (h % 0xffff) as u16 + 1,
        ))
    })
}

fn is_hostname(token: &str) -> bool {
    token.contains('.')
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '*')
        && token.chars().any(|c| c.is_ascii_alphabetic())
}

/// A world destination parsed from an `egress_internet` entry.
#[derive(Clone, Debug)]
pub(crate) enum WorldDest {
    Name(String),
    Address(IpAddr),
}

/// Turn a free-text `dest` into concrete names/addresses (wildcards get a concrete label).
pub(crate) fn parse_egress_dest(dest: &str, external_hosts: &[String]) -> Vec<WorldDest> {
    let lower = dest.to_ascii_lowercase();
    if lower.contains("multus")
        || lower.contains("in-pod")
        || lower.contains("if configured")
        || lower.contains("clients via")
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for token in
        dest.split(|c: char| c.is_whitespace() || c == ',' || c == '/' || c == '(' || c == ')')
    {
        let token = token
            .trim_end_matches(';')
            .trim_start_matches("https:")
            .trim_matches('/');
        if let Ok(ip) = token.parse::<Ipv4Addr>() {
            out.push(WorldDest::Address(IpAddr::V4(ip)));
        } else if token.contains("<sub>") {
            let domain = token
                .split_once("<sub>.")
                .map(|(_, d)| d)
                .unwrap_or_default();
            out.extend(
                external_hosts
                    .iter()
                    .filter(|h| h.ends_with(domain))
                    .take(3)
                    .map(|h| WorldDest::Name(h.clone())),
            );
        } else if is_hostname(token) {
            let label = ["api", "edge", "my", "cdn"][(fnv1a(token) % 4) as usize];
            out.push(WorldDest::Name(token.replace('*', label)));
        }
    }
    if out.is_empty() {
        for (needle, names) in VAGUE_DESTINATIONS {
            if lower.contains(needle) {
                out.extend(names.iter().map(|n| WorldDest::Name(n.to_string())));
            }
        }
    }
    out
}
