//! Kubernetes and Cilium name syntax, as the API server and Cilium check it:
//! the predicates behind input validation (`source::validate`), policy
//! naming (`synth::workload`) and the self-check before writing
//! (`render::check`), so all three agree on what is valid.
//!
//! | what | rule |
//! |---|---|
//! | RFC 1123 label (namespace) | `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63 |
//! | RFC 1123 subdomain (object, pod, service-account names) | labels joined by `.`, ≤ 253 |
//! | label key (qualified name) | optional subdomain prefix + `/`, then `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, ≤ 63 |
//! | label value | empty, or the name syntax above, ≤ 63 |
//! | DNS name (`toFQDNs.matchName`) | labels of `[-A-Za-z0-9_]`, 1–63 each, ≤ 253, one optional trailing `.` |

/// Longest RFC 1123 label (and label name, label value).
pub const MAX_LABEL: usize = 63;
/// Longest RFC 1123 subdomain (object name, label key prefix, DNS name).
pub const MAX_SUBDOMAIN: usize = 253;

/// RFC 1123 label: a namespace name.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 subdomain: object names (policies, pods, service accounts).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SUBDOMAIN && s.split('.').all(is_dns1123_label)
}

/// The name part of a label key, and a non-empty label value.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b.iter().all(inner)
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A Kubernetes label key: `[prefix/]name`, the prefix a subdomain.
pub fn is_label_key(key: &str) -> bool {
    match key.rsplit_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

/// A Kubernetes label value (may be empty).
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_label_name(value)
}

/// A DNS name as `toFQDNs.matchName` accepts it (letters, digits, `-`,
/// `_`), with an optional trailing dot.
pub fn is_dns_name(name: &str) -> bool {
    dns_labels(name, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_')
    })
}

/// A DNS name pattern (`toFQDNs.matchPattern`, `fqdn:` identity labels):
/// a DNS name whose labels may also contain `*`.
pub fn is_dns_pattern(pattern: &str) -> bool {
    dns_labels(pattern, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'*')
    })
}

/// Non-empty dot-separated labels of at most 63 bytes each, at most 253 in
/// all (a trailing dot allowed), every byte accepted by `byte_ok`.
fn dns_labels(name: &str, byte_ok: impl Fn(u8) -> bool) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= MAX_SUBDOMAIN
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= MAX_LABEL && l.bytes().all(&byte_ok))
}

/// A Cilium selector key: an optional source (`k8s:`, `any:`,
/// `reserved:`…) then a label key. Keys Cilium derives from namespace labels
/// (`io.cilium.k8s.namespace.labels.<key>`) are checked on their `<key>`.
pub fn is_selector_key(key: &str) -> bool {
    let key = match key.split_once(':') {
        Some((source, rest)) if !source.is_empty() && is_dns1123_label(source) => rest,
        _ => key,
    };
    match key.strip_prefix(NAMESPACE_LABELS_PREFIX) {
        Some(rest) => is_label_key(rest),
        None => is_label_key(key),
    }
}

/// Prefix of the namespace labels Cilium copies into a pod's identity.
pub const NAMESPACE_LABELS_PREFIX: &str = "io.cilium.k8s.namespace.labels.";

/// A value from the input, quoted and escaped for a message: at most
/// `MAX_SHOWN` characters (then `…`), control characters and quotes escaped.
pub fn shown(value: &str) -> String {
    const MAX_SHOWN: usize = 64;
    let mut out = String::from("\"");
    for (i, c) in value.chars().enumerate() {
        if i == MAX_SHOWN {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(is_dns1123_label("kube-system"));
        assert!(is_dns1123_label("a"));
        for bad in ["", "-a", "a-", "Media", "a.b", "a b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert!(is_dns1123_subdomain("postgres-18-1"));
        assert!(is_dns1123_subdomain("a.b-c.d"));
        for bad in ["", "a..b", ".a", "a.", "a.-b", "volsync controller"] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn label_keys_and_values() {
        for good in [
            "app",
            "app.kubernetes.io/name",
            "cnpg.io/instanceRole",
            "rook_cluster",
            "kubernetes.io/metadata.name",
        ] {
            assert!(is_label_key(good), "{good}");
        }
        for bad in ["", "/a", "a/", "Exa.mple/a", "a b", "-a", &"a".repeat(64)] {
            assert!(!is_label_key(bad), "{bad}");
        }
        for good in ["", "web", "1.2.3", "Helm", "a_b"] {
            assert!(is_label_value(good), "{good}");
        }
        for bad in ["-", "a b", "a/b", "é", &"a".repeat(64)] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }

    #[test]
    fn selector_keys_keep_their_source_and_namespace_label_prefix() {
        assert!(is_selector_key("k8s:io.kubernetes.pod.namespace"));
        assert!(is_selector_key("app"));
        assert!(is_selector_key(
            "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name"
        ));
        let long = format!("{NAMESPACE_LABELS_PREFIX}{}", "a".repeat(60));
        assert!(is_selector_key(&long));
        assert!(!is_selector_key("k8s:a b"));
    }

    #[test]
    fn dns_names_and_patterns() {
        assert!(is_dns_name("api.github.com."));
        assert!(is_dns_name("_http._tcp.example.com"));
        for bad in ["", ".", "a..b", "a b.com", "*.example.com"] {
            assert!(!is_dns_name(bad), "{bad}");
        }
        assert!(is_dns_pattern("*.example.com"));
        assert!(!is_dns_pattern("a/b"));
    }

    #[test]
    fn shown_values_are_escaped_and_truncated() {
        assert_eq!(shown("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(shown(&"x".repeat(70)), format!("\"{}…\"", "x".repeat(64)));
    }
}
