//! Staged enforcement in a GitOps tree: every namespace's policies are
//! applied from the first pull request, but only the namespaces of the
//! rollout's first stages enforce; the others' CiliumNetworkPolicies carry
//! `enableDefaultDeny` off in both directions, so their allow rules change
//! nothing until a later `--stage` turns it on (a small diff of those lines).

//!
//! A re-run without `--stage` keeps the stage the tree is at ([`in_force`]):
//! a refresh (or `watch --update`) never turns enforcement off.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::fingerprint::{self as fp};
use super::output::{GenPolicy, OutPolicy};
use crate::policy::documents::split_documents;
use crate::policy::DefaultDenyConfig;

/// The stage a GitOps tree is at: the last step of `order` (the rollout's
/// namespaces, step by step) whose namespace has a flowpolicy-generated
/// CiliumNetworkPolicy under `root` that enforces (no `enableDefaultDeny`
/// off in both directions). `None` when no generated policy enforces (a
/// fresh tree): the caller starts at stage 1.
pub fn in_force(root: &Path, order: &[String]) -> Option<usize> {
    let enforcing = enforcing_namespaces(root);
    order
        .iter()
        .rposition(|ns| enforcing.contains(ns))
        .map(|i| i + 1)
}

/// Namespaces with a generated CiliumNetworkPolicy under `root` that enforces.
fn enforcing_namespaces(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if name.starts_with('.') || ft.is_symlink() {
                continue;
            }
            if ft.is_dir() {
                stack.push(e.path());
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                enforcing_in_file(&e.path(), &mut out);
            }
        }
    }
    out
}

fn enforcing_in_file(path: &Path, out: &mut BTreeSet<String>) {
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    if !text.contains(fp::MANAGED_BY.1) {
        return;
    }
    for d in split_documents(&text) {
        let Ok(v) = serde_yaml::from_str::<Value>(&d.padded()) else {
            continue;
        };
        if !fp::is_generated(&v)
            || v.get("kind").and_then(Value::as_str) != Some("CiliumNetworkPolicy")
        {
            continue;
        }
        let Some(ns) = v.pointer("/metadata/namespace").and_then(Value::as_str) else {
            continue;
        };
        let rules = v.get("spec").into_iter().chain(
            v.get("specs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        let off = |r: &Value, dir: &str| {
            r.pointer(&format!("/enableDefaultDeny/{dir}"))
                .and_then(Value::as_bool)
                == Some(false)
        };
        if rules
            .into_iter()
            .any(|r| !(off(r, "ingress") && off(r, "egress")))
        {
            out.insert(ns.to_owned());
        }
    }
}

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
                // Its stamps and text change: made again with its file.
                p.ready = None;
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
            OutPolicy::new(GenPolicy::Cnp(c), None)
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
