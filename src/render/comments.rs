//! Hand comments in a regenerated policy document: the comment lines of the
//! old text are carried into the new one, each block before the line it
//! stood above (found by its content, in order), so a note above a rule
//! added by hand survives a refresh. A block whose line is gone goes to the
//! end of the document, and is counted so the caller can say so.

/// The new text with the old text's comment lines carried over, and how
/// many comment blocks lost the line they stood above.
pub fn carry(old: &str, new: &str) -> (String, usize) {
    let blocks = comment_blocks(old);
    if blocks.is_empty() {
        return (new.to_string(), 0);
    }
    let lines: Vec<&str> = new.lines().collect();
    // Comments to put before line i of `new` (index lines.len(): at the end).
    let mut before: Vec<Vec<String>> = vec![Vec::new(); lines.len() + 1];
    let mut cursor = 0usize;
    let mut orphans = 0usize;
    for b in blocks {
        let at = b.anchor.as_deref().and_then(|anchor| {
            let hit = |i: &usize| lines[*i].trim() == anchor;
            (cursor..lines.len())
                .find(hit)
                .or_else(|| (0..cursor).find(hit))
        });
        match at {
            Some(i) => {
                let indent = &lines[i][..lines[i].len() - lines[i].trim_start().len()];
                before[i].extend(
                    b.lines
                        .iter()
                        .map(|c| format!("{indent}{}", c.trim_start())),
                );
                cursor = i;
            }
            None => {
                if b.anchor.is_some() {
                    orphans += 1;
                }
                before[lines.len()].extend(b.lines.iter().cloned());
            }
        }
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        for c in &before[i] {
            out.push_str(c);
            out.push('\n');
        }
        out.push_str(l);
        out.push('\n');
    }
    for c in &before[lines.len()] {
        out.push_str(c);
        out.push('\n');
    }
    (out, orphans)
}

/// Consecutive full-line comments and the content of the line below them
/// (`None`: at the end of the document).
struct Block {
    lines: Vec<String>,
    anchor: Option<String>,
}

fn comment_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with('#') {
            pending.push(l.to_string());
        } else if !t.is_empty() && !pending.is_empty() {
            out.push(Block {
                lines: std::mem::take(&mut pending),
                anchor: Some(t.to_string()),
            });
        }
    }
    if !pending.is_empty() {
        out.push(Block {
            lines: pending,
            anchor: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_follow_their_lines_into_the_new_text() {
        let old = "# top note\nkind: CiliumNetworkPolicy\nspec:\n  egress:\n  - toEntities:\n    - world\n  # backup NAS, added by hand\n  - toCIDR:\n    - 192.0.2.10/32\n";
        let new = "kind: CiliumNetworkPolicy\nspec:\n  egress:\n  - toEntities:\n    - kube-apiserver\n  - toCIDR:\n      - 192.0.2.10/32\n";
        let (text, lost) = carry(old, new);
        assert_eq!(lost, 0);
        assert_eq!(
            text,
            "# top note\nkind: CiliumNetworkPolicy\nspec:\n  egress:\n  - toEntities:\n    - kube-apiserver\n  # backup NAS, added by hand\n  - toCIDR:\n      - 192.0.2.10/32\n"
        );
        assert_eq!(carry("a: 1\n", "a: 2\n"), ("a: 2\n".to_string(), 0));
        let (text, lost) = carry("# why\nb: 1\n", "a: 2\n");
        assert_eq!((text.as_str(), lost), ("a: 2\n# why\n", 1));
    }
}
