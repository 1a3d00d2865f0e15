//! The report as one self-contained HTML page: inline CSS, no script, no
//! external asset; the namespace graph as inline SVG (rendered by Graphviz
//! beforehand), or, without Graphviz, a note and the Mermaid source. Every
//! text from the model is escaped.

use std::fmt::Write as _;

use super::findings::{Finding, FindingKind};
use super::grid::{self, Cell, Grid};
use super::html_matrix;
use super::policies::{DropRow, PolicySetSection};
use super::tables::{NamespaceSection, PeerRow};
use super::Report;

/// The graph image: SVG from Graphviz, or why there is none.
pub type GraphImage = Result<String, String>;

pub use super::html_text::escape;

const STYLE: &str = "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#1f2328;max-width:110em}\
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}\
th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n{text-align:right}td.t{white-space:nowrap}code{font-size:.95em}\
.sev{font-weight:bold;text-transform:uppercase;font-size:.8em}\
.critical{color:#fff;background:#a40e26}.high{color:#fff;background:#d1242f}.medium{background:#fff8c5}.low{background:#ddf4ff}\
figure{margin:0;overflow:auto;border:1px solid #d0d7de;padding:.5em}figure svg{max-width:100%;height:auto}\
pre{background:#f6f8fa;padding:1em;overflow:auto}.why{color:#57606a}\
table{display:block;max-width:100%;overflow-x:auto}td code{overflow-wrap:anywhere}";

/// Largest graph drawn as an image: beyond it the labels of a page-wide
/// drawing fall under 11 px, and the matrix says it better.
pub const DRAWN_NODES: usize = 12;
pub const DRAWN_EDGES: usize = 30;

/// Escapes prose, turning `backticked` words into `<code>`.
fn prose(s: &str) -> String {
    s.split('`')
        .enumerate()
        .map(
            |(i, part)| {
                if i % 2 == 1 {
                    code(part)
                } else {
                    escape(part)
                }
            },
        )
        .collect()
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", escape(s))
}

fn codes(v: &[String]) -> String {
    v.iter().map(|s| code(s)).collect::<Vec<_>>().join(", ")
}

/// Renders the page.
pub fn render(r: &Report, image: &GraphImage) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n<title>flowpolicy report</title>\n<style>{STYLE}{}</style>\n</head>\n<body>\n",
        html_matrix::STYLE
    );
    overview(&mut out, r);
    finding_counts(&mut out, r);
    diagram(&mut out, r, image);
    finding_tables(&mut out, r);
    for p in &r.policy_sets {
        policy_set(&mut out, p);
    }
    namespaces(&mut out, &r.namespaces);
    out.push_str("</body>\n</html>\n");
    out
}

