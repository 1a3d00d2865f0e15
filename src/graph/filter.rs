//! Checking a namespace filter (`recommend -n`) against the graph: a name
//! no observed workload has is a mistake (a typo, the wrong case, the wrong
//! capture), refused with the namespaces seen and the likeliest one meant.

use std::collections::BTreeSet;

use super::TrafficGraph;

/// The namespaces of the graph's workloads, sorted.
pub fn namespaces_seen(graph: &TrafficGraph) -> BTreeSet<String> {
    graph
        .workloads()
        .into_iter()
        .map(|w| w.namespace.clone())
        .collect()
}

/// `Err` naming every filter entry no workload has, with the namespaces
/// seen and a suggestion for each.
pub fn check_namespace_filter(graph: &TrafficGraph, filter: &[String]) -> Result<(), String> {
    let seen = namespaces_seen(graph);
    let unknown: Vec<&String> = filter.iter().filter(|n| !seen.contains(*n)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let each: Vec<String> = unknown
        .iter()
        .map(|n| match suggestion(n, &seen) {
            Some(s) => format!("{n:?} (did you mean {s:?}?)"),
            None => format!("{n:?}"),
        })
        .collect();
    let listed = if seen.is_empty() {
        "none".to_string()
    } else {
        seen.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    Err(format!(
        "--namespace {}: no observed workload is in {}; namespaces seen: {listed}",
        each.join(", "),
        if unknown.len() == 1 { "it" } else { "them" },
    ))
}

/// The namespace meant: the same name in another case, else the closest
/// within two edits (ties: the first in order).
pub fn suggestion<'a>(name: &str, seen: &'a BTreeSet<String>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    if let Some(s) = seen.iter().find(|s| s.to_lowercase() == lower) {
        return Some(s);
    }
    seen.iter()
        .map(|s| (edits(&lower, &s.to_lowercase()), s))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, s)| s.as_str())
}

/// Edit distance counting a swap of two neighbouring characters as one.
pub fn edits(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_by_case_then_by_edits() {
        let seen: BTreeSet<String> = ["downloads", "media", "dbms"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(suggestion("Downloads", &seen), Some("downloads"));
        assert_eq!(suggestion("downlaods", &seen), Some("downloads"));
        assert_eq!(suggestion("medai", &seen), Some("media"));
        assert_eq!(suggestion("network", &seen), None);
    }
}
