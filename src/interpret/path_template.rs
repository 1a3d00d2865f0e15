//! Path templating: one observed HTTP request path → the request *class* it
//! belongs to, with high-cardinality segments (numeric IDs, UUIDs, hex
//! hashes, random tokens) replaced by a typed placeholder, so that a rule
//! written for a class keeps working for the next ID. gRPC paths
//! (`/package.Service/Method`) are never templated.
//!
//! # Template syntax
//!
//! A template is the path text with placeholders `{int}`, `{uuid}`, `{hex}`,
//! `{token}` (from this module) and `{seg}` (one whole segment, written by
//! synthesis' sibling collapse); a literal `{` or `}` of the path is doubled
//! (`{{`, `}}`). [`parse`] splits a template into [`Part`]s and
//! [`Param::regex`] gives each placeholder's RE2 language, which never
//! contains `/` or `?` — a placeholder always stays inside one path segment.
//!
//! Classification of one segment (the whole text between two `/`):
//!
//! | placeholder | segment | regex |
//! |---|---|---|
//! | `{int}` | only ASCII digits | `[0-9]+` |
//! | `{uuid}` | 8-4-4-4-12 hex digits, either case | `[0-9a-fA-F]{8}-…-[0-9a-fA-F]{12}` |
//! | `{hex}` | ≥ 8 hex digits, at least one digit and one letter `a-f` | `[0-9a-fA-F]{8,}` |
//! | `{token}` | ≥ 16 chars of `[A-Za-z0-9_-]` with a digit and a letter, not a slug | `[A-Za-z0-9_-]{16,}` |
//!
//! A *slug* (`cilium-1-16-release-notes`: `-`-separated words that are each
//! all lower-case letters or all digits) stays literal: it names a thing.
//! A segment `stem.ext` whose stem is one of the above and whose extension
//! is 1–5 ASCII letters or digits (with a letter) becomes `{param}.ext`
//! (`/avatars/42.png` → `/avatars/{int}.png`). Everything else is literal.

/// A placeholder kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Param {
    Int,
    Uuid,
    Hex,
    Token,
    /// Any one non-empty segment (sibling collapse, written by synthesis).
    Seg,
}

impl Param {
    pub const ALL: [Param; 5] = [
        Param::Int,
        Param::Uuid,
        Param::Hex,
        Param::Token,
        Param::Seg,
    ];

    /// The name between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Param::Int => "int",
            Param::Uuid => "uuid",
            Param::Hex => "hex",
            Param::Token => "token",
            Param::Seg => "seg",
        }
    }

    /// `{name}`.
    pub fn placeholder(self) -> String {
        format!("{{{}}}", self.name())
    }

    /// The RE2 regular expression (also valid for Rust's `regex`) of the
    /// values this placeholder stands for; never matches `/` or `?`.
    pub fn regex(self) -> &'static str {
        match self {
            Param::Int => "[0-9]+",
            Param::Uuid => {
                "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
            }
            Param::Hex => "[0-9a-fA-F]{8,}",
            Param::Token => "[A-Za-z0-9_-]{16,}",
            Param::Seg => "[^/?]+",
        }
    }

    fn from_name(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// Text matched exactly (slashes included).
    Literal(String),
    Param(Param),
}

/// Shortest hex hash taken as high-cardinality.
pub const MIN_HEX: usize = 8;
/// Shortest random token taken as high-cardinality.
pub const MIN_TOKEN: usize = 16;

