//! Staged enforcement in a GitOps tree: every namespace's policies are
//! applied from the first pull request, but only the namespaces of the
//! rollout's first stages enforce; the others' CiliumNetworkPolicies carry
//! `enableDefaultDeny` off in both directions, so their allow rules change
//! nothing until a later `--stage` turns it on (a small diff of those lines).

use std::collections::BTreeSet;

use super::output::{GenPolicy, OutPolicy};
use crate::policy::DefaultDenyConfig;

/// Turns default-deny off in both directions for the CiliumNetworkPolicies
/// of namespaces not in `enforced`. Returns the namespaces left not
/// enforcing, and those whose policies cannot be staged (NetworkPolicy has
/// no such switch).
pub fn stage(
    policies: &mut [OutPolicy],
    enforced: &BTreeSet<String>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut staged = BTreeSet::new();
    let mut unstageable = BTreeSet::new();
    for p in policies.iter_mut() {
        let Some(ns) = p.policy.namespace().map(str::to_owned) else {
            continue;
        };
        if enforced.contains(&ns) {
            continue;
        }
        match &mut p.policy {
            GenPolicy::Cnp(cnp) => {
                for rule in cnp.spec.iter_mut().chain(cnp.specs.iter_mut()) {
                    rule.enable_default_deny = Some(DefaultDenyConfig {
                        ingress: Some(false),
                        egress: Some(false),
                    });
                }
                staged.insert(ns);
            }
            GenPolicy::K8s(_) => {
                unstageable.insert(ns);
            }
            GenPolicy::Ccnp(_) => {}
        }
    }
    (staged, unstageable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{CiliumNetworkPolicy, Rule};

    #[test]
    fn only_namespaces_not_enforced_are_switched_off() {
        let p = |ns: &str| {
            let mut c = CiliumNetworkPolicy::new("a", ns);
            c.spec = Some(Rule {
                enable_default_deny: Some(DefaultDenyConfig {
                    ingress: Some(true),
                    egress: Some(true),
                }),
                ..Rule::default()
            });
            OutPolicy {
                policy: GenPolicy::Cnp(c),
                workload: None,
            }
        };
        let mut ps = vec![p("dbms"), p("media")];
        let enforced: BTreeSet<String> = ["dbms".to_string()].into();
        let (staged, none) = stage(&mut ps, &enforced);
        assert_eq!(staged, ["media".to_string()].into());
        assert!(none.is_empty());
        let dd = |o: &OutPolicy| match &o.policy {
            GenPolicy::Cnp(c) => c.spec.as_ref().unwrap().enable_default_deny.unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(dd(&ps[0]).ingress, Some(true));
        assert_eq!(dd(&ps[1]).ingress, Some(false));
        assert_eq!(dd(&ps[1]).egress, Some(false));
    }
}
