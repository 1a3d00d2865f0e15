//! The block-style YAML writer behind [`super::yaml::to_yaml`]: a serde
//! `Serializer` that writes the text as the value is walked (no value tree
//! in between), in the field order of the structs, and the scalar quoting
//! that keeps every string a string for YAML 1.1 and 1.2 readers.
//!
//! Layout: a mapping's entries one per line, nested mappings indented by two;
//! a sequence's items as `- ` at the indentation of the key that holds it; a
//! mapping inside a sequence starts on the item's line (`- key: value`);
//! empty collections are written `{}` and `[]`; `None` and unit `null`; an
//! enum variant with data as its data (no tag), a unit variant as its name.

use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};

/// Why a value could not be written (a map key that is not a scalar, or an
/// error from the value's own `Serialize`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitError(String);

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EmitError {}

impl ser::Error for EmitError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        EmitError(msg.to_string())
    }
}

/// One value as a YAML document (no leading `---`).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, EmitError> {
    let mut out = String::with_capacity(4096);
    value.serialize(Emitter {
        out: &mut out,
        at: At::Top,
    })?;
    Ok(out)
}

/// Where the value being written goes.
#[derive(Debug, Clone, Copy)]
enum At {
    /// The whole document.
    Top,
    /// After `key:` of a mapping whose keys sit at this indentation.
    Key(usize),
    /// An item of a sequence whose dashes sit at this indentation.
    Item(usize),
}

fn pad(indent: usize, out: &mut String) {
    const SPACES: &str = "                                ";
    let mut left = indent;
    while left > 0 {
        let n = left.min(SPACES.len());
        out.push_str(&SPACES[..n]);
        left -= n;
    }
}

/// A scalar's text where it goes.
fn put(out: &mut String, at: At, text: impl FnOnce(&mut String)) {
    match at {
        At::Top => {}
        At::Key(_) => out.push(' '),
        At::Item(indent) => {
            pad(indent, out);
            out.push_str("- ");
        }
    }
    text(out);
    out.push('\n');
}

struct Emitter<'a> {
    out: &'a mut String,
    at: At,
}

impl Emitter<'_> {
    fn number(self, v: impl fmt::Display) -> Result<(), EmitError> {
        put(self.out, self.at, |o| {
            let _ = write!(o, "{v}");
        });
        Ok(())
    }
}

/// A mapping being written; what precedes its first entry waits for it (an
/// empty mapping is `{}`).
struct MapEmitter<'a> {
    out: &'a mut String,
    at: At,
    /// Indentation of the entries.
    indent: usize,
    entries: usize,
}

impl MapEmitter<'_> {
    fn new(out: &mut String, at: At) -> MapEmitter<'_> {
        let indent = match at {
            At::Top => 0,
            At::Key(i) | At::Item(i) => i + 2,
        };
        MapEmitter {
            out,
            at,
            indent,
            entries: 0,
        }
    }

    fn key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), EmitError> {
        match (self.entries, self.at) {
            (0, At::Key(_)) => {
                self.out.push('\n');
                pad(self.indent, self.out);
            }
            (0, At::Item(dash)) => {
                pad(dash, self.out);
                self.out.push_str("- ");
            }
            _ => pad(self.indent, self.out),
        }
        self.entries += 1;
        let start = self.out.len();
        key.serialize(KeyEmitter { out: self.out })?;
        if self.out.len() - start > MAX_IMPLICIT_KEY
            && self.out[start..].chars().count() > MAX_IMPLICIT_KEY
        {
            // YAML reads at most 1024 characters as an implicit key.
            let key = self.out.split_off(start);
            self.out.push_str("? ");
            self.out.push_str(&key);
            self.out.push('\n');
            pad(self.indent, self.out);
        }
        self.out.push(':');
        Ok(())
    }

    fn value<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), EmitError> {
        value.serialize(Emitter {
            out: self.out,
            at: At::Key(self.indent),
        })
    }

    fn finish(self) -> Result<(), EmitError> {
        if self.entries == 0 {
            put(self.out, self.at, |o| o.push_str("{}"));
        }
        Ok(())
    }
}

/// A sequence being written; what precedes its first item waits for it (an
/// empty sequence is `[]`).
struct SeqEmitter<'a> {
    out: &'a mut String,
    at: At,
    /// Indentation of the items' dashes.
    indent: usize,
    items: usize,
}

impl SeqEmitter<'_> {
    fn new(out: &mut String, at: At) -> SeqEmitter<'_> {
        let indent = match at {
            At::Top => 0,
            At::Key(i) => i,
            At::Item(i) => i + 2,
        };
        SeqEmitter {
            out,
            at,
            indent,
            items: 0,
        }
    }

    fn item<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), EmitError> {
        if self.items == 0 {
            match self.at {
                At::Top => {}
                At::Key(_) => self.out.push('\n'),
                At::Item(dash) => {
                    pad(dash, self.out);
                    self.out.push_str("-\n");
                }
            }
        }
        self.items += 1;
        value.serialize(Emitter {
            out: self.out,
            at: At::Item(self.indent),
        })
    }

    fn finish(self) -> Result<(), EmitError> {
        if self.items == 0 {
            put(self.out, self.at, |o| o.push_str("[]"));
        }
        Ok(())
    }
}

