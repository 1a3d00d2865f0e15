//! `unused-http-rule` findings: HTTP rules of a section that observed
//! requests were checked against, but that none of them matched — what an
//! L7 policy allows beyond what was seen. Reported only where the flows
//! carried HTTP requests for the rule's port (without L7 records every
//! rule would look unused).

use super::findings::Finding;
use super::model::Model;
use super::port_l7::L7Filter;
use super::requests::HttpUsage;

/// The findings, in model order.
pub fn unused_rules(model: &Model, usage: &HttpUsage) -> Vec<Finding> {
    let mut out = Vec::new();
    for (&(ri, dir, si), u) in usage {
        let rule = &model.rules[ri];
        let Some(section) = rule.sections(dir, false).get(si) else {
            continue;
        };
        for (ei, entry) in section.port_l7.iter().enumerate() {
            let L7Filter::Http(rules) = &entry.filter else {
                continue;
            };
            if !u.checked.contains(&ei) {
                continue;
            }
            for (hi, m) in rules.iter().enumerate() {
                if u.matched.contains(&(ei, hi)) {
                    continue;
                }
                out.push(Finding {
                    kind: "unused-http-rule",
                    policy: model.policies[rule.policy].clone(),
                    rule: section.path.clone(),
                    message: format!(
                        "http rule {m} (toPorts[{ei}].rules.http[{hi}]) matched none of the {} observed requests checked against this section",
                        u.samples
                    ),
                    observed: u.samples,
                });
            }
        }
    }
    out
}
