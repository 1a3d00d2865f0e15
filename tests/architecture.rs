//! The shape of src/: every stage imports only the floors below it, and no
//! two files import each other, directly or around a circle.
//!
//! The floors (docs/architecture.md has the table of what each owns):
//!
//! | floor | rooms |
//! |---|---|
//! | 0, ground | `proto`, `peer`, `policy`, `brief`, `timings` |
//! | 1 | `source` |
//! | 2 | `interpret` |
//! | 3 | `graph` |
//! | 4 | `baseline` |
//! | 5 | `synth`, `verify` |
//! | 6 | `render` |
//! | 7 | `report`, `watch` |
//! | 8 | `cli` |
//!
//! A room may import any room on a lower floor, none on its own floor or
//! above. Imports are read from the code as written: every `crate::…` path
//! and every `super::…` path outside comments, up to the file's test module
//! (clippy keeps test modules last), resolved to the file that defines the
//! module the path names. `main.rs` and `lib.rs` stand above everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const FLOORS: &[&[&str]] = &[
    &["proto", "peer", "policy", "brief", "timings"],
    &["source"],
    &["interpret"],
    &["graph"],
    &["baseline"],
    &["synth", "verify"],
    &["render"],
    &["report", "watch"],
    &["cli"],
];

/// A module path inside the crate (`["source", "relay", "door"]`).
type ModPath = Vec<String>;

fn floor_of(room: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&room))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `[a, b]`; `src/lib.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: ModPath = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file that counts: comment lines dropped, and nothing from
/// its `#[cfg(test)]` module on.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path the code names from `prefix` on (`crate::`, `super::`),
/// with `{a, b::c}` groups expanded: `crate::x::{a, b::c}` gives
/// `x::a` and `x::b::c`.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut base = Vec::new();
        let mut s = rest;
        loop {
            let end = s
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            if end == 0 {
                break;
            }
            base.push(s[..end].to_string());
            s = &s[end..];
            if let Some(next) = s.strip_prefix("::") {
                s = next;
            } else {
                break;
            }
        }
        if s.starts_with('{') {
            let close = s.find('}').unwrap_or(s.len());
            for item in s[1..close].split(',') {
                let item = item.split_whitespace().next().unwrap_or("");
                let mut p = base.clone();
                p.extend(
                    item.split("::")
                        .filter(|x| !x.is_empty() && *x != "self")
                        .map(str::to_string),
                );
                found.push(p);
            }
        } else {
            found.push(base);
        }
    }
    found
}

/// The longest prefix of `path` that is a module with a file.
fn resolve(modules: &BTreeSet<ModPath>, path: &[String]) -> Option<ModPath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

/// File-level imports of src/: module → modules it names.
fn imports(src: &Path) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for file in &files {
        let me = module_of(src, file);
        let text = code(&std::fs::read_to_string(file).unwrap());
        let targets = edges.entry(me.clone()).or_default();
        for p in paths_after(&text, "crate::") {
            if let Some(t) = resolve(&modules, &p) {
                targets.insert(t);
            }
        }
        for p in paths_after(&text, "super::") {
            // `super` of a file module is its parent; of `a/mod.rs`, the
            // parent of `a`.
            let mut parent = me.clone();
            parent.pop();
            let mut full = parent;
            full.extend(p);
            if let Some(t) = resolve(&modules, &full) {
                targets.insert(t);
            }
        }
        targets.retain(|t| *t != me && !t.is_empty());
    }
    edges
}

fn src_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("/")
    }
}

#[test]
fn every_room_imports_only_lower_floors() {
    let edges = imports(&src_dir());
    let mut wrong = Vec::new();
    for (from, tos) in &edges {
        let Some(room) = from.first() else { continue };
        if room == "main" || room == "lib" {
            continue;
        }
        let Some(mine) = floor_of(room) else {
            wrong.push(format!(
                "src/{room} is on no floor: add it to FLOORS and docs/architecture.md"
            ));
            continue;
        };
        for to in tos {
            let other = &to[0];
            if other == room {
                continue;
            }
            match floor_of(other) {
                Some(theirs) if theirs < mine => {}
                _ => wrong.push(format!(
                    "{} (floor {mine}) imports {} (floor {})",
                    name(from),
                    name(to),
                    floor_of(other).map_or("none".to_string(), |f| f.to_string())
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run up or sideways:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn no_two_files_import_each_other_around_a_circle() {
    let edges = imports(&src_dir());
    // Tarjan's strongly connected components; any with two or more files is
    // a circle.
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        circles: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(tos) = s.edges.get(v) {
            for w in tos {
                let Some((w, _)) = s.edges.get_key_value(w) else {
                    continue;
                };
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut circle = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                circle.push(name(w));
                if w == v {
                    break;
                }
            }
            if circle.len() > 1 {
                circle.sort();
                s.circles.push(circle);
            }
        }
    }
    let mut s = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        circles: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    assert!(
        s.circles.is_empty(),
        "files that import each other around a circle: {:?}",
        s.circles
    );
}

#[test]
fn the_checker_sees_imports_groups_and_circles() {
    let code = code(
        "use crate::graph::{builder::GraphBuilder, TrafficGraph};\n// use crate::cli::x;\nlet a = crate::peer::l4::PortKey;\n#[cfg(test)]\nuse crate::report::y;\n",
    );
    let paths = paths_after(&code, "crate::");
    assert_eq!(
        paths,
        [
            vec!["graph", "builder", "GraphBuilder"],
            vec!["graph", "TrafficGraph"],
            vec!["peer", "l4", "PortKey"],
        ]
    );
    let edges = imports(&src_dir());
    let door = vec!["source".to_string(), "relay".into(), "door".into()];
    assert!(
        edges[&door].contains(&vec!["source".to_string(), "sink".into()]),
        "{:?}",
        edges[&door]
    );
}

/// The module dependency list by floor, printed for the closing note and
/// docs (`cargo test --test tests architecture -- --nocapture`).
#[test]
fn print_the_rooms_and_what_they_import() {
    let edges = imports(&src_dir());
    let mut by_room: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in &edges {
        let Some(room) = from.first() else { continue };
        let entry = by_room.entry(room.clone()).or_default();
        for to in tos {
            if &to[0] != room {
                entry.insert(to[0].clone());
            }
        }
    }
    for (floor, rooms) in FLOORS.iter().enumerate().rev() {
        for room in *rooms {
            let uses = by_room.get(*room).cloned().unwrap_or_default();
            eprintln!(
                "floor {floor}: {room} -> {}",
                uses.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
}
