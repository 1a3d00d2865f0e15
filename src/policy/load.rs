//! Loading policies from files, directories and stdin.
//!
//! Every YAML (or JSON) document is classified by `apiVersion`/`kind`:
//! CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Kubernetes
//! NetworkPolicy documents are parsed into typed structs; `List` objects
//! are expanded; anything else (Kustomizations, ConfigMaps, empty
//! documents, prose) is skipped and counted. A policy document that does
//! not parse is reported with its file, document index and error, and the
//! rest of the stream still loads. Only I/O errors are fatal.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::any::{AnyPolicy, PolicyKind};
use super::documents::{split_documents, RawDocument};
use super::drift;

/// File extensions read when walking a directory.
pub const POLICY_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentSource {
    /// The file (`-` for stdin).
    pub path: PathBuf,
    /// 0-based index of the document in the YAML stream.
    pub document: usize,
    /// 1-based line where the document starts (its `---` line, if any).
    pub line: usize,
    /// 0-based index inside a `List` object's `items`, if any.
    pub item: Option<usize>,
}

impl fmt::Display for DocumentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} (document {})",
            self.path.display(),
            self.line,
            self.document
        )?;
        if let Some(i) = self.item {
            write!(f, " item {i}")?;
        }
        Ok(())
    }
}

/// A successfully parsed policy.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPolicy {
    pub source: DocumentSource,
    pub policy: AnyPolicy,
    /// What the typed parse changed or ignored (unknown fields, integer
    /// ports, lowercase operators…); empty when the file is canonical.
    pub notes: Vec<String>,
}

/// Why a document was not loaded as a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Only blanks or comments (or `null`).
    Empty,
    /// Not a mapping with `apiVersion` and `kind` (prose, a bare list…).
    NotAnObject,
    /// An object of another kind.
    OtherKind { api_version: String, kind: String },
    /// YAML with custom tags (`!env_var`, an app's config file): no
    /// Kubernetes object carries them.
    CustomTags,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Empty => f.write_str("empty document"),
            SkipReason::NotAnObject => f.write_str("not a Kubernetes object"),
            SkipReason::CustomTags => f.write_str("YAML with custom tags, not a Kubernetes object"),
            SkipReason::OtherKind { api_version, kind } => {
                write!(f, "not a network policy ({api_version} {kind})")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDocument {
    pub source: DocumentSource,
    pub reason: SkipReason,
}

/// A document that could not be read as a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDocument {
    pub source: DocumentSource,
    /// The policy kind, when the document got far enough to tell.
    pub kind: Option<PolicyKind>,
    pub error: String,
}

impl fmt::Display for InvalidDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Some(k) => write!(f, "{}: invalid {k}: {}", self.source, self.error),
            None => write!(f, "{}: {}", self.source, self.error),
        }
    }
}

/// Everything read from a set of paths, in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedPolicies {
    pub policies: Vec<LoadedPolicy>,
    pub skipped: Vec<SkippedDocument>,
    pub invalid: Vec<InvalidDocument>,
    /// Files found while walking directories but not read (wrong extension).
    pub ignored_files: Vec<PathBuf>,
}

impl LoadedPolicies {
    /// Adds another result after this one.
    pub fn extend(&mut self, other: LoadedPolicies) {
        self.policies.extend(other.policies);
        self.skipped.extend(other.skipped);
        self.invalid.extend(other.invalid);
        self.ignored_files.extend(other.ignored_files);
    }

    /// Just the policies.
    pub fn iter(&self) -> impl Iterator<Item = &AnyPolicy> {
        self.policies.iter().map(|p| &p.policy)
    }
}

/// A fatal error: a path that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    // The I/O error is part of the message, not a source: printed with its
    // chain, it would otherwise appear twice.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |cause| LoadError::Io {
        path: path.to_owned(),
        cause,
    }
}

/// Loads files, directories (recursively, `.yaml`/`.yml`/`.json`, sorted,
/// hidden entries skipped) and `-` (stdin), in the order given.
pub fn load_paths(paths: &[PathBuf]) -> Result<LoadedPolicies, LoadError> {
    let mut out = LoadedPolicies::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(io_err(path))?;
            out.extend(load_str(&text, path));
            continue;
        }
        let meta = std::fs::metadata(path).map_err(io_err(path))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk_dir(path, &mut files, &mut out.ignored_files)?;
            files.sort();
            for f in files {
                out.extend(load_file(&f)?);
            }
        } else {
            out.extend(load_file(path)?);
        }
    }
    Ok(out)
}

