//! Damaging real dump lines the way disks, bad copies and concatenated files
//! do: byte flips, truncation, JSON type swaps, huge and negative numbers,
//! invalid UTF-8, deep nesting, very long strings, damaged names and labels,
//! and two lines run together. Deterministic for a seed (splitmix64).

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

/// splitmix64: small, fast, the same on every platform and version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// The kinds of damage, for the figures.
pub const KINDS: &[&str] = &[
    "byte-flip",
    "truncate",
    "type-swap",
    "number",
    "invalid-utf8",
    "deep-nesting",
    "long-string",
    "damaged-name",
    "concatenated",
];

/// Damages one line; returns the kind of damage done.
pub fn mutate(line: &[u8], other: &[u8], rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let kind = KINDS[rng.below(KINDS.len())];
    let out = match kind {
        "byte-flip" => {
            let mut v = line.to_vec();
            for _ in 0..=rng.below(3) {
                let at = rng.below(v.len());
                v[at] ^= 1 << rng.below(8);
            }
            v
        }
        "truncate" => line[..rng.below(line.len())].to_vec(),
        "invalid-utf8" => {
            let mut v = line.to_vec();
            // Inside a string value, where the decoder must notice.
            let quotes: Vec<usize> = v
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'"')
                .map(|(i, _)| i)
                .collect();
            let at = quotes.get(rng.below(quotes.len())).copied().unwrap_or(0) + 1;
            let junk: &[u8] =
                [&[0xff, 0xfe][..], &[0xc3][..], &[0xed, 0xa0, 0x80][..]][rng.below(3)];
            v.splice(at.min(v.len())..at.min(v.len()), junk.iter().copied());
            v
        }
        "deep-nesting" => {
            let depth = [20, 200, 5000][rng.below(3)];
            let mut v = Vec::new();
            v.extend_from_slice(b"{\"flow\":");
            v.extend(std::iter::repeat_n(b'[', depth));
            v.extend_from_slice(&line[..line.len().min(64)]);
            v.extend(std::iter::repeat_n(b']', depth));
            v.push(b'}');
            v
        }
        "concatenated" => {
            let mut v = line[..rng.below(line.len())].to_vec();
            v.extend_from_slice(other);
            v
        }
        structured => match serde_json::from_slice::<Value>(line) {
            Ok(mut value) => {
                damage_value(&mut value, structured, rng);
                serde_json::to_vec(&value).unwrap_or_else(|_| line.to_vec())
            }
            Err(_) => line.to_vec(),
        },
    };
    (out, kind)
}

/// Calls `f` on every leaf (string, number, bool, null) with whether it
/// lies under a name-like field.
fn visit(v: &mut Value, in_name: bool, f: &mut dyn FnMut(&mut Value, bool)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                visit(child, in_name || NAME_FIELDS.contains(&k.as_str()), f);
            }
        }
        Value::Array(items) => {
            for child in items {
                visit(child, in_name, f);
            }
        }
        leaf => f(leaf, in_name),
    }
}

const NAME_FIELDS: &[&str] = &[
    "labels",
    "namespace",
    "pod_name",
    "workloads",
    "source_names",
    "destination_names",
    "query",
];

fn damage_value(v: &mut Value, kind: &str, rng: &mut Rng) {
    let eligible = |leaf: &Value, in_name: bool| match kind {
        "number" => leaf.is_number(),
        "damaged-name" => in_name && leaf.is_string(),
        _ => true,
    };
    let mut count = 0usize;
    visit(v, false, &mut |leaf, in_name| {
        if eligible(leaf, in_name) {
            count += 1;
        }
    });
    if count == 0 {
        return;
    }
    let target = rng.below(count);
    let mut seen = 0usize;
    visit(v, false, &mut |leaf, in_name| {
        if eligible(leaf, in_name) {
            if seen == target {
                damage_leaf(leaf, kind, rng);
            }
            seen += 1;
        }
    });
}

fn damage_leaf(slot: &mut Value, kind: &str, rng: &mut Rng) {
    *slot = match kind {
        "type-swap" => match &*slot {
            Value::String(s) => [
                Value::from(s.len()),
                Value::Array(vec![Value::String(s.clone())]),
                serde_json::json!({"x": s.clone()}),
                Value::Null,
                Value::Bool(true),
            ][rng.below(5)]
            .clone(),
            Value::Number(n) => [
                Value::String(n.to_string()),
                Value::Array(vec![]),
                serde_json::json!({}),
                Value::Bool(false),
            ][rng.below(4)]
            .clone(),
            other => Value::String(other.to_string()),
        },
        "number" => {
            let numbers = [
                serde_json::json!(-1),
                serde_json::json!(65536),
                serde_json::json!(4294967296u64),
                serde_json::json!(-9223372036854775807i64),
                serde_json::json!(18446744073709551615u64),
                serde_json::json!(1e308),
                serde_json::json!(2.5),
                serde_json::json!(99999999999i64),
            ];
            numbers[rng.below(numbers.len())].clone()
        }
        "long-string" => Value::String("a".repeat([300, 70_000][rng.below(2)])),
        // damaged-name: one character changed, inserted or dropped
        _ => match &*slot {
            Value::String(s) if !s.is_empty() => {
                let mut chars: Vec<char> = s.chars().collect();
                let at = rng.below(chars.len());
                let junk = [
                    ' ', 'X', '.', '/', '=', ':', '-', '_', 'é', '\u{0}', 'q', '7',
                ][rng.below(12)];
                match rng.below(3) {
                    0 => chars[at] = junk,
                    1 => chars.insert(at, junk),
                    _ => {
                        chars.remove(at);
                    }
                }
                Value::String(chars.into_iter().collect())
            }
            other => other.clone(),
        },
    };
}

/// The always-present base: the demo fixture's lines.
pub fn demo_lines() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
    let file = std::fs::File::open(&path).expect("the demo fixture is in the repository");
    let decoder = zstd::stream::read::Decoder::new(file).expect("zstd");
    BufReader::new(decoder)
        .split(b'\n')
        .map(|l| l.expect("readable fixture"))
        .filter(|l| !l.is_empty())
        .collect()
}

/// The real dumps' lines (the optional corpus: `FLOWPOLICY_CORPUS`, default
/// `../shared/data`), or `None` after the usual skip line when absent.
pub fn corpus_lines() -> Option<Vec<Vec<u8>>> {
    let files =
        crate::common::real_dumps("mutating real dumps (the demo fixture is mutated alone)")?;
    let mut lines = Vec::new();
    for f in files {
        let text = std::fs::read(&f).unwrap_or_default();
        lines.extend(
            text.split(|b| *b == b'\n')
                .filter(|l| l.first() == Some(&b'{'))
                .map(<[u8]>::to_vec),
        );
    }
    Some(lines)
}