/// The `Serializer` methods that only forward to another one (narrow
/// numbers widened, `None` as unit, newtypes as their content), the same for
/// values and keys.
macro_rules! scalar_delegations {
    () => {
        fn serialize_i8(self, v: i8) -> Result<(), EmitError> {
            self.serialize_i64(v.into())
        }
        fn serialize_i16(self, v: i16) -> Result<(), EmitError> {
            self.serialize_i64(v.into())
        }
        fn serialize_i32(self, v: i32) -> Result<(), EmitError> {
            self.serialize_i64(v.into())
        }
        fn serialize_u8(self, v: u8) -> Result<(), EmitError> {
            self.serialize_u64(v.into())
        }
        fn serialize_u16(self, v: u16) -> Result<(), EmitError> {
            self.serialize_u64(v.into())
        }
        fn serialize_u32(self, v: u32) -> Result<(), EmitError> {
            self.serialize_u64(v.into())
        }
        fn serialize_f32(self, v: f32) -> Result<(), EmitError> {
            self.serialize_f64(v.into())
        }
        fn serialize_char(self, v: char) -> Result<(), EmitError> {
            self.serialize_str(v.encode_utf8(&mut [0; 4]))
        }
        fn serialize_none(self) -> Result<(), EmitError> {
            self.serialize_unit()
        }
        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), EmitError> {
            value.serialize(self)
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), EmitError> {
            self.serialize_unit()
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<(), EmitError> {
            self.serialize_str(variant)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<(), EmitError> {
            value.serialize(self)
        }
    };
}

impl<'a> ser::Serializer for Emitter<'a> {
    type Ok = ();
    type Error = EmitError;
    type SerializeSeq = SeqEmitter<'a>;
    type SerializeTuple = SeqEmitter<'a>;
    type SerializeTupleStruct = SeqEmitter<'a>;
    type SerializeTupleVariant = SeqEmitter<'a>;
    type SerializeMap = MapEmitter<'a>;
    type SerializeStruct = MapEmitter<'a>;
    type SerializeStructVariant = MapEmitter<'a>;

    scalar_delegations!();

    fn serialize_bool(self, v: bool) -> Result<(), EmitError> {
        put(self.out, self.at, |o| {
            o.push_str(if v { "true" } else { "false" })
        });
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), EmitError> {
        self.number(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), EmitError> {
        self.number(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), EmitError> {
        self.number(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), EmitError> {
        self.number(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), EmitError> {
        put(self.out, self.at, |o| float(v, o));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), EmitError> {
        put(self.out, self.at, |o| string(v, o));
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), EmitError> {
        let mut seq = SeqEmitter::new(self.out, self.at);
        for b in v {
            seq.item(b)?;
        }
        seq.finish()
    }
    fn serialize_unit(self) -> Result<(), EmitError> {
        put(self.out, self.at, |o| o.push_str("null"));
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), EmitError> {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<SeqEmitter<'a>, EmitError> {
        Ok(SeqEmitter::new(self.out, self.at))
    }
    fn serialize_tuple(self, _: usize) -> Result<SeqEmitter<'a>, EmitError> {
        Ok(SeqEmitter::new(self.out, self.at))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<SeqEmitter<'a>, EmitError> {
        Ok(SeqEmitter::new(self.out, self.at))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<SeqEmitter<'a>, EmitError> {
        Ok(SeqEmitter::new(self.out, self.at))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapEmitter<'a>, EmitError> {
        Ok(MapEmitter::new(self.out, self.at))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapEmitter<'a>, EmitError> {
        Ok(MapEmitter::new(self.out, self.at))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<MapEmitter<'a>, EmitError> {
        Ok(MapEmitter::new(self.out, self.at))
    }
}

/// The sequence-like serde traits, all written as a sequence.
macro_rules! as_sequence {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for SeqEmitter<'_> {
            type Ok = ();
            type Error = EmitError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EmitError> {
                self.item(value)
            }
            fn end(self) -> Result<(), EmitError> {
                self.finish()
            }
        }
    )*};
}

as_sequence!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for MapEmitter<'_> {
    type Ok = ();
    type Error = EmitError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EmitError> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EmitError> {
        self.value(value)
    }
    fn end(self) -> Result<(), EmitError> {
        self.finish()
    }
}

/// Structs and struct variants, written as mappings of their fields.
macro_rules! as_mapping {
    ($($trait:ident),*) => {$(
        impl ser::$trait for MapEmitter<'_> {
            type Ok = ();
            type Error = EmitError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), EmitError> {
                self.key(key)?;
                self.value(value)
            }
            fn end(self) -> Result<(), EmitError> {
                self.finish()
            }
        }
    )*};
}

