//! The report as GitHub-flavoured Markdown: tables, and the namespace graph
//! as a ```` ```mermaid ```` block (GitHub renders it). Names are put in
//! code spans, other text is escaped, so nothing from the flows can break a
//! table or inject markup.

use std::fmt::Write as _;

use super::findings::{Finding, FindingKind};
use super::grid::{self, Cell, Grid};
use super::policies::{DropRow, PolicySetSection};
use super::tables::{NamespaceSection, PeerRow};
use super::Report;

/// Escapes text for a Markdown table cell or paragraph.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A code span safe inside a table cell.
pub fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ").replace('|', "\\|");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

pub(super) fn codes(v: &[String]) -> String {
    v.iter().map(|s| code(s)).collect::<Vec<_>>().join(", ")
}

/// Renders the report.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    overview(&mut out, r);
    finding_counts(&mut out, r);
    diagram(&mut out, r);
    finding_tables(&mut out, r);
    for p in &r.policy_sets {
        policy_set(&mut out, p);
    }
    namespaces(&mut out, &r.namespaces);
    out
}

pub(super) fn overview(out: &mut String, r: &Report) {
    let o = &r.overview;
    let _ = writeln!(out, "# flowpolicy report\n");
    let _ = writeln!(out, "Inputs: {}.\n", codes(&o.inputs));
    let _ = writeln!(
        out,
        "{} flows from {} to {}: {} workloads in {} namespaces, {} graph nodes, {} edges ({} edge ports, {} connections).\n",
        o.flows, o.first_flow, o.last_flow, o.workloads, o.namespaces, o.nodes, o.edges, o.edge_ports, o.connections
    );
    let mut gaps = Vec::new();
    if o.lost_events > 0 {
        gaps.push(format!("{} events lost by Hubble", o.lost_events));
    }
    if o.dropped_flows > 0 {
        gaps.push(format!("{} DROPPED flows", o.dropped_flows));
    }
    if o.undecided_flows > 0 {
        gaps.push(format!(
            "{} flows in {} peer pairs of undecided direction (not learned)",
            o.undecided_flows, o.undecided_pairs
        ));
    }
    if o.malformed_lines > 0 {
        gaps.push(format!(
            "{} malformed input lines skipped",
            o.malformed_lines
        ));
    }
    if !gaps.is_empty() {
        let _ = writeln!(out, "Gaps and anomalies: {}.\n", gaps.join("; "));
    }
    let _ = writeln!(out, "## Next week\n");
    let _ = writeln!(out, "{}.\n", escape(&r.next_week.line()));
    if !r.families.is_empty() {
        let _ = writeln!(
            out,
            "Families of instances, one policy per role: {}.\n",
            r.families
                .iter()
                .map(|f| escape(f))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

pub(super) fn finding_counts(out: &mut String, r: &Report) {
    let _ = writeln!(out, "## Findings\n");
    let _ = writeln!(out, "| Finding | Severity | Count |\n|---|---|---:|");
    for kind in FindingKind::ALL {
        let n = r.finding_counts.get(&kind).copied().unwrap_or(0);
        let severity = severities(r, kind);
        let _ = writeln!(
            out,
            "| {} (`{}`) | {severity} | {n} |",
            kind.title(),
            kind.as_str()
        );
    }
    out.push('\n');
    if let Some(n) = r.changed_findings {
        let _ = writeln!(
            out,
            "{n} findings concern policy files this pull request adds or changes (marked **changed**).\n"
        );
    }
}

fn finding_tables(out: &mut String, r: &Report) {
    if !r.findings.is_empty() {
        let _ = writeln!(out, "## Finding details\n");
    }
    let with_files = r.findings.iter().any(|f| !f.files.is_empty());
    for kind in FindingKind::ALL {
        let list: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {} ({})\n", kind.title(), list.len());
        let _ = writeln!(out, "{}\n", kind.why());
        finding_table(out, &list, with_files);
        out.push('\n');
    }
}

/// The rows of one kind's table (`with_files`: a column naming the policy
/// files each finding concerns, changed ones marked).
pub(super) fn finding_table(out: &mut String, list: &[&Finding], with_files: bool) {
    let (files_head, files_align) = if with_files {
        (" Policy files |", "---|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| Severity | Subject | Peer | Ports | Connections | Flows | First seen | Last seen | Detail |{files_head}\n|---|---|---|---|---:|---:|---|---|---|{files_align}"
    );
    for f in list {
        let peer = match (&f.peer, f.direction) {
            (Some(p), Some(d)) => format!("{} {}", d.arrow(), code(p)),
            (Some(p), None) => code(p),
            _ => String::new(),
        };
        let (conns, flows, first, last) = match &f.evidence {
            Some(e) => (
                e.connections.to_string(),
                e.flows.to_string(),
                e.first_seen.as_str(),
                e.last_seen.as_str(),
            ),
            None => (String::new(), String::new(), "", ""),
        };
        let files = if with_files {
            format!(" {} |", policy_files(&f.files))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {peer} | {} | {conns} | {flows} | {first} | {last} | {} |{files}",
            f.severity.as_str(),
            code(&f.subject),
            codes(&f.ports),
            escape(&f.detail)
        );
    }
}

/// Policy files of a finding, changed ones first and marked.
pub(super) fn policy_files(files: &[super::findings::PolicyFile]) -> String {
    files
        .iter()
        .map(|p| {
            if p.changed {
                format!("{} (**changed**)", code(&p.path))
            } else {
                code(&p.path)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The severities of a kind's findings, most severe first (`–`: none).
fn severities(r: &Report, kind: FindingKind) -> String {
    let mut v: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| f.severity)
        .collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        return "–".to_string();
    }
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn diagram(out: &mut String, r: &Report) {
    let _ = writeln!(out, "## Namespace graph\n");
    let _ = writeln!(
        out,
        "{} nodes, {} edges between them: namespaces (boxes), Cilium entities, CIDR groups and `world` (every other address or DNS name). Traffic inside a namespace is not drawn; dashed edges were seen only DROPPED.\n",
        r.diagram.nodes, r.diagram.edges
    );
    let _ = writeln!(out, "```mermaid\n{}```\n", r.diagram.mermaid);
}

/// A grid as a Markdown table under a bold heading (nothing when empty).
pub(super) fn table(out: &mut String, g: &Grid) {
    if g.rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "**{}**\n", g.heading);
    let align: Vec<&str> = g
        .numeric
        .iter()
        .map(|n| if *n { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "| {} |\n|{}|", g.columns.join(" | "), align.join("|"));
    for row in &g.rows {
        let cells: Vec<String> = row.iter().map(cell).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

fn cell(c: &Cell) -> String {
    match c {
        Cell::Code(s) => code(s),
        Cell::Codes(v) => codes(v),
        Cell::Num(n) => n.to_string(),
        Cell::Time(t) => t.clone(),
        Cell::Text(t) => escape(t),
    }
}

fn peer_table(
    out: &mut String,
    heading: &str,
    cols: (&'static str, &'static str),
    rows: &[PeerRow],
) {
    if rows.is_empty() {
        return;
    }
    table(out, &grid::peers(heading, cols, rows));
    out.push('\n');
}

fn namespaces(out: &mut String, sections: &[NamespaceSection]) {
    let _ = writeln!(out, "## Namespaces\n");
    for s in sections {
        let _ = writeln!(out, "### {}\n", escape(&s.name));
        let _ = writeln!(
            out,
            "{} workloads: {}.\n",
            s.workloads.len(),
            codes(&s.workloads)
        );
        if !s.classified.is_empty() {
            let c: Vec<String> = s
                .classified
                .iter()
                .map(|c| {
                    let roles: Vec<&str> = c.roles.iter().map(|r| r.describe()).collect();
                    format!("{} ({})", code(&c.workload), roles.join(", "))
                })
                .collect();
            let _ = writeln!(out, "Classified: {}.\n", c.join("; "));
        }
        peer_table(out, "Inbound", ("Workload", "From"), &s.inbound);
        peer_table(out, "Outbound", ("Workload", "To"), &s.outbound);
        peer_table(out, "Inside the namespace", ("From", "To"), &s.internal);
    }
}

fn drop_table(out: &mut String, heading: &str, rows: &[DropRow], more: usize) {
    if rows.is_empty() {
        return;
    }
    table(out, &grid::drops(heading, rows));
    if more > 0 {
        let _ = writeln!(out, "\n… and {more} more (run `flowpolicy verify`).");
    }
    out.push('\n');
}

fn policy_set(out: &mut String, p: &PolicySetSection) {
    policy_set_head(out, p);
    policy_set_rows(out, p);
}

/// The heading and the verify summary of a policy set.
pub(super) fn policy_set_head(out: &mut String, p: &PolicySetSection) {
    let s = &p.summary;
    let _ = writeln!(out, "## Policy set {}\n", code(&p.path));
    let _ = writeln!(
        out,
        "{} policies, {} allow rules ({} justified by observed connections, {} not). Of {} observed connections on {} edge ports: {} allowed, **{} would be dropped**, {} undecidable offline.{}\n",
        s.policies,
        p.rules,
        p.rules_justified,
        p.rules - p.rules_justified,
        s.observed.connections,
        s.observed.edge_ports,
        s.allowed.connections,
        s.dropped.connections,
        s.unknown.connections,
        if p.invalid_documents > 0 {
            format!(" {} invalid documents were skipped.", p.invalid_documents)
        } else {
            String::new()
        }
    );
    if s.policies == 0 {
        let _ = writeln!(
            out,
            "No policy documents were found there: nothing would be enforced.\n"
        );
    }
}

fn policy_set_rows(out: &mut String, p: &PolicySetSection) {
    drop_table(out, "Would be dropped", &p.would_drop, p.would_drop_more);
    drop_table(out, "Undecidable offline", &p.unknown, p.unknown_more);
    if !p.over_permissive.is_empty() {
        let _ = writeln!(out, "**Over-permissive rules**\n");
        let _ = writeln!(
            out,
            "| Kind | Policy | Rule | Source | Why |\n|---|---|---|---|---|"
        );
        for o in &p.over_permissive {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                code(o.kind),
                code(&o.policy),
                code(&o.rule),
                code(&o.source),
                escape(&o.message)
            );
        }
        if p.over_permissive_more > 0 {
            let _ = writeln!(
                out,
                "\n… and {} more (run `flowpolicy verify`).",
                p.over_permissive_more
            );
        }
        out.push('\n');
    }
    for n in &p.notes {
        let _ = writeln!(out, "- note: {}", escape(n));
    }
    if !p.notes.is_empty() {
        out.push('\n');
    }
}