/// Loads one file whatever its extension. A file that is not UTF-8 is
/// reported as invalid, not as an error.
pub fn load_file(path: &Path) -> Result<LoadedPolicies, LoadError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(load_str(&text, path)),
        Err(e) => Ok(LoadedPolicies {
            invalid: vec![InvalidDocument {
                source: DocumentSource {
                    path: path.to_owned(),
                    document: 0,
                    line: 1,
                    item: None,
                },
                kind: None,
                error: format!("not UTF-8 text: {e}"),
            }],
            ..LoadedPolicies::default()
        }),
    }
}

fn walk_dir(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    ignored: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_err(dir))?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        // symlink_metadata: do not follow directory links (no cycles)
        let meta = std::fs::symlink_metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            walk_dir(&path, files, ignored)?;
        } else if has_policy_extension(&path) {
            files.push(path);
        } else {
            ignored.push(path);
        }
    }
    Ok(())
}

fn has_policy_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| POLICY_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Loads every document of a YAML (or JSON) stream; `path` only labels
/// the results.
pub fn load_str(text: &str, path: &Path) -> LoadedPolicies {
    let mut out = LoadedPolicies::default();
    for (index, doc) in split_documents(text).into_iter().enumerate() {
        let source = DocumentSource {
            path: path.to_owned(),
            document: index,
            line: doc.line,
            item: None,
        };
        load_document(&doc, source, &mut out);
    }
    out
}

fn load_document(doc: &RawDocument<'_>, source: DocumentSource, out: &mut LoadedPolicies) {
    if doc.is_blank() {
        return out.skipped.push(SkippedDocument {
            source,
            reason: SkipReason::Empty,
        });
    }
    let padded = doc.padded();
    let value: Value = match serde_yaml::from_str(&padded) {
        Ok(v) => v,
        Err(_) if custom_tags_only(&padded) => {
            return out.skipped.push(SkippedDocument {
                source,
                reason: SkipReason::CustomTags,
            });
        }
        Err(e) => {
            return out.invalid.push(InvalidDocument {
                source,
                kind: None,
                error: format!("not valid YAML: {e}"),
            })
        }
    };
    load_value(value, Some(&padded), source, out);
}

/// Whether a document that JSON values cannot hold is valid YAML with
/// custom tags and no policy `apiVersion`/`kind`: an app's config file.
fn custom_tags_only(text: &str) -> bool {
    let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return false;
    };
    let field = |k: &str| v.get(k).and_then(serde_yaml::Value::as_str).unwrap_or("");
    PolicyKind::classify(field("apiVersion"), field("kind")).is_none()
}

/// Classifies and parses one object. With `text`, the typed parse reads
/// the YAML itself so that errors carry a field path and a line.
fn load_value(value: Value, text: Option<&str>, source: DocumentSource, out: &mut LoadedPolicies) {
    let skip = |out: &mut LoadedPolicies, reason| {
        out.skipped.push(SkippedDocument {
            source: source.clone(),
            reason,
        })
    };
    let obj = match &value {
        Value::Null => return skip(out, SkipReason::Empty),
        Value::Object(o) => o,
        _ => return skip(out, SkipReason::NotAnObject),
    };
    let field = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return skip(out, SkipReason::NotAnObject);
    };
    if kind.ends_with("List") && source.item.is_none() {
        if let Some(Value::Array(items)) = obj.get("items") {
            for (i, item) in items.iter().enumerate() {
                let src = DocumentSource {
                    item: Some(i),
                    ..source.clone()
                };
                load_value(item.clone(), None, src, out);
            }
            return;
        }
    }
    let Some(pk) = PolicyKind::classify(&api_version, &kind) else {
        return skip(out, SkipReason::OtherKind { api_version, kind });
    };
    let invalid = |out: &mut LoadedPolicies, error: String| {
        out.invalid.push(InvalidDocument {
            source: source.clone(),
            kind: Some(pk),
            error,
        })
    };
    if api_version != pk.api_version() {
        return invalid(
            out,
            format!(
                "unsupported apiVersion {api_version} (expected {})",
                pk.api_version()
            ),
        );
    }
    let parsed = match pk {
        PolicyKind::Cnp => typed(&value, text).map(AnyPolicy::Cnp),
        PolicyKind::Ccnp => typed(&value, text).map(AnyPolicy::Ccnp),
        PolicyKind::K8s => typed(&value, text).map(AnyPolicy::K8s),
    };
    match parsed {
        Ok(policy) => {
            let notes = notes(&value, &policy);
            out.policies.push(LoadedPolicy {
                source,
                policy,
                notes,
            })
        }
        Err(e) => invalid(out, e),
    }
}