as_mapping!(SerializeStruct, SerializeStructVariant);

/// A mapping key: a scalar's text, as a value would be written.
struct KeyEmitter<'a> {
    out: &'a mut String,
}

fn not_a_scalar_key() -> EmitError {
    EmitError("a mapping key must be a scalar".into())
}

impl ser::Serializer for KeyEmitter<'_> {
    type Ok = ();
    type Error = EmitError;
    type SerializeSeq = ser::Impossible<(), EmitError>;
    type SerializeTuple = ser::Impossible<(), EmitError>;
    type SerializeTupleStruct = ser::Impossible<(), EmitError>;
    type SerializeTupleVariant = ser::Impossible<(), EmitError>;
    type SerializeMap = ser::Impossible<(), EmitError>;
    type SerializeStruct = ser::Impossible<(), EmitError>;
    type SerializeStructVariant = ser::Impossible<(), EmitError>;

    scalar_delegations!();

    fn serialize_bool(self, v: bool) -> Result<(), EmitError> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), EmitError> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), EmitError> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), EmitError> {
        float(v, self.out);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), EmitError> {
        string(v, self.out);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), EmitError> {
        Err(not_a_scalar_key())
    }
    fn serialize_unit(self) -> Result<(), EmitError> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), EmitError> {
        Err(not_a_scalar_key())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, EmitError> {
        Err(not_a_scalar_key())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, EmitError> {
        Err(not_a_scalar_key())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, EmitError> {
        Err(not_a_scalar_key())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, EmitError> {
        Err(not_a_scalar_key())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, EmitError> {
        Err(not_a_scalar_key())
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, EmitError> {
        Err(not_a_scalar_key())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, EmitError> {
        Err(not_a_scalar_key())
    }
}

/// A float as YAML writes it (`.nan`, `.inf`, `-.inf`, else Rust's shortest
/// round-tripping form with a `.0` when it has no fraction).
fn float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str(".nan");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { ".inf" } else { "-.inf" });
    } else {
        let start = out.len();
        let _ = write!(out, "{v}");
        if !out[start..].contains(['.', 'e', 'E']) {
            out.push_str(".0");
        }
    }
}

/// Longest key written as `key: value`; longer ones are written `? key`.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Words YAML 1.1 (and so Kubernetes) reads as booleans or null.
const RESERVED: [&str; 12] = [
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "nan", "inf",
];

/// True if `s` can be written without quotes and still read back as this
/// exact string by YAML 1.1 and 1.2 parsers.
fn is_plain_safe(s: &str) -> bool {
    // Bytes, not characters: every character allowed is ASCII, and no byte
    // of a longer character is.
    let Some(&first) = s.as_bytes().first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'/')
        && !s.ends_with(':')
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/' | b':'))
        && (s.len() > LONGEST_RESERVED || !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)))
}

/// The length of the longest word of [`RESERVED`].
const LONGEST_RESERVED: usize = {
    let (mut i, mut longest) = (0, 0);
    while i < RESERVED.len() {
        if RESERVED[i].len() > longest {
            longest = RESERVED[i].len();
        }
        i += 1;
    }
    longest
};

/// Characters a single-quoted scalar holds as themselves: printable, and
/// none a YAML reader folds as a line break (NEL, LS, PS) or drops (BOM).
fn single_quote_safe(c: char) -> bool {
    matches!(c, ' '..='~')
        || (c >= '\u{a0}'
            && !matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            ))
}

/// A string scalar: plain when nothing else can be read from it, else
/// single-quoted, else double-quoted with escapes.
fn string(s: &str, out: &mut String) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if s.bytes().all(|b| matches!(b, b' '..=b'~')) || s.chars().all(single_quote_safe) {
        out.push('\'');
        if s.contains('\'') {
            for part in s.split_inclusive('\'') {
                out.push_str(part);
                if part.ends_with('\'') {
                    out.push('\'');
                }
            }
        } else {
            out.push_str(s);
        }
        out.push('\'');
    } else {
        double_quoted(s, out);
    }
}

/// A double-quoted scalar: every character that is not printable ASCII or
/// single-quote safe escaped (`\n`, `\t`, `\uXXXX`, `\UXXXXXXXX`).
fn double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if single_quote_safe(c) => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word longer than every reserved one is never compared with them;
    /// the reserved ones, in any case, are still quoted.
    #[test]
    fn reserved_words_are_quoted_whatever_their_length() {
        for word in RESERVED {
            assert!(!is_plain_safe(word), "{word}");
            assert!(!is_plain_safe(&word.to_uppercase()), "{word}");
        }
        assert!(is_plain_safe("falsey"));
    }

    #[test]
    fn indentation_deeper_than_the_spaces_at_hand_is_written_whole() {
        for indent in [0, 1, 31, 32, 33, 70] {
            let mut out = String::from("x");
            pad(indent, &mut out);
            assert_eq!(out, format!("x{}", " ".repeat(indent)));
        }
    }
}
