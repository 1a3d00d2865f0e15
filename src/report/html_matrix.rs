//! The namespace graph in the HTML page as an adjacency matrix (initiators
//! by row, responders by column, a cell per pair coloured by verdict) and
//! one neighbourhood panel per namespace (who it talks to, on which ports).
//! Both fit the page width with labels of at least 11 px whatever the
//! number of namespaces: the matrix scrolls inside its own box when it has
//! more columns than the page is wide, and the panels wrap.

use std::fmt::Write as _;

use super::html_text::escape;
use super::matrix::{Matrix, MatrixCell, Verdict};

/// Styles of the matrix and the panels (appended to the page's).
pub const STYLE: &str = ".scroll{overflow-x:auto;max-width:100%}\
table.matrix{display:table;border-collapse:collapse;font-size:12px;margin:.5em 0}\
table.matrix th,table.matrix td{padding:0;border:1px solid #d0d7de}\
table.matrix th.col{vertical-align:bottom;background:#f6f8fa;padding:4px 1px}\
table.matrix th.col span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;display:inline-block;max-height:11em;overflow:hidden;text-overflow:ellipsis}\
table.matrix th.row{white-space:nowrap;text-align:right;padding:0 6px;max-width:16em;overflow:hidden;text-overflow:ellipsis}\
table.matrix td{width:26px;min-width:26px;height:22px;text-align:center;font-size:11px}\
td.allowed{background:#aceebb}td.partly{background:#ffd8a8}td.dropped{background:#ff9492}\
td.new{outline:2px solid #0969da;outline-offset:-3px;font-weight:bold}td.self{background:#eaeef2}\
.legend span{display:inline-block;padding:0 .5em;margin-right:.4em;border:1px solid #d0d7de}\
.hoods{display:grid;grid-template-columns:repeat(auto-fill,minmax(19em,1fr));gap:.6em}\
.hood{border:1px solid #d0d7de;padding:.3em .7em;font-size:13px;overflow-wrap:anywhere}\
.hood h4{margin:.2em 0}.hood p{margin:.2em 0}";

/// Peers listed per direction in a panel; the rest are counted.
const PANEL_PEERS: usize = 12;

fn class(c: &MatrixCell) -> &'static str {
    match (c.verdict, c.new) {
        (Verdict::Allowed, false) => "allowed",
        (Verdict::Allowed, true) => "allowed new",
        (Verdict::PartlyDropped, false) => "partly",
        (Verdict::PartlyDropped, true) => "partly new",
        (Verdict::Dropped, false) => "dropped",
        (Verdict::Dropped, true) => "dropped new",
    }
}

fn tooltip(m: &Matrix, c: &MatrixCell) -> String {
    format!(
        "{} → {}: {} ({} workload edges, {} connections)",
        m.nodes[c.from],
        m.nodes[c.to],
        c.ports.join(", "),
        c.edges,
        c.connections
    )
}

/// The matrix over the nodes that have traffic with another node.
pub fn matrix(out: &mut String, m: &Matrix) {
    let nodes = m.active();
    if nodes.is_empty() {
        out.push_str("<p>No traffic between namespaces.</p>\n");
        return;
    }
    out.push_str("<p class=\"legend\">Rows open connections, columns accept them; a cell counts the distinct ports (hover for the list). <span class=\"allowed\" style=\"background:#aceebb\">allowed</span><span style=\"background:#ffd8a8\">partly DROPPED</span><span style=\"background:#ff9492\">only DROPPED</span><span style=\"outline:2px solid #0969da\">new in the last 24 h</span></p>\n");
    out.push_str("<div class=\"scroll\"><table class=\"matrix\"><tr><th></th>");
    for &j in &nodes {
        let name = escape(&m.nodes[j]);
        let _ = write!(
            out,
            "<th class=\"col\" title=\"{name}\"><span>{name}</span></th>"
        );
    }
    out.push_str("</tr>\n");
    for &i in &nodes {
        let name = escape(&m.nodes[i]);
        let _ = write!(out, "<tr><th class=\"row\" title=\"{name}\">{name}</th>");
        for &j in &nodes {
            match m.cell(i, j) {
                Some(c) => {
                    let _ = write!(
                        out,
                        "<td class=\"{}\" title=\"{}\">{}</td>",
                        class(c),
                        escape(&tooltip(m, c)),
                        c.ports.len()
                    );
                }
                None if i == j => out.push_str("<td class=\"self\"></td>"),
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}

fn peer_list(m: &Matrix, cells: &[&MatrixCell], other: impl Fn(&MatrixCell) -> usize) -> String {
    let mut parts: Vec<String> = cells
        .iter()
        .take(PANEL_PEERS)
        .map(|c| {
            let ports: Vec<&str> = c.ports.iter().take(3).map(String::as_str).collect();
            let extra = c.ports.len().saturating_sub(3);
            let mark = match c.verdict {
                Verdict::Allowed => "",
                Verdict::PartlyDropped => " (partly DROPPED)",
                Verdict::Dropped => " (DROPPED)",
            };
            format!(
                "<code>{}</code> {}{}{}",
                escape(&m.nodes[other(c)]),
                escape(&ports.join(", ")),
                if extra > 0 {
                    format!(" +{extra}")
                } else {
                    String::new()
                },
                mark
            )
        })
        .collect();
    if cells.len() > PANEL_PEERS {
        parts.push(format!("{} more", cells.len() - PANEL_PEERS));
    }
    parts.join("; ")
}

/// One panel per namespace with traffic to or from another node.
pub fn neighbourhoods(out: &mut String, m: &Matrix) {
    out.push_str("<div class=\"hoods\">\n");
    for i in 0..m.namespaces {
        let (outbound, inbound) = m.neighbourhood(i);
        if outbound.is_empty() && inbound.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<section class=\"hood\"><h4>{}</h4>",
            escape(&m.nodes[i])
        );
        if !inbound.is_empty() {
            let _ = write!(
                out,
                "<p><b>in ←</b> {}</p>",
                peer_list(m, &inbound, |c| c.from)
            );
        }
        if !outbound.is_empty() {
            let _ = write!(
                out,
                "<p><b>out →</b> {}</p>",
                peer_list(m, &outbound, |c| c.to)
            );
        }
        out.push_str("</section>\n");
    }
    out.push_str("</div>\n");
}
