//! Bounded lists for summaries and warnings: however damaged or large the
//! input, a line names at most a handful of items and says how many more
//! there are.

use std::fmt::Display;

/// Items a summary line names before "and N more".
pub const CAP: usize = 5;

/// `a, b, c, d, e and 3 more` (at most [`CAP`] items).
pub fn list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    list_of(items, CAP)
}

/// [`list`] with another cap (at least 1).
pub fn list_of<T: Display>(items: impl IntoIterator<Item = T>, cap: usize) -> String {
    let cap = cap.max(1);
    let mut shown: Vec<String> = Vec::new();
    let mut more = 0usize;
    for item in items {
        if shown.len() < cap {
            shown.push(item.to_string());
        } else {
            more += 1;
        }
    }
    let mut out = shown.join(", ");
    if more > 0 {
        out.push_str(&format!(" and {more} more"));
    }
    out
}

/// The first few of `total` items (only the first ones are at hand):
/// `a, b, c and 97 more`.
pub fn list_counted<T: Display>(first: impl IntoIterator<Item = T>, total: u64) -> String {
    let shown: Vec<String> = first.into_iter().take(CAP).map(|t| t.to_string()).collect();
    let mut out = shown.join(", ");
    let more = total.saturating_sub(shown.len() as u64);
    if more > 0 {
        out.push_str(&format!(" and {more} more"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_capped_with_a_count_of_the_rest() {
        assert_eq!(list(Vec::<String>::new()), "");
        assert_eq!(list(["a", "b"]), "a, b");
        assert_eq!(list(1..=5), "1, 2, 3, 4, 5");
        assert_eq!(list(1..=12), "1, 2, 3, 4, 5 and 7 more");
        assert_eq!(list_of(["x", "y", "z"], 1), "x and 2 more");
        assert_eq!(list_counted(["f:1", "f:7"], 100), "f:1, f:7 and 98 more");
        assert_eq!(list_counted(1..=9, 9), "1, 2, 3, 4, 5 and 4 more");
    }
}
