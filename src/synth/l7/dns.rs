//! DNS name rules (`--l7 dns`): instead of `matchPattern: "*"`, the DNS
//! rule of a workload's egress to its resolver lists the names it was seen
//! to query there (search-list expansions included) plus the names of its
//! `toFQDNs` peers, with the same sibling collapse as `toFQDNs`.
//!
//! Cilium's `matchPattern` `*` stands for DNS characters within one label
//! (`*.example.com` matches `a.example.com`, not `a.b.example.com`), and
//! `*` alone for every name. DNS rules of all policies selecting an
//! endpoint are united, so a `*` anywhere defeats a list: the foundation
//! then carries no DNS rule for every endpoint (see foundation.rs).

use std::collections::BTreeSet;

use crate::graph::PortStats;
use crate::policy::FqdnSelector;
use crate::synth::peers;

/// Why a workload keeps `matchPattern: "*"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// No DNS L7 record of its queries (its DNS did not go through the proxy).
    NoEvidence,
    /// More names than the graph keeps per port.
    Overflow,
    /// A queried name `matchName` cannot hold.
    Unwritable,
}

impl Fallback {
    pub fn describe(self) -> &'static str {
        match self {
            Fallback::NoEvidence => "no DNS query names were recorded (no L7 DNS records)",
            Fallback::Overflow => "more query names than flowpolicy keeps per resolver port",
            Fallback::Unwritable => "a queried name cannot be written as matchName",
        }
    }
}

/// The CRD's pattern for `matchName`: `^([-a-zA-Z0-9_]+[.]?)+$`.
fn writable(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The DNS selectors for one resolver edge: the names queried on its DNS
/// ports (`ports`) and the `toFQDNs` names, or why not.
pub fn selectors<'a>(
    ports: impl IntoIterator<Item = &'a PortStats>,
    fqdns: &BTreeSet<String>,
    collapse: Option<usize>,
) -> Result<Vec<FqdnSelector>, Fallback> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut seen = false;
    for stats in ports {
        if let Some(dns) = &stats.dns {
            if dns.overflow > 0 {
                return Err(Fallback::Overflow);
            }
            seen |= !dns.names.is_empty();
            names.extend(dns.names.iter().cloned());
        }
    }
    if !seen {
        return Err(Fallback::NoEvidence);
    }
    if !names.iter().all(|n| writable(n)) {
        return Err(Fallback::Unwritable);
    }
    names.extend(fqdns.iter().filter(|n| writable(n)).cloned());
    Ok(peers::fqdn_selectors(&names, collapse))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::DnsSeen;

    fn stats(names: &[&str]) -> PortStats {
        let mut dns = DnsSeen::default();
        for n in names {
            dns.record(n);
        }
        PortStats {
            dns: Some(dns),
            ..PortStats::default()
        }
    }

    #[test]
    fn lists_queried_and_fqdn_names() {
        let s = stats(&[
            "api.shop.svc.cluster.local",
            "api.shop.shop.svc.cluster.local",
        ]);
        let fq: BTreeSet<String> = ["github.com".to_string()].into();
        let got = selectors([&s], &fq, None).unwrap();
        assert_eq!(
            got,
            vec![
                FqdnSelector::name("api.shop.shop.svc.cluster.local"),
                FqdnSelector::name("api.shop.svc.cluster.local"),
                FqdnSelector::name("github.com"),
            ]
        );
    }

    #[test]
    fn falls_back_without_usable_evidence() {
        let none = PortStats::default();
        assert_eq!(
            selectors([&none], &BTreeSet::new(), None),
            Err(Fallback::NoEvidence)
        );
        let mut over = stats(&["a.example"]);
        over.dns.as_mut().unwrap().overflow = 1;
        assert_eq!(
            selectors([&over], &BTreeSet::new(), None),
            Err(Fallback::Overflow)
        );
        let bad = stats(&["a b.example"]);
        assert_eq!(
            selectors([&bad], &BTreeSet::new(), None),
            Err(Fallback::Unwritable)
        );
    }
}