fn overview(out: &mut String, r: &Report) {
    let o = &r.overview;
    let _ = writeln!(out, "<h1>flowpolicy report</h1>");
    let _ = writeln!(out, "<p>Inputs: {}.</p>", codes(&o.inputs));
    let _ = writeln!(
        out,
        "<p>{} flows from {} to {}: {} workloads in {} namespaces, {} graph nodes, {} edges ({} edge ports, {} connections).</p>",
        o.flows,
        escape(&o.first_flow),
        escape(&o.last_flow),
        o.workloads,
        o.namespaces,
        o.nodes,
        o.edges,
        o.edge_ports,
        o.connections
    );
    let _ = writeln!(
        out,
        "<p>Lost events: {}. DROPPED flows: {}. Undecided-direction flows: {} in {} peer pairs. Malformed lines: {}.</p>",
        o.lost_events, o.dropped_flows, o.undecided_flows, o.undecided_pairs, o.malformed_lines
    );
    let _ = writeln!(out, "<h2>Next week</h2>");
    let _ = writeln!(out, "<p>{}.</p>", escape(&r.next_week.line()));
    if !r.families.is_empty() {
        let _ = writeln!(
            out,
            "<p>Families of instances, one policy per role: {}.</p>",
            r.families
                .iter()
                .map(|f| escape(f))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

fn finding_counts(out: &mut String, r: &Report) {
    let _ = writeln!(out, "<h2 id=\"findings\">Findings</h2>");
    let _ = writeln!(
        out,
        "<table><tr><th>Finding</th><th>Severity</th><th>Count</th></tr>"
    );
    for kind in FindingKind::ALL {
        let n = r.finding_counts.get(&kind).copied().unwrap_or(0);
        let mut sevs: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.severity)
            .collect();
        sevs.sort();
        sevs.dedup();
        let sev: Vec<String> = sevs
            .iter()
            .map(|s| format!("<span class=\"sev {0}\">{0}</span>", s.as_str()))
            .collect();
        let sev = sev.join(" ");
        let _ = writeln!(
            out,
            "<tr><td>{} (<code>{}</code>)</td><td>{sev}</td><td class=\"n\">{n}</td></tr>",
            escape(kind.title()),
            kind.as_str()
        );
    }
    out.push_str("</table>\n");
}

fn finding_tables(out: &mut String, r: &Report) {
    if !r.findings.is_empty() {
        out.push_str("<h2 id=\"finding-details\">Finding details</h2>\n");
    }
    let with_files = r.findings.iter().any(|f| !f.files.is_empty());
    for kind in FindingKind::ALL {
        let list: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<h3 id=\"{}\">{} ({})</h3>\n<p class=\"why\">{}</p>",
            kind.as_str(),
            escape(kind.title()),
            list.len(),
            prose(kind.why())
        );
        let _ = writeln!(
            out,
            "<table><tr><th>Severity</th><th>Subject</th><th>Peer</th><th>Ports</th><th>Connections</th><th>Flows</th><th>First seen</th><th>Last seen</th><th>Detail</th>{}</tr>",
            if with_files { "<th>Policy files</th>" } else { "" }
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
                    escape(&e.first_seen),
                    escape(&e.last_seen),
                ),
                None => Default::default(),
            };
            let sev = f.severity.as_str();
            let _ = write!(
                out,
                "<tr><td><span class=\"sev {sev}\">{sev}</span></td><td>{}</td><td>{peer}</td><td>{}</td><td class=\"n\">{conns}</td><td class=\"n\">{flows}</td><td class=\"t\">{first}</td><td class=\"t\">{last}</td><td>{}</td>",
                code(&f.subject),
                codes(&f.ports),
                escape(&f.detail)
            );
            if with_files {
                let files: Vec<String> = f
                    .files
                    .iter()
                    .map(|p| {
                        let mark = if p.changed {
                            " <strong>(changed)</strong>"
                        } else {
                            ""
                        };
                        format!("{}{mark}", code(&p.path))
                    })
                    .collect();
                let _ = write!(out, "<td>{}</td>", files.join(", "));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
}

fn diagram(out: &mut String, r: &Report, image: &GraphImage) {
    let _ = writeln!(out, "<h2 id=\"graph\">Namespace graph</h2>");
    let _ = writeln!(
        out,
        "<p>{} nodes, {} edges between them: namespaces, Cilium entities, CIDR groups and <code>world</code> (every other address or DNS name). Traffic inside a namespace is not shown (it is in the namespace tables).</p>",
        r.diagram.nodes, r.diagram.edges
    );
    let small = r.diagram.nodes <= DRAWN_NODES && r.diagram.edges <= DRAWN_EDGES;
    match image {
        Ok(svg) if small => {
            let _ = writeln!(out, "<p>Namespaces are boxes; dashed red edges were seen only DROPPED.</p>\n<figure>\n{svg}\n</figure>");
        }
        Err(why) if small => {
            let _ = writeln!(
                out,
                "<p><strong>No graph image:</strong> {}. The Mermaid source of the graph follows.</p>\n<pre>{}</pre>",
                escape(why),
                escape(&r.diagram.mermaid)
            );
        }
        _ => {}
    }
    let _ = writeln!(out, "<h3 id=\"matrix\">Who talks to whom</h3>");
    html_matrix::matrix(out, &r.matrix);
    let _ = writeln!(out, "<h3 id=\"neighbourhoods\">Neighbourhoods</h3>");
    html_matrix::neighbourhoods(out, &r.matrix);
}

/// A grid as an HTML table under an `h4` heading (nothing when empty).
fn table(out: &mut String, g: &Grid) {
    if g.rows.is_empty() {
        return;
    }
    let head: String = g.columns.iter().map(|c| format!("<th>{c}</th>")).collect();
    let _ = writeln!(out, "<h4>{}</h4>\n<table><tr>{head}</tr>", g.heading);
    for row in &g.rows {
        let cells: String = row.iter().map(cell).collect();
        let _ = writeln!(out, "<tr>{cells}</tr>");
    }
    out.push_str("</table>\n");
}

fn cell(c: &Cell) -> String {
    match c {
        Cell::Code(s) => format!("<td>{}</td>", code(s)),
        Cell::Codes(v) => format!("<td>{}</td>", codes(v)),
        Cell::Num(n) => format!("<td class=\"n\">{n}</td>"),
        Cell::Time(t) => format!("<td class=\"t\">{}</td>", escape(t)),
        Cell::Text(t) => format!("<td>{}</td>", escape(t)),
    }
}

fn peer_table(
    out: &mut String,
    heading: &str,
    cols: (&'static str, &'static str),
    rows: &[PeerRow],
) {
    table(out, &grid::peers(heading, cols, rows));
}

fn namespaces(out: &mut String, sections: &[NamespaceSection]) {
    let _ = writeln!(out, "<h2 id=\"namespaces\">Namespaces</h2>");
    for s in sections {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<p>{} workloads: {}.</p>",
            escape(&s.name),
            s.workloads.len(),
            codes(&s.workloads)
        );
        if !s.classified.is_empty() {
            let c: Vec<String> = s
                .classified
                .iter()
                .map(|c| {
                    let roles: Vec<&str> = c.roles.iter().map(|r| r.describe()).collect();
                    format!("{} ({})", code(&c.workload), escape(&roles.join(", ")))
                })
                .collect();
            let _ = writeln!(out, "<p>Classified: {}.</p>", c.join("; "));
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
        let _ = writeln!(
            out,
            "<p>… and {more} more (run <code>flowpolicy verify</code>).</p>"
        );
    }
}

fn policy_set(out: &mut String, p: &PolicySetSection) {
    let s = &p.summary;
    let _ = writeln!(out, "<h2>Policy set {}</h2>", code(&p.path));
    let _ = writeln!(
        out,
        "<p>{} policies, {} allow rules ({} justified by observed connections, {} not). Of {} observed connections on {} edge ports: {} allowed, <strong>{} would be dropped</strong>, {} undecidable offline. Invalid documents skipped: {}.</p>",
        s.policies,
        p.rules,
        p.rules_justified,
        p.rules - p.rules_justified,
        s.observed.connections,
        s.observed.edge_ports,
        s.allowed.connections,
        s.dropped.connections,
        s.unknown.connections,
        p.invalid_documents
    );
    if s.policies == 0 {
        out.push_str("<p>No policy documents were found there: nothing would be enforced.</p>\n");
    }
    drop_table(out, "Would be dropped", &p.would_drop, p.would_drop_more);
    drop_table(out, "Undecidable offline", &p.unknown, p.unknown_more);
    if !p.over_permissive.is_empty() {
        out.push_str("<h4>Over-permissive rules</h4>\n<table><tr><th>Kind</th><th>Policy</th><th>Rule</th><th>Source</th><th>Why</th></tr>\n");
        for o in &p.over_permissive {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                code(o.kind),
                code(&o.policy),
                code(&o.rule),
                code(&o.source),
                escape(&o.message)
            );
        }
        out.push_str("</table>\n");
        if p.over_permissive_more > 0 {
            let _ = writeln!(
                out,
                "<p>… and {} more (run <code>flowpolicy verify</code>).</p>",
                p.over_permissive_more
            );
        }
    }
    if !p.notes.is_empty() {
        out.push_str("<ul>\n");
        for n in &p.notes {
            let _ = writeln!(out, "<li>note: {}</li>", escape(n));
        }
        out.push_str("</ul>\n");
    }
}
