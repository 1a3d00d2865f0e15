//! L7 synthesis (`recommend --l7 http,dns`): HTTP rules on the ports where
//! request records were seen ([`http`]) and DNS name lists instead of
//! `matchPattern: "*"` ([`dns`]). Off by default: without `--l7` the output
//! is exactly the L4 one.

pub mod dns;
pub mod http;
pub mod ports;

/// Which L7 rules to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L7Config {
    /// HTTP rules from `l7.http` request records.
    pub http: bool,
    /// DNS name lists from `l7.dns` records.
    pub dns: bool,
    /// Sibling collapse threshold for templated paths (`None`: never).
    pub collapse: Option<usize>,
}

impl Default for L7Config {
    fn default() -> Self {
        L7Config {
            http: false,
            dns: false,
            collapse: Some(http::DEFAULT_COLLAPSE),
        }
    }
}

/// What `--l7` wrote, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// `toPorts` entries with request rules.
    pub http_sections: usize,
    /// Request rules in them.
    pub http_rules: usize,
    /// `toPorts` entries with the allow-all rule `{}` (L4-only peers of an L7 port).
    pub allow_all: usize,
    /// DNS rules listing names.
    pub dns_lists: usize,
    /// DNS rules still `matchPattern: "*"`.
    pub dns_wildcards: usize,
}

impl Written {
    /// Counts the L7 parts of these namespaced policies.
    pub fn of<'a>(
        namespaced: impl IntoIterator<Item = &'a crate::policy::CiliumNetworkPolicy>,
    ) -> Written {
        let mut w = Written::default();
        let port_rules = namespaced
            .into_iter()
            .filter_map(|p| p.spec.as_ref())
            .flat_map(|r| {
                r.ingress
                    .iter()
                    .flat_map(|i| &i.to_ports)
                    .chain(r.egress.iter().flat_map(|e| &e.to_ports))
            });
        for l7 in port_rules.filter_map(|p| p.rules.as_ref()) {
            if l7.http == [crate::policy::HttpRule::default()] {
                w.allow_all += 1;
            } else if !l7.http.is_empty() {
                w.http_sections += 1;
                w.http_rules += l7.http.len();
            }
            if l7.dns == [crate::policy::FqdnSelector::pattern("*")] {
                w.dns_wildcards += 1;
            } else if !l7.dns.is_empty() {
                w.dns_lists += 1;
            }
        }
        w
    }

    /// One summary line for what was asked.
    pub fn describe(&self, cfg: &L7Config) -> Option<String> {
        let mut parts = Vec::new();
        if cfg.http {
            parts.push(format!(
                "{} HTTP rules in {} port sections, {} allow-all sections for L4-only peers of L7 ports",
                self.http_rules, self.http_sections, self.allow_all
            ));
        }
        if cfg.dns {
            parts.push(format!(
                "{} DNS rules listing names, {} kept at matchPattern \"*\"",
                self.dns_lists, self.dns_wildcards
            ));
        }
        (!parts.is_empty()).then(|| format!("  L7: {}", parts.join("; ")))
    }
}