/// Whether a path is a gRPC method path: `/package.Service/Method`, exactly
/// two segments, the first a dotted name (package and service), the second
/// an identifier. Such paths are kept exact.
pub fn is_grpc(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let Some((service, method)) = rest.split_once('/') else {
        return false;
    };
    let ident = |s: &str| {
        s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    service.contains('.') && service.split('.').all(ident) && ident(method)
}

/// The template of an observed path (no query string, no fragment).
pub fn template(path: &str) -> String {
    if is_grpc(path) {
        return escape_literal(path);
    }
    path.split('/')
        .map(template_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// The template of one segment.
fn template_segment(seg: &str) -> String {
    if let Some(p) = classify(seg) {
        return p.placeholder();
    }
    if let Some((stem, ext)) = seg.rsplit_once('.') {
        let ext_ok = (1..=5).contains(&ext.len())
            && ext.bytes().all(|b| b.is_ascii_alphanumeric())
            && ext.bytes().any(|b| b.is_ascii_alphabetic());
        if ext_ok {
            if let Some(p) = classify(stem) {
                return format!("{}.{}", p.placeholder(), ext);
            }
        }
    }
    escape_literal(seg)
}

/// The placeholder for a high-cardinality segment, `None` for a name.
pub fn classify(seg: &str) -> Option<Param> {
    let b = seg.as_bytes();
    if b.is_empty() {
        return None;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return Some(Param::Int);
    }
    if is_uuid(b) {
        return Some(Param::Uuid);
    }
    let digit = b.iter().any(u8::is_ascii_digit);
    let letter = b.iter().any(u8::is_ascii_alphabetic);
    if b.len() >= MIN_HEX && digit && b.iter().all(u8::is_ascii_hexdigit) {
        return Some(Param::Hex);
    }
    if b.len() >= MIN_TOKEN
        && digit
        && letter
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
        && !is_slug(seg)
    {
        return Some(Param::Token);
    }
    None
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `-`-separated words, each all lower-case letters or all digits.
fn is_slug(seg: &str) -> bool {
    seg.contains('-')
        && seg.split('-').all(|w| {
            !w.is_empty()
                && (w.bytes().all(|c| c.is_ascii_lowercase())
                    || w.bytes().all(|c| c.is_ascii_digit()))
        })
}

/// Literal path text in template syntax (`{` → `{{`, `}` → `}}`).
pub fn escape_literal(s: &str) -> String {
    if !s.contains(['{', '}']) {
        return s.to_string();
    }
    s.replace('{', "{{").replace('}', "}}")
}

/// Splits a template into literal text and placeholders; `None` when it is
/// not valid template syntax (an unknown `{name}` or a lone brace).
pub fn parse(template: &str) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        ch => name.push(ch),
                    }
                }
                let p = Param::from_name(&name)?;
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                parts.push(Part::Param(p));
            }
            '}' => return None,
            ch => lit.push(ch),
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Literal(lit));
    }
    Some(parts)
}

/// Escapes RE2 metacharacters (`\.+*?()|[]{}^$`, as Go's
/// `regexp.QuoteMeta`) so the text matches itself literally.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The regex (without anchors) of a template's *path* part.
pub fn path_regex(template: &str) -> Option<String> {
    Some(
        parse(template)?
            .iter()
            .map(|p| match p {
                Part::Literal(s) => regex_escape(s),
                Part::Param(p) => p.regex().to_string(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_uuids_hashes_and_tokens_become_placeholders() {
        for (path, want) in [
            ("/api/v1/users/42", "/api/v1/users/{int}"),
            (
                "/api/v1/users/42/orders/7",
                "/api/v1/users/{int}/orders/{int}",
            ),
            (
                "/carts/3F2504E0-4F89-11D3-9A0C-0305E82C3301/items",
                "/carts/{uuid}/items",
            ),
            (
                "/carts/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                "/carts/{uuid}",
            ),
            ("/blobs/sha256/9f86d081884c7d65", "/blobs/sha256/{hex}"),
            ("/commits/a1b2c3d4", "/commits/{hex}"),
            ("/s/aGVsbG8gd29ybGQxMjM0", "/s/{token}"),
            ("/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/runs/{token}"),
            ("/avatars/42.png", "/avatars/{int}.png"),
            ("/", "/"),
            ("/users/", "/users/"),
        ] {
            assert_eq!(template(path), want, "{path}");
        }
    }

    #[test]
    fn names_stay_literal() {
        for path in [
            "/api/v1/users",
            "/healthz",
            "/deadbeefcafe",                        // hex letters only: a word
            "/v2",                                  // version
            "/abc1234",                             // 7 hex chars: too short
            "/blog/cilium-1-16-release-notes-2024", // slug
            "/static/main.3f2a9c1b.js",             // stem is not a hash
            "/search%20me",
            "*",
        ] {
            assert_eq!(template(path), path, "{path}");
        }
    }

    #[test]
    fn grpc_paths_stay_exact() {
        assert!(is_grpc("/payments.Billing/Charge"));
        assert!(is_grpc("/grpc.health.v1.Health/Check"));
        assert!(!is_grpc("/Billing/Charge"));
        assert!(!is_grpc("/payments.Billing/Charge/1"));
        assert!(!is_grpc("/users/42"));
        assert_eq!(
            template("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
    }

    #[test]
    fn braces_are_escaped_and_parse_back() {
        assert_eq!(template("/a/{id}/42"), "/a/{{id}}/{int}");
        assert_eq!(
            parse("/a/{{id}}/{int}").unwrap(),
            vec![Part::Literal("/a/{id}/".into()), Part::Param(Param::Int)]
        );
        assert_eq!(parse("/a/{nope}"), None);
        assert_eq!(parse("/a/}"), None);
        assert_eq!(parse("/a/{int"), None);
    }

    #[test]
    fn regexes_escape_metacharacters() {
        assert_eq!(
            path_regex("/payments.Billing/Charge").unwrap(),
            r"/payments\.Billing/Charge"
        );
        assert_eq!(path_regex("/a+b/{int}").unwrap(), r"/a\+b/[0-9]+");
        assert_eq!(path_regex("/a/{{x}}").unwrap(), r"/a/\{x\}");
    }
}
