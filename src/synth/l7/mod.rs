//! L7 synthesis (`recommend --l7 http,dns`): HTTP rules on the ports where
//! request records were seen ([`http`]) and DNS name lists instead of
//! `matchPattern: "*"` ([`dns`]). Off by default: without `--l7` the output
//! is exactly the L4 one.

pub mod dns;
pub mod http;

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
