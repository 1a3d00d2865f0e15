//! Listing generated policy files in an app's existing `kustomization.yaml`
//! (gitops layout) as a hand-made edit would: one line added after the last
//! entry of `resources` (its indentation, quoting and `./` style), every
//! other byte kept — comments, `---`, the `# yaml-language-server` line,
//! blank lines, order. The result is proven by parsing both texts: the new
//! one must equal the old one with the file appended to `resources`, or the
//! edit is left to the user. A kustomization is never created (Flux builds
//! one from the directory when there is none) — its absence is reported.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_yaml::Value;

use super::refresh::FileChange;

/// The file names kustomize looks for, in its order.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// What adding `file` to the kustomization of `dir` (under `root`) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KustomizationEdit {
    /// Add the entry: the new text of the kustomization.
    Change(FileChange),
    /// Already listed.
    Listed,
    /// There is no kustomization in the directory.
    Missing(PathBuf),
    /// It could not be read as a kustomization (why).
    Unusable(String),
}

/// Works out the edit that lists `file` (a name in `dir`) in `dir`'s
/// kustomization; reads only.
pub fn add_resource(root: &Path, dir: &Path, file: &str) -> Result<KustomizationEdit> {
    let Some(name) = KUSTOMIZATION_FILES
        .iter()
        .find(|n| root.join(dir).join(n).is_file())
    else {
        return Ok(KustomizationEdit::Missing(root.join(dir)));
    };
    let rel = dir.join(name);
    let full = root.join(&rel);
    let old = fs::read_to_string(&full).with_context(|| format!("reading {}", full.display()))?;
    let mut doc: Value = match serde_yaml::from_str(&old) {
        Ok(v) => v,
        Err(e) => {
            return Ok(KustomizationEdit::Unusable(format!(
                "{}: not valid YAML ({e}); add {file} to its resources by hand",
                full.display()
            )))
        }
    };
    let Value::Mapping(map) = &mut doc else {
        return Ok(KustomizationEdit::Unusable(format!(
            "{}: not a mapping; add {file} to its resources by hand",
            full.display()
        )));
    };
    let listed = map
        .get("resources")
        .and_then(Value::as_sequence)
        .is_some_and(|list| {
            list.iter().any(|v| {
                v.as_str()
                    .is_some_and(|s| s.trim_start_matches("./").trim_end_matches('/') == file)
            })
        });
    if listed {
        return Ok(KustomizationEdit::Listed);
    }
    match with_resource(&old, file) {
        Some(new) => Ok(KustomizationEdit::Change(FileChange {
            path: rel,
            old: Some(old),
            new,
        })),
        None => Ok(KustomizationEdit::Unusable(format!(
            "{}: its `resources` could not be extended by a one-line edit (a flow-style or unusual list); add {file} to it by hand",
            full.display()
        ))),
    }
}

/// `old` with `file` added as the last entry of its top-level `resources`
/// list by inserting one line (or, without the key, appending it), checked
/// by parsing; `None` when no such edit gives exactly that.
pub fn with_resource(old: &str, file: &str) -> Option<String> {
    let eol = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let key = lines.iter().position(|l| {
        l.strip_prefix("resources:").is_some_and(|rest| {
            let rest = rest.trim();
            rest.is_empty() || rest.starts_with('#')
        })
    });
    let (new, entry) = match key {
        Some(k) => {
            let mut last = k;
            let mut item: Option<&str> = None;
            for (i, l) in lines.iter().enumerate().skip(k + 1) {
                let body = l.trim_end_matches(['\n', '\r']);
                let trimmed = body.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let at_col0 = !body.starts_with([' ', '\t']);
                if at_col0 && !(trimmed == "-" || trimmed.starts_with("- ")) {
                    break;
                }
                if trimmed.starts_with("- ") || trimmed == "-" {
                    item = Some(body);
                }
                last = i;
            }
            let (indent, value) = match item {
                Some(body) => {
                    let indent = &body[..body.len() - body.trim_start().len()];
                    let value = body.trim_start()[1..].trim_start();
                    (indent.to_string(), value.to_string())
                }
                None => ("  ".to_string(), String::new()),
            };
            let entry = styled(&value, file);
            let mut text: String = lines[..=last].concat();
            if !text.ends_with('\n') {
                text.push_str(eol);
            }
            text.push_str(&format!("{indent}- {entry}{eol}"));
            text.push_str(&lines[last + 1..].concat());
            (text, entry)
        }
        None => {
            let entry = format!("./{file}");
            let mut text = old.to_string();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push_str(eol);
            }
            text.push_str(&format!("resources:{eol}  - {entry}{eol}"));
            (text, entry)
        }
    };
    let appended: String = serde_yaml::from_str::<String>(&entry).ok()?;
    proven(old, &new, &appended).then_some(new)
}

/// The new entry in the style of the last one: its quotes and `./`.
fn styled(last: &str, file: &str) -> String {
    let value = last.split(" #").next().unwrap_or("").trim();
    let (quote, inner) = match value.chars().next() {
        Some(q @ ('"' | '\'')) => (q.to_string(), value.trim_matches(q)),
        _ => (String::new(), value),
    };
    let dot = if inner.is_empty() || inner.starts_with("./") {
        "./"
    } else {
        ""
    };
    format!("{quote}{dot}{file}{quote}")
}

