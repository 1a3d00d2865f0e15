//! The door check ([`crate::source::validate::check_flow`]) for a stream
//! of already-decoded flows (the live relay stream): each distinct endpoint
//! is checked once and its answer reused, since a cluster's flows come from
//! a few hundred endpoints whose labels are most of the checking work.

use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};

use crate::proto::flow;
use crate::source::relay::EndpointChecks;
use crate::source::validate::{self, Rejection};

/// Distinct endpoints remembered; emptied when full.
const MAX_ENDPOINTS: usize = 4096;

/// An endpoint's check, per side (the side names the rejected field).
type Checks = [Option<Result<(), Rejection>>; 2];

/// Remembered endpoint checks.
#[derive(Default)]
pub struct CheckedEndpoints {
    seen: FxHashMap<u64, (flow::Endpoint, Checks)>,
}

impl CheckedEndpoints {
    /// Same answer as `validate::check_flow(f)`.
    pub fn check_flow(&mut self, f: &flow::Flow) -> Result<(), Rejection> {
        validate::check_flow_with(f, &mut |side, ep| self.endpoint(side, ep))
    }

    /// The same, with the endpoints' answers already known when the
    /// decoder checked them ([`crate::source::relay::EndpointCache`]).
    pub fn check_decoded(
        &mut self,
        f: &flow::Flow,
        known: Option<EndpointChecks>,
    ) -> Result<(), Rejection> {
        match known {
            Some(known) => validate::check_flow_with(f, &mut |side, _| {
                known[usize::from(side != "source")]
                    .clone()
                    .unwrap_or(Ok(()))
            }),
            None => self.check_flow(f),
        }
    }

    fn endpoint(&mut self, side: &str, ep: &flow::Endpoint) -> Result<(), Rejection> {
        let i = usize::from(side != "source");
        let mut h = FxHasher::default();
        (ep.id, ep.identity, &ep.namespace, &ep.labels, &ep.pod_name).hash(&mut h);
        (&ep.cluster_name, ep.workloads.len()).hash(&mut h);
        let key = h.finish();
        match self.seen.get_mut(&key) {
            Some((known, checks)) if known == ep => checks[i]
                .get_or_insert_with(|| validate::check_endpoint(side, ep))
                .clone(),
            _ => {
                let check = validate::check_endpoint(side, ep);
                if self.seen.len() >= MAX_ENDPOINTS {
                    self.seen.clear();
                }
                let mut checks = [None, None];
                checks[i] = Some(check.clone());
                self.seen.insert(key, (ep.clone(), checks));
                check
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_answers_are_the_checks_answers() {
        let good = flow::Endpoint {
            identity: 4242,
            namespace: "shop".into(),
            labels: vec!["k8s:io.kubernetes.pod.namespace=shop".into()],
            ..flow::Endpoint::default()
        };
        let mut bad = good.clone();
        bad.labels[0] = "k8s:io.kubernetes.pod.namespace=other".into();
        let mut checks = CheckedEndpoints::default();
        for _ in 0..3 {
            for (src, dst) in [(&good, &bad), (&bad, &good), (&good, &good)] {
                let f = flow::Flow {
                    source: Some(src.clone()),
                    destination: Some(dst.clone()),
                    ..flow::Flow::default()
                };
                assert_eq!(checks.check_flow(&f), validate::check_flow(&f));
            }
        }
    }
}
