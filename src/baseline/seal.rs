//! The checksum that seals a baseline document: the XXH3-64 of the JSON as
//! written without it, appended as the last member (`"checksum":
//! "xxh3:…"`), checked before anything is parsed so a flipped bit is refused
//! as damage, never loaded.

use std::io::Write;

use xxhash_rust::xxh3::Xxh3;

/// How the checksum member ends every sealed document: it is the last
/// member, on its own line.
const SEAL_START: &[u8] = b",\n  \"checksum\": \"xxh3:";
const SEAL_END: &[u8] = b"\"\n}\n";
/// How many bytes sealing adds to a document.
pub(super) const SEAL_LEN: usize = SEAL_START.len() + 16 + SEAL_END.len() - DOC_END.len();
/// What a document ends with without its checksum member.
const DOC_END: &[u8] = b"\n}\n";

/// Appends the checksum member: the XXH3-64 of the document as written
/// without it.
#[cfg(test)]
pub(super) fn seal(doc: &[u8]) -> Vec<u8> {
    let mut sealer = Sealer::new(Vec::with_capacity(doc.len() + SEAL_LEN));
    sealer.write_all(doc).expect("writing into memory");
    sealer.finish().expect("writing into memory")
}

/// Seals a document as it is written, never holding it: every byte goes
/// into the checksum, and on to `out` but for the last few, held back
/// until [`Sealer::finish`] knows they are the document's end and writes
/// the checksum member in their place.
pub(super) struct Sealer<W: Write> {
    out: W,
    hash: Xxh3,
    /// The last bytes seen (at most `DOC_END.len()`), not yet passed on.
    held: Vec<u8>,
}

impl<W: Write> Sealer<W> {
    pub(super) fn new(out: W) -> Sealer<W> {
        Sealer {
            out,
            hash: Xxh3::new(),
            held: Vec::with_capacity(DOC_END.len()),
        }
    }

    /// Ends the document with its checksum member; `out` is handed back.
    pub(super) fn finish(mut self) -> std::io::Result<W> {
        debug_assert_eq!(self.held, DOC_END, "a document ends with its closing brace");
        let sum = self.hash.digest();
        self.out.write_all(SEAL_START)?;
        self.out.write_all(format!("{sum:016x}").as_bytes())?;
        self.out.write_all(SEAL_END)?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hash.update(buf);
        let keep = DOC_END.len();
        if buf.len() >= keep {
            self.out.write_all(&self.held)?;
            self.held.clear();
            let (pass, hold) = buf.split_at(buf.len() - keep);
            self.out.write_all(pass)?;
            self.held.extend_from_slice(hold);
        } else {
            self.held.extend_from_slice(buf);
            let over = self.held.len().saturating_sub(keep);
            self.out.write_all(&self.held[..over])?;
            self.held.drain(..over);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

pub(super) enum Seal {
    /// The document ends with its checksum, and it matches.
    Verified,
    /// No checksum member where flowpolicy writes one.
    Absent,
    /// A checksum that does not match (the reason).
    Mismatch(String),
}

/// Checks the checksum member at the end of a document.
pub(super) fn check_seal(bytes: &[u8]) -> Seal {
    let tail = SEAL_START.len() + 16 + SEAL_END.len();
    if bytes.len() < tail {
        return Seal::Absent;
    }
    let (doc, sealed) = bytes.split_at(bytes.len() - tail);
    if !sealed.starts_with(SEAL_START) || !sealed.ends_with(SEAL_END) {
        return Seal::Absent;
    }
    let hex = &sealed[SEAL_START.len()..SEAL_START.len() + 16];
    let Some(want) = std::str::from_utf8(hex)
        .ok()
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .and_then(|h| u64::from_str_radix(h, 16).ok())
    else {
        return Seal::Mismatch("its checksum is not 16 hex digits".into());
    };
    let mut h = Xxh3::new();
    h.update(doc);
    h.update(DOC_END);
    let got = h.digest();
    if got == want {
        Seal::Verified
    } else {
        Seal::Mismatch(format!(
            "its contents do not match their checksum (xxh3:{got:016x}, recorded xxh3:{want:016x})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written whole or in pieces of any size, a document is sealed the
    /// same: its closing brace after the checksum member, which checks.
    #[test]
    fn a_document_written_in_pieces_is_sealed_the_same() {
        let doc = b"{\n  \"format\": \"flowpolicy-baseline\",\n  \"edges\": []\n}\n".to_vec();
        let want = seal(&doc);
        let body = &doc[..doc.len() - DOC_END.len()];
        let sum = xxhash_rust::xxh3::xxh3_64(&doc);
        assert_eq!(
            want,
            [body, SEAL_START, format!("{sum:016x}").as_bytes(), SEAL_END].concat()
        );
        for piece in [1, 2, 3, 4, 7] {
            let mut sealer = Sealer::new(Vec::new());
            for chunk in doc.chunks(piece) {
                sealer.write_all(chunk).unwrap();
            }
            assert_eq!(sealer.finish().unwrap(), want, "pieces of {piece}");
        }
        assert!(matches!(check_seal(&want), Seal::Verified));
    }
}