/// `new` parses to `old` with `entry` appended to `resources`.
fn proven(old: &str, new: &str, entry: &str) -> bool {
    let (Ok(Value::Mapping(mut a)), Ok(Value::Mapping(mut b))) = (
        serde_yaml::from_str::<Value>(old),
        serde_yaml::from_str::<Value>(new),
    ) else {
        return false;
    };
    let mut expected = match a.remove("resources") {
        Some(Value::Sequence(s)) => s,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return false,
    };
    expected.push(Value::String(entry.to_string()));
    let got = b.remove("resources");
    a == b && got == Some(Value::Sequence(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `resources` entries of a kustomization, as kustomize reads them.
    fn resources(text: &str) -> Vec<String> {
        let v: Value = serde_yaml::from_str(text).unwrap();
        v["resources"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn adds_the_file_keeping_other_entries_and_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Path::new("media/immich/app");
        fs::create_dir_all(tmp.path().join(dir)).unwrap();
        let k = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./helmrelease.yaml\n  - ./pvc.yaml\nconfigMapGenerator:\n  - name: x\n";
        fs::write(tmp.path().join(dir).join("kustomization.yaml"), k).unwrap();
        let KustomizationEdit::Change(c) =
            add_resource(tmp.path(), dir, "networkpolicy.yaml").unwrap()
        else {
            panic!("expected a change")
        };
        assert_eq!(
            resources(&c.new),
            ["./helmrelease.yaml", "./pvc.yaml", "./networkpolicy.yaml"]
        );
        assert!(c.new.find("resources").unwrap() < c.new.find("configMapGenerator").unwrap());
        let v: Value = serde_yaml::from_str(&c.new).unwrap();
        assert_eq!(v["kind"].as_str(), Some("Kustomization"));
        fs::write(tmp.path().join(dir).join("kustomization.yaml"), &c.new).unwrap();
        assert_eq!(
            add_resource(tmp.path(), dir, "networkpolicy.yaml").unwrap(),
            KustomizationEdit::Listed
        );
        assert!(matches!(
            add_resource(tmp.path(), Path::new("none"), "networkpolicy.yaml").unwrap(),
            KustomizationEdit::Missing(_)
        ));
    }

    /// A kustomization as people write them: `---`, the schema comment,
    /// comments between and after entries, a zero-indented list, quotes.
    const HAND_MADE: &str = "---\n# yaml-language-server: $schema=https://json.schemastore.org/kustomization\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\nresources:\n# the app\n- \"./helmrelease.yaml\"   # chart\n  # - ./disabled.yaml\n- \"./pvc.yaml\"\n\n# generators below\nconfigMapGenerator:\n  - name: x\n    files:\n      - config.yaml\n";

    #[test]
    fn adding_a_resource_is_a_one_line_edit_that_keeps_every_other_byte() {
        let new = with_resource(HAND_MADE, "networkpolicy.yaml").unwrap();
        let added: Vec<&str> = new.lines().filter(|l| !HAND_MADE.contains(l)).collect();
        assert_eq!(added, ["- \"./networkpolicy.yaml\""]);
        assert_eq!(new.lines().count(), HAND_MADE.lines().count() + 1);
        let removed: String = new.replacen("- \"./networkpolicy.yaml\"\n", "", 1);
        assert_eq!(removed, HAND_MADE);
        assert!(new.find("networkpolicy").unwrap() < new.find("# generators").unwrap());
        // Kustomize's parser (serde_yaml here) sees the old list plus the file.
        assert_eq!(
            resources(&new),
            ["./helmrelease.yaml", "./pvc.yaml", "./networkpolicy.yaml"]
        );
    }

    #[test]
    fn indentation_crlf_and_a_missing_key_are_kept_or_added() {
        let crlf = "kind: Kustomization\r\nresources:\r\n    - a.yaml\r\nnamespace: x\r\n";
        assert_eq!(
            with_resource(crlf, "np.yaml").unwrap(),
            "kind: Kustomization\r\nresources:\r\n    - a.yaml\r\n    - np.yaml\r\nnamespace: x\r\n"
        );
        let none = "# comment\nkind: Kustomization\nnamespace: x";
        assert_eq!(
            with_resource(none, "np.yaml").unwrap(),
            "# comment\nkind: Kustomization\nnamespace: x\nresources:\n  - ./np.yaml\n"
        );
        // A flow-style list cannot take a one-line edit: left to the user.
        assert_eq!(with_resource("resources: [a.yaml]\n", "np.yaml"), None);
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join("kustomization.yaml"),
            "resources: [a.yaml]\n",
        )
        .unwrap();
        assert!(matches!(
            add_resource(tmp.path(), Path::new(""), "np.yaml").unwrap(),
            KustomizationEdit::Unusable(why) if why.contains("by hand")
        ));
    }
}
