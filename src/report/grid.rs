//! A table as both renderers see it: a heading, column titles and rows of
//! typed cells. The peer and drop tables of the model become grids once,
//! here; `markdown.rs` and `html.rs` only lay a grid out in their syntax
//! (and escape each cell as their syntax needs).

use super::policies::DropRow;
use super::tables::PeerRow;

/// One cell, by what it holds (which decides escaping and alignment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// A name, shown as code.
    Code(String),
    /// Several names (ports), shown as code, comma-separated.
    Codes(Vec<String>),
    /// A count (right-aligned).
    Num(u64),
    /// A time as RFC 3339.
    Time(String),
    /// Free text, escaped.
    Text(String),
}

/// A titled table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub heading: String,
    pub columns: Vec<&'static str>,
    /// Which columns are right-aligned counts.
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<Cell>>,
}

/// Inbound/outbound/internal peers of a namespace.
pub fn peers(heading: &str, cols: (&'static str, &'static str), rows: &[PeerRow]) -> Grid {
    Grid {
        heading: heading.to_string(),
        columns: vec![
            cols.0,
            cols.1,
            "Ports",
            "Connections",
            "Flows",
            "Dropped flows",
            "First seen",
            "Last seen",
        ],
        numeric: vec![false, false, false, true, true, true, false, false],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Code(r.workload.clone()),
                    Cell::Code(r.peer.clone()),
                    Cell::Codes(r.ports.clone()),
                    Cell::Num(r.connections),
                    Cell::Num(r.flows),
                    Cell::Num(r.dropped_flows),
                    Cell::Time(r.first_seen.clone()),
                    Cell::Time(r.last_seen.clone()),
                ]
            })
            .collect(),
    }
}

/// Connections a policy set would drop (or that Hubble saw dropped).
pub fn drops(heading: &str, rows: &[DropRow]) -> Grid {
    Grid {
        heading: heading.to_string(),
        columns: vec![
            "Source",
            "Destination",
            "Port",
            "Connections",
            "Flows",
            "Why",
        ],
        numeric: vec![false, false, false, true, true, false],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Code(r.source.clone()),
                    Cell::Code(r.destination.clone()),
                    Cell::Code(r.port.clone()),
                    Cell::Num(r.connections),
                    Cell::Num(r.flows),
                    Cell::Text(r.reason.clone()),
                ]
            })
            .collect(),
    }
}
