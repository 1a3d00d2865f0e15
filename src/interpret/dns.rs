//! Name knowledge for world addresses: DNS answers seen in L7 DNS flows
//! (`l7.dns {query, ips, rcode}`) are remembered per address and used to name
//! later connections to that address, because `destination_names` is only
//! filled while the agent's DNS cache still holds the entry.
//!
//! Memory grows with distinct answered addresses, not with flows. The cache
//! is part of the interpretation state a baseline carries
//! ([`super::state::InterpretState`]), so a later `observe` run names
//! addresses answered in an earlier one exactly as one long run would.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use crate::proto::flow::{self, layer7::Record};

/// The most recent name each address was resolved from.
#[derive(Debug, Default)]
pub struct DnsCache {
    by_ip: FxHashMap<IpAddr, Answer>,
}

/// What is known of one address: the name, when it was last given (flow
/// time, ns) and the answer's TTL in seconds (0 when the name came from
/// Hubble's `destination_names`/`source_names`, which carry none).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    name: String,
    seen: i64,
    ttl: u32,
}

/// One cache entry as a baseline stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DnsEntry {
    pub address: IpAddr,
    pub name: String,
    /// Flow time (ns) the address was last given this name.
    #[serde(default)]
    pub seen: i64,
    /// TTL (seconds) of the last DNS answer naming it; 0 when unknown.
    #[serde(default)]
    pub ttl: u32,
}

/// Normalizes a DNS name: lower case, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsCache {
    /// Learns from a flow's DNS answer (at flow time `time_ns`), if it
    /// carries one. Returns true when the flow was a DNS answer.
    pub fn learn(&mut self, f: &flow::Flow, time_ns: i64) -> bool {
        let Some(Record::Dns(dns)) = f.l7.as_ref().and_then(|l7| l7.record.as_ref()) else {
            return false;
        };
        if dns.rcode != 0 || dns.ips.is_empty() || dns.query.is_empty() {
            return true;
        }
        let name = normalize(&dns.query);
        let seen = time_ns;
        for ip in &dns.ips {
            if let Ok(ip) = ip.parse::<IpAddr>() {
                self.by_ip.insert(
                    ip,
                    Answer {
                        name: name.clone(),
                        seen,
                        ttl: dns.ttl,
                    },
                );
            }
        }
        true
    }

    /// Remembers names Hubble attached to a flow (`destination_names`,
    /// `source_names`), so later packets of the same peer without them are
    /// named the same way.
    pub fn remember(&mut self, flow_names: &[String], ip: Option<std::net::IpAddr>, time_ns: i64) {
        let (Some(ip), Some(first)) = (
            ip,
            flow_names
                .iter()
                .map(|n| normalize(n))
                .filter(|n| !n.is_empty())
                .min(),
        ) else {
            return;
        };
        match self.by_ip.get_mut(&ip) {
            Some(a) if a.name == first => a.seen = a.seen.max(time_ns),
            _ => {
                self.by_ip.insert(
                    ip,
                    Answer {
                        name: first,
                        seen: time_ns,
                        ttl: 0,
                    },
                );
            }
        }
    }

    /// Names for an address: the flow's own names first, then the cache.
    pub fn names_for(&self, flow_names: &[String], ip: Option<IpAddr>) -> Vec<String> {
        let mut names: Vec<String> = flow_names.iter().map(|n| normalize(n)).collect();
        names.retain(|n| !n.is_empty());
        if names.is_empty() {
            if let Some(a) = ip.and_then(|ip| self.by_ip.get(&ip)) {
                names.push(a.name.clone());
            }
        }
        names.sort();
        names.dedup();
        names
    }

    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// The cache as a baseline stores it, sorted by address.
    pub fn export(&self) -> Vec<DnsEntry> {
        let mut v: Vec<DnsEntry> = self
            .by_ip
            .iter()
            .map(|(ip, a)| DnsEntry {
                address: *ip,
                name: a.name.clone(),
                seen: a.seen,
                ttl: a.ttl,
            })
            .collect();
        v.sort();
        v
    }

    /// A cache holding stored entries (a later entry for an address wins).
    pub fn import(entries: &[DnsEntry]) -> DnsCache {
        let mut by_ip = FxHashMap::default();
        for e in entries {
            by_ip.insert(
                e.address,
                Answer {
                    name: e.name.clone(),
                    seen: e.seen,
                    ttl: e.ttl,
                },
            );
        }
        DnsCache { by_ip }
    }
}
