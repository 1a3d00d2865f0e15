//! Three-valued logic for offline verification: a selector, a CIDR or a
//! port can match (`Yes`), not match (`No`), or depend on something the
//! flows do not show (`Unknown`: namespace labels, named ports, Services).
//!
//! Kleene logic: `and` is the minimum, `or` the maximum, `not` swaps `Yes`
//! and `No`. Every `Unknown` carries its reason in a [`Why`] collector.

/// A match result. Ordered `No < Unknown < Yes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tri {
    No,
    Unknown,
    Yes,
}

impl Tri {
    pub fn from_bool(b: bool) -> Tri {
        if b {
            Tri::Yes
        } else {
            Tri::No
        }
    }

    pub fn and(self, o: Tri) -> Tri {
        self.min(o)
    }

    pub fn or(self, o: Tri) -> Tri {
        self.max(o)
    }

    pub fn negate(self) -> Tri {
        match self {
            Tri::No => Tri::Yes,
            Tri::Unknown => Tri::Unknown,
            Tri::Yes => Tri::No,
        }
    }

    pub fn is_yes(self) -> bool {
        self == Tri::Yes
    }
}

/// Reasons collected while matching, for `Unknown` results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Why(pub Vec<String>);

impl Why {
    /// Records a reason (once) and returns `Unknown`.
    pub fn unknown(&mut self, reason: impl Into<String>) -> Tri {
        let r = reason.into();
        if !self.0.contains(&r) {
            self.0.push(r);
        }
        Tri::Unknown
    }

    pub fn extend(&mut self, other: Why) {
        for r in other.0 {
            self.unknown(r);
        }
    }
}

/// A verdict as reports write it.
pub fn verdict_name(t: Tri) -> &'static str {
    match t {
        Tri::Yes => "allowed",
        Tri::No => "dropped",
        Tri::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kleene_tables() {
        use Tri::*;
        assert_eq!(Yes.and(Unknown), Unknown);
        assert_eq!(No.and(Unknown), No);
        assert_eq!(Yes.or(Unknown), Yes);
        assert_eq!(No.or(Unknown), Unknown);
        assert_eq!(Unknown.negate(), Unknown);
        assert_eq!(No.negate(), Yes);
    }
}
