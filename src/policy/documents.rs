//! Splitting a YAML stream into its documents, keeping the line each one
//! starts on, so that one broken document does not hide the others.

/// One document of a YAML stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawDocument<'a> {
    /// 1-based line where the document starts: its `---` marker, if any.
    pub line: usize,
    pub text: &'a str,
}

impl RawDocument<'_> {
    /// True if the document holds only blank lines, comments or directives.
    pub fn is_blank(&self) -> bool {
        self.text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t.starts_with('%')
        })
    }

    /// The text padded with newlines so that parser line numbers match the
    /// line numbers of the whole file.
    pub fn padded(&self) -> String {
        let mut s = "\n".repeat(self.line.saturating_sub(1));
        s.push_str(self.text);
        s
    }
}

fn is_separator(line: &str) -> bool {
    let l = line.trim_end_matches('\r');
    l == "---" || l.starts_with("--- ") || l.starts_with("---\t")
}

fn is_end_marker(line: &str) -> bool {
    line.trim_end_matches('\r').trim_end() == "..."
}

/// Splits on `---` lines (a `---` line may carry content after it, as in
/// `--- {a: 1}`) and `...` end markers. A blank preamble before the first
/// `---` is not a document, matching YAML parsers.
pub(crate) fn split_documents(text: &str) -> Vec<RawDocument<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize; // byte offset of the current document
    let mut start_line = 1usize;
    let mut explicit_start = false;
    let mut offset = 0usize;
    let mut in_end = false; // after `...`, skip until the next `---`
    for (idx, line) in text.split_inclusive('\n').enumerate() {
        let lineno = idx + 1;
        let line_body = line.trim_end_matches('\n');
        if is_separator(line_body) {
            if !in_end {
                push(&mut docs, text, start, offset, start_line, explicit_start);
            }
            in_end = false;
            explicit_start = true;
            // content after `--- ` belongs to the new document
            start = offset + 3;
            start_line = lineno;
        } else if is_end_marker(line_body) && !in_end {
            push(&mut docs, text, start, offset, start_line, explicit_start);
            in_end = true;
            explicit_start = false;
        }
        offset += line.len();
    }
    if !in_end {
        push(
            &mut docs,
            text,
            start,
            text.len(),
            start_line,
            explicit_start,
        );
    }
    docs
}

fn push<'a>(
    docs: &mut Vec<RawDocument<'a>>,
    text: &'a str,
    start: usize,
    end: usize,
    line: usize,
    explicit: bool,
) {
    let doc = RawDocument {
        line,
        text: &text[start.min(end)..end],
    };
    // An implicit (no `---`) blank document only counts if it is the whole
    // stream's only content; a blank preamble or tail is dropped.
    if !explicit && doc.is_blank() {
        return;
    }
    docs.push(doc);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<(usize, String)> {
        split_documents(s)
            .into_iter()
            .map(|d| (d.line, d.text.trim().to_owned()))
            .collect()
    }

    #[test]
    fn splits_and_keeps_lines() {
        let s = "# c\n---\na: 1\n---\nb: 2\n";
        assert_eq!(texts(s), vec![(2, "a: 1".into()), (4, "b: 2".into())]);
        assert_eq!(texts("a: 1\n"), vec![(1, "a: 1".into())]);
        assert_eq!(
            texts("a: 1\n---\n"),
            vec![(1, "a: 1".into()), (2, "".into())]
        );
        assert_eq!(texts("--- {a: 1}\n"), vec![(1, "{a: 1}".into())]);
        assert_eq!(
            texts("a: 1\n...\n# x\n---\nb: 2"),
            vec![(1, "a: 1".into()), (4, "b: 2".into())]
        );
        assert!(texts("").is_empty());
    }

    #[test]
    fn padding_aligns_line_numbers() {
        let docs = split_documents("---\na: 1\n---\nb: [\n");
        let err = serde_yaml::from_str::<serde_json::Value>(&docs[1].padded()).unwrap_err();
        assert!(
            err.to_string().contains("line 4") || err.to_string().contains("line 5"),
            "{err}"
        );
    }
}
