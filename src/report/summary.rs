//! The Markdown report cut to fit a pull-request comment (`report
//! --summary`): at most [`LIMIT`] characters, guaranteed. The head (the
//! overview and the count of every finding kind) always fits; then come
//! whole sections in order of what a reviewer must see first — findings on
//! the files the pull request changes, findings by severity, the namespace
//! graph (busiest pairs when it is too large to draw), policy sets, and one
//! line per namespace. Long tables keep their first [`ROWS`] rows and say
//! how many more the full report has; a section that does not fit is left
//! out whole (never cut inside a table) and named in a closing line that
//! points at the full report.

use std::fmt::Write as _;

use super::findings::{Finding, FindingKind};
use super::grid;
use super::markdown::{self, code, escape};
use super::matrix::Verdict;
use super::Report;

/// GitHub accepts 65,536 characters in a comment or description; the
/// summary keeps a margin for what a bot adds around it.
pub const LIMIT: usize = 60_000;

/// Rows shown per table; the rest are counted.
pub const ROWS: usize = 25;

/// Most inputs and families named in the head.
const HEAD_ITEMS: usize = 10;

/// Room kept for the closing line.
const RESERVE: usize = 2_000;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// One section: a title (for the closing line) and its Markdown.
struct Block {
    title: String,
    text: String,
}

/// `… N more in the full report FILE.` after a shortened table.
fn more(out: &mut String, n: usize, full: &str) {
    if n > 0 {
        let _ = writeln!(out, "\n… {n} more in the full report {full}.");
    }
}

/// Renders the summary; `full` names the full report (e.g. `` `report.md` ``).
pub fn render(r: &Report, full: &str) -> String {
    let full: String = full.chars().take(300).collect();
    let mut out = head(r, &full);
    let mut left_out: Vec<String> = Vec::new();
    for b in blocks(r, &full) {
        if chars(&out) + chars(&b.text) + RESERVE <= LIMIT {
            out.push_str(&b.text);
        } else {
            left_out.push(b.title);
        }
    }
    if !left_out.is_empty() {
        let mut titles: Vec<String> = left_out
            .iter()
            .take(HEAD_ITEMS)
            .map(|t| t.chars().take(80).collect())
            .collect();
        if left_out.len() > HEAD_ITEMS {
            titles.push(format!("{} more", left_out.len() - HEAD_ITEMS));
        }
        let _ = writeln!(
            out,
            "---\n\n{} more sections did not fit in a pull-request comment ({}): they are in the full report {full}.",
            left_out.len(),
            titles.join("; ")
        );
    }
    out
}

/// The overview and the finding counts, with lists capped.
fn head(r: &Report, full: &str) -> String {
    let mut small = Report {
        overview: r.overview.clone(),
        finding_counts: r.finding_counts.clone(),
        findings: r.findings.clone(),
        next_week: r.next_week.clone(),
        families: r.families.iter().take(HEAD_ITEMS).cloned().collect(),
        changed_findings: r.changed_findings,
        ..Report::default()
    };
    let inputs = &mut small.overview.inputs;
    if inputs.len() > HEAD_ITEMS {
        let n = inputs.len() - HEAD_ITEMS;
        inputs.truncate(HEAD_ITEMS);
        inputs.push(format!("… {n} more"));
    }
    for i in inputs.iter_mut() {
        *i = i.chars().take(200).collect();
    }
    let mut out = String::new();
    markdown::overview(&mut out, &small);
    out = out.replacen(
        "# flowpolicy report\n",
        &format!("# flowpolicy report (summary)\n\nFits a pull-request comment; the full report is {full}.\n"),
        1,
    );
    markdown::finding_counts(&mut out, &small);
    out
}

