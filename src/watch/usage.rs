//! Rule usage over flow time: for every allow section of the tree, the
//! last flow time it allowed a flow; a section idle for `--unused-after`
//! (counted from its last use, or from the first flow the watch saw with
//! this tree) is reported once, and again only after it was used and went
//! idle anew. Usage survives a reload for the sections that are still there
//! (same policy, same field path).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::events::{rfc3339, UnusedRule};
use super::tree::PolicyTree;
use crate::verify::model::{rule_ref, Direction, SectionRef};

type SectionKey = (usize, Direction, usize);

/// Usage of the allow sections of one tree.
#[derive(Default)]
pub struct Usage {
    slots: FxHashMap<SectionKey, u32>,
    sections: Vec<SectionKey>,
    last_used: Vec<i64>,
    reported: Vec<bool>,
    /// First flow time seen with this tree (0: none yet).
    since: i64,
    after_ns: Option<i64>,
}

/// A section as it survives a reload: policy and field path.
fn name(tree: &PolicyTree, k: SectionKey) -> String {
    let rule = &tree.model.rules[k.0];
    let section = &rule.sections(k.1, false)[k.2];
    format!(
        "{} {} {}",
        tree.model.policies[rule.policy],
        k.1.as_str(),
        section.path
    )
}

impl Usage {
    /// Tracks the sections of `tree`; `after_ns` is `--unused-after`.
    pub fn new(tree: &PolicyTree, after_ns: Option<i64>) -> Usage {
        let sections = tree.allow_sections();
        let slots = sections
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i as u32))
            .collect();
        Usage {
            slots,
            last_used: vec![0; sections.len()],
            reported: vec![false; sections.len()],
            sections,
            since: 0,
            after_ns,
        }
    }

    /// Usage for a reloaded tree, keeping what is known of the sections
    /// both trees have.
    pub fn carried(&self, old: &PolicyTree, new: &PolicyTree) -> Usage {
        let known: BTreeMap<String, (i64, bool)> = self
            .sections
            .iter()
            .enumerate()
            .map(|(i, k)| (name(old, *k), (self.last_used[i], self.reported[i])))
            .collect();
        let mut out = Usage::new(new, self.after_ns);
        out.since = self.since;
        for (i, k) in out.sections.clone().into_iter().enumerate() {
            if let Some((t, r)) = known.get(&name(new, k)) {
                out.last_used[i] = *t;
                out.reported[i] = *r;
            }
        }
        out
    }

    /// The slot of an allow section that decided a flow.
    pub fn slot(&self, r: &SectionRef) -> Option<u32> {
        self.slots.get(&(r.rule, r.direction, r.section)).copied()
    }

    /// A flow at `t` went through the section in `slot`.
    pub fn touch(&mut self, slot: u32, t: i64) {
        let i = slot as usize;
        if t > self.last_used[i] {
            self.last_used[i] = t;
        }
        self.reported[i] = false;
    }

    /// Flow time moved to `t` (the first call starts the clock).
    pub fn start(&mut self, t: i64) {
        if self.since == 0 && t != 0 {
            self.since = t;
        }
    }

    /// The sections idle for `--unused-after` at flow time `now`, not yet
    /// reported (each is reported once until used again).
    pub fn idle(&mut self, tree: &PolicyTree, now: i64) -> Vec<UnusedRule> {
        let (Some(after), true) = (self.after_ns, self.since != 0) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, k) in self.sections.iter().enumerate() {
            let from = self.last_used[i].max(self.since);
            if self.reported[i] || now - from < after {
                continue;
            }
            self.reported[i] = true;
            let r = SectionRef {
                rule: k.0,
                direction: k.1,
                deny: false,
                section: k.2,
                entry: None,
            };
            out.push(UnusedRule {
                time: rfc3339(now),
                rule: rule_ref(&tree.model, &r),
                direction: k.1.as_str(),
                last_used: (self.last_used[i] != 0).then(|| rfc3339(self.last_used[i])),
                idle_seconds: (now - from) / 1_000_000_000,
            });
        }
        out
    }

    /// Sections tracked, and how many have allowed a flow.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.sections.len(),
            self.last_used.iter().filter(|t| **t != 0).count(),
        )
    }
}
