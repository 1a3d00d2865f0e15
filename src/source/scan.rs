//! A strict, zero-copy JSON scanner for the fast path ([`super::fast`]):
//! it walks one line's objects and arrays, hands out the text of the
//! values asked for and skips the rest at memory speed.
//!
//! It accepts a subset of what serde_json accepts, never more: the line
//! must be valid UTF-8 with no control character, the strings it hands out
//! have no escape (skipped ones may, except `\u`), numbers are integers,
//! nesting stays well below serde_json's limit. Anything else is `None`, and the caller
//! declines the line to the full decoder.

/// Deeper than this declines (serde_json refuses 128).
const MAX_DEPTH: u32 = 64;

/// A line's text and the position reached in it.
pub struct Scanner<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
}

/// The line may be scanned: UTF-8, no control character.
pub fn scannable(line: &[u8]) -> Option<&str> {
    // Branch-free over the bytes, so the compiler vectorizes it.
    let bad = line.iter().fold(false, |bad, &b| bad | (b < 0x20));
    if bad {
        return None;
    }
    std::str::from_utf8(line).ok()
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            at: 0,
            depth: 0,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&mut self) -> Option<u8> {
        while self.bytes().get(self.at) == Some(&b' ') {
            self.at += 1;
        }
        self.bytes().get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// Only spaces are left.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string without escapes (one with escapes is `None`).
    pub fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let len = memchr::memchr2(b'"', b'\\', &self.bytes()[start..])?;
        if self.bytes()[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        self.text.get(start..start + len)
    }

    /// Skips a string whose text nobody reads; escapes other than `\u`
    /// (which serde_json checks for surrogates) are allowed.
    pub fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let len = memchr::memchr2(b'"', b'\\', &self.bytes()[self.at..])?;
            self.at += len + 1;
            if self.bytes()[self.at - 1] == b'"' {
                return Some(());
            }
            match self.bytes().get(self.at)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                _ => return None,
            }
        }
    }

    /// `true` or `false`.
    pub fn bool(&mut self) -> Option<bool> {
        self.peek()?;
        for (word, value) in [("true", true), ("false", false)] {
            if self.bytes()[self.at..].starts_with(word.as_bytes()) {
                self.at += word.len();
                return self.end_of_word().then_some(value);
            }
        }
        None
    }

    /// A non-negative integer as JSON writes it (no sign, no leading zero,
    /// no fraction or exponent), if it fits a u64.
    pub fn unsigned(&mut self) -> Option<u64> {
        self.peek()?;
        let digits = self.bytes()[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = &self.text[self.at..self.at + digits];
        if digits == 0 || (digits > 1 && text.starts_with('0')) {
            return None;
        }
        self.at += digits;
        if !self.end_of_word() {
            return None;
        }
        text.parse().ok()
    }

    /// A word (literal or number) must end at punctuation or a space.
    fn end_of_word(&self) -> bool {
        matches!(
            self.bytes().get(self.at),
            None | Some(b',' | b'}' | b']' | b' ')
        )
    }

    /// Whether the next value is `null` (consumed if so).
    pub fn null(&mut self) -> bool {
        if self.peek() == Some(b'n') && self.bytes()[self.at..].starts_with(b"null") {
            self.at += 4;
            return self.end_of_word();
        }
        false
    }

    /// The next value starts with this byte.
    pub fn next_is(&mut self, c: u8) -> bool {
        self.peek() == Some(c)
    }

    /// Walks an object, calling `field` with each key; `field` must consume
    /// the value.
    pub fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        if self.eat(b'}').is_none() {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                field(self, key)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// Walks an array, calling `item` for each element (which it must consume).
    pub fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.enter()?;
        if self.eat(b']').is_none() {
            loop {
                item(self)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// Skips any value.
    pub fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|s, _| s.skip()),
            b'[' => self.array(|s| s.skip()),
            b't' | b'f' => self.bool().map(drop),
            b'n' => self.null().then_some(()),
            b'-' => {
                self.at += 1;
                if self.peek() == Some(b' ') {
                    return None;
                }
                self.unsigned().map(drop)
            }
            _ => self.unsigned().map(drop),
        }
    }

    /// The text from the next value on (spaces skipped).
    pub fn rest(&mut self) -> &'a str {
        self.peek();
        &self.text[self.at..]
    }

    /// Steps over `len` bytes of [`Scanner::rest`], which the caller knows
    /// to be one whole value (a text the scanner accepted before: a JSON
    /// value ends where its own bytes say, whatever follows it).
    pub fn step_over(&mut self, len: usize) {
        self.at += len;
    }

    /// Skips any value and gives its text.
    pub fn raw(&mut self) -> Option<&'a str> {
        self.peek()?;
        let start = self.at;
        self.skip()?;
        self.text.get(start..self.at)
    }

    /// A list of strings.
    pub fn strings(&mut self) -> Option<Vec<String>> {
        let mut all = Vec::new();
        self.array(|s| {
            all.push(s.string()?.to_string());
            Some(())
        })?;
        Some(all)
    }

    /// A list of strings, checked and dropped.
    pub fn skip_strings(&mut self) -> Option<()> {
        self.array(|s| s.skip_string())
    }
}