fn blocks(r: &Report, full: &str) -> Vec<Block> {
    let mut v = Vec::new();
    let with_files = r.findings.iter().any(|f| !f.files.is_empty());
    if r.changed_findings.is_some() {
        let list: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.files.iter().any(|p| p.changed))
            .collect();
        let mut text = format!(
            "## Findings on policy files this pull request changes ({})\n\n",
            list.len()
        );
        if list.is_empty() {
            text.push_str("None.\n\n");
        } else {
            markdown::finding_table(&mut text, &list[..list.len().min(ROWS)], true);
            more(&mut text, list.len().saturating_sub(ROWS), full);
            text.push('\n');
        }
        v.push(Block {
            title: "findings on changed files".into(),
            text,
        });
    }
    for kind in FindingKind::ALL {
        let mut list: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == kind).collect();
        if list.is_empty() {
            continue;
        }
        // Findings on changed files first; otherwise the report's order.
        list.sort_by_key(|f| !f.files.iter().any(|p| p.changed));
        let mut text = format!(
            "### {} ({})\n\n{}\n\n",
            kind.title(),
            list.len(),
            kind.why()
        );
        markdown::finding_table(&mut text, &list[..list.len().min(ROWS)], with_files);
        more(&mut text, list.len().saturating_sub(ROWS), full);
        text.push('\n');
        v.push(Block {
            title: kind.title().to_string(),
            text,
        });
    }
    v.push(graph_block(r, full));
    for p in &r.policy_sets {
        let mut text = String::new();
        markdown::policy_set_head(&mut text, p);
        let rows = &p.would_drop[..p.would_drop.len().min(ROWS)];
        if !rows.is_empty() {
            markdown::table(&mut text, &grid::drops("Would be dropped", rows));
            more(
                &mut text,
                p.would_drop.len() - rows.len() + p.would_drop_more,
                full,
            );
            text.push('\n');
        }
        let hidden = p.unknown.len() + p.unknown_more + p.over_permissive.len();
        if hidden > 0 {
            let _ = writeln!(
                &mut text,
                "{} undecidable connections and {} over-permissive rules: in the full report {full}.\n",
                p.unknown.len() + p.unknown_more,
                p.over_permissive.len() + p.over_permissive_more
            );
        }
        v.push(Block {
            title: format!("policy set {}", p.path),
            text,
        });
    }
    v.push(namespaces_block(r, full));
    v
}

/// The Mermaid graph when it is small enough to read, else the busiest
/// namespace pairs as a table.
fn graph_block(r: &Report, full: &str) -> Block {
    let mut text = String::from("## Namespace graph\n\n");
    if r.diagram.edges <= 30 {
        let _ = writeln!(text, "```mermaid\n{}```\n", r.diagram.mermaid);
    } else {
        let m = &r.matrix;
        let mut cells: Vec<_> = m.cells.iter().collect();
        cells.sort_by(|a, b| b.connections.cmp(&a.connections).then(a.from.cmp(&b.from)));
        let _ = writeln!(
            text,
            "{} nodes and {} edges are too many to draw legibly here; the busiest pairs follow (the HTML report, `--html`, shows all as a matrix).\n",
            r.diagram.nodes, r.diagram.edges
        );
        text.push_str("| From | To | Ports | Workload edges | Connections | Seen |\n|---|---|---|---:|---:|---|\n");
        for c in cells.iter().take(ROWS * 2) {
            let ports: Vec<String> = c.ports.iter().take(5).cloned().collect();
            let extra = c.ports.len().saturating_sub(5);
            let seen = match (c.verdict, c.new) {
                (Verdict::Allowed, false) => "allowed",
                (Verdict::Allowed, true) => "allowed, new",
                (Verdict::PartlyDropped, _) => "partly DROPPED",
                (Verdict::Dropped, _) => "only DROPPED",
            };
            let _ = writeln!(
                text,
                "| {} | {} | {}{} | {} | {} | {seen} |",
                code(&m.nodes[c.from]),
                code(&m.nodes[c.to]),
                markdown::codes(&ports),
                if extra > 0 {
                    format!(" +{extra}")
                } else {
                    String::new()
                },
                c.edges,
                c.connections
            );
        }
        more(&mut text, cells.len().saturating_sub(ROWS * 2), full);
        text.push('\n');
    }
    Block {
        title: "namespace graph".into(),
        text,
    }
}

/// One line per namespace: its workloads and peer pairs.
fn namespaces_block(r: &Report, full: &str) -> Block {
    let mut text = String::from("## Namespaces\n\n| Namespace | Workloads | Inbound pairs | Outbound pairs | Inside pairs |\n|---|---:|---:|---:|---:|\n");
    let shown = r.namespaces.len().min(ROWS * 8);
    for s in &r.namespaces[..shown] {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} |",
            escape(&s.name),
            s.workloads.len(),
            s.inbound.len(),
            s.outbound.len(),
            s.internal.len()
        );
    }
    more(&mut text, r.namespaces.len() - shown, full);
    text.push('\n');
    Block {
        title: "namespaces".into(),
        text,
    }
}
