//! Name knowledge for world addresses: DNS answers seen in L7 DNS flows
//! (`l7.dns {query, ips, rcode}`) are remembered per address and used to name
//! later connections to that address, because `destination_names` is only
//! filled while the agent's DNS cache still holds the entry.
//!
//! Memory grows with distinct answered addresses, not with flows.

use rustc_hash::FxHashMap;
use std::net::IpAddr;

use crate::proto::flow::{self, layer7::Record};

/// The most recent name each address was resolved from.
#[derive(Debug, Default)]
pub struct DnsCache {
    by_ip: FxHashMap<IpAddr, String>,
}

/// Normalizes a DNS name: lower case, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsCache {
    /// Learns from a flow's DNS answer, if it carries one. Returns true when
    /// the flow was a DNS answer.
    pub fn learn(&mut self, f: &flow::Flow) -> bool {
        let Some(Record::Dns(dns)) = f.l7.as_ref().and_then(|l7| l7.record.as_ref()) else {
            return false;
        };
        if dns.rcode != 0 || dns.ips.is_empty() || dns.query.is_empty() {
            return true;
        }
        let name = normalize(&dns.query);
        for ip in &dns.ips {
            if let Ok(ip) = ip.parse::<IpAddr>() {
                self.by_ip.insert(ip, name.clone());
            }
        }
        true
    }

    /// Remembers names Hubble attached to a flow (`destination_names`,
    /// `source_names`), so later packets of the same peer without them are
    /// named the same way.
    pub fn remember(&mut self, flow_names: &[String], ip: Option<std::net::IpAddr>) {
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
        if self.by_ip.get(&ip) != Some(&first) {
            self.by_ip.insert(ip, first);
        }
    }

    /// Names for an address: the flow's own names first, then the cache.
    pub fn names_for(&self, flow_names: &[String], ip: Option<IpAddr>) -> Vec<String> {
        let mut names: Vec<String> = flow_names.iter().map(|n| normalize(n)).collect();
        names.retain(|n| !n.is_empty());
        if names.is_empty() {
            if let Some(n) = ip.and_then(|ip| self.by_ip.get(&ip)) {
                names.push(n.clone());
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
}
