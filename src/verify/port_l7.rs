//! The compiled L7 form of an allow section: each `toPorts` entry's ports
//! with its HTTP matchers (or the name of another L7 parser), and the filter
//! a section applies on one port. Built once per section by the model;
//! [`super::l7`] decides requests with it.

use crate::policy::PortRule;

use super::http::{HttpMatcher, RegexCache};
use super::ports::PortMatcher;

/// What a `toPorts` entry does at L7.
#[derive(Debug, Clone, PartialEq)]
pub enum L7Filter {
    /// No L7 rules: every request passes.
    None,
    Http(Vec<HttpMatcher>),
    /// Kafka, DNS or a generic `l7proto` parser: not an HTTP filter.
    Other(String),
}

/// One `toPorts` entry of a section: its ports and L7 rules.
#[derive(Debug, Clone, PartialEq)]
pub struct PortL7 {
    pub ports: PortMatcher,
    pub filter: L7Filter,
}

impl PortL7 {
    /// Compiles a section's `toPorts` entries.
    pub fn compile(to_ports: &[PortRule], cache: &mut RegexCache) -> Vec<PortL7> {
        to_ports
            .iter()
            .map(|pr| {
                let filter = match &pr.rules {
                    None => L7Filter::None,
                    Some(r) if !r.http.is_empty() => L7Filter::Http(
                        r.http
                            .iter()
                            .map(|h| HttpMatcher::compile(h, cache))
                            .collect(),
                    ),
                    Some(r) if !r.kafka.is_empty() => L7Filter::Other("kafka".into()),
                    Some(r) if !r.dns.is_empty() => L7Filter::Other("dns".into()),
                    Some(r) if r.l7_proto.is_some() || !r.l7.is_empty() => {
                        L7Filter::Other(r.l7_proto.clone().unwrap_or_else(|| "l7".into()))
                    }
                    Some(_) => L7Filter::None,
                };
                PortL7 {
                    ports: PortMatcher::cilium(std::slice::from_ref(pr), &[]),
                    filter,
                }
            })
            .collect()
    }
}

/// The L7 filter a section applies on one port.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SectionFilter<'m> {
    /// L4-only on this port (or L3-only): all requests pass.
    Wildcard,
    /// The HTTP rules of every `toPorts` entry covering the port.
    Http(&'m [PortL7]),
    Other(&'m str),
}