fn typed<T: DeserializeOwned>(value: &Value, text: Option<&str>) -> Result<T, String> {
    match text {
        Some(t) => serde_yaml::from_str(t).map_err(|e| e.to_string()),
        None => serde_json::from_value(value.clone()).map_err(|e| e.to_string()),
    }
}

/// Drift between the document as written and its typed form, leaving out
/// server-side metadata and `status`.
fn notes<T: Serialize>(written: &Value, typed: &T) -> Vec<String> {
    let Ok(canonical) = serde_json::to_value(typed) else {
        return vec!["cannot re-serialize the policy".to_owned()];
    };
    let mut written = written.clone();
    if let Some(o) = written.as_object_mut() {
        o.remove("status");
        if let Some(Value::Object(m)) = o.get_mut("metadata") {
            m.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "labels" | "annotations"));
        }
    }
    drift::describe(&written, &canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "\
# leading comment
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [a.yaml]
---
# only a comment
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ok, namespace: ns}
spec:
  endpointSelector: {}
  ingress: [{}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad, namespace: ns}
spec:
  endpointSelector: {}
  egress:
  - toPorts:
    - ports: [{port: \"53\", protocol: QUIC}]
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: k, namespace: ns}
  spec: {podSelector: {}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
---
apiVersion: cilium.io/v1
kind: CiliumClusterwideNetworkPolicy
metadata: {name: old}
";

    #[test]
    fn classifies_every_document() {
        let l = load_str(MIXED, Path::new("mixed.yaml"));
        let names: Vec<_> = l.iter().map(|p| (p.kind(), p.name().to_owned())).collect();
        assert_eq!(
            names,
            [
                (PolicyKind::Cnp, "ok".to_owned()),
                (PolicyKind::K8s, "k".to_owned())
            ]
        );
        assert_eq!(l.policies[1].source.item, Some(0));
        assert_eq!(l.policies[0].source.document, 2);
        assert_eq!(l.policies[0].source.line, 8);

        let reasons: Vec<String> = l.skipped.iter().map(|s| s.reason.to_string()).collect();
        assert_eq!(
            reasons,
            [
                "not a network policy (kustomize.config.k8s.io/v1beta1 Kustomization)",
                "empty document",
                "not a network policy (v1 ConfigMap)",
            ]
        );

        assert_eq!(l.invalid.len(), 2);
        let bad = &l.invalid[0];
        assert_eq!((bad.source.document, bad.kind), (3, Some(PolicyKind::Cnp)));
        assert!(
            bad.error.contains("spec.egress[0].toPorts[0].ports[0]")
                && bad.error.contains("QUIC")
                && bad.error.contains("line 23"),
            "{}",
            bad.error
        );
        assert!(l.invalid[1]
            .error
            .contains("unsupported apiVersion cilium.io/v1"));
    }

    #[test]
    fn broken_yaml_does_not_hide_other_documents() {
        let text = "a: [\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\n";
        let l = load_str(text, Path::new("x"));
        assert_eq!(l.policies.len(), 1);
        assert_eq!(l.invalid.len(), 1);
        assert_eq!(l.invalid[0].kind, None);
    }

    #[test]
    fn custom_tags_are_skipped_unless_on_a_policy() {
        let text = "server:\n  token: !env_var IMMICH_TOKEN\n---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: ns}\nspec: !weird {}\n";
        let l = load_str(text, Path::new("x"));
        assert_eq!(l.invalid.len(), 1, "{:?}", l.invalid);
        assert_eq!(l.invalid[0].source.document, 1);
        assert_eq!(l.skipped.len(), 1);
        assert_eq!(l.skipped[0].reason, SkipReason::CustomTags);
    }
}
