//! What can go wrong reading a dump: a bad line with its position, and the
//! errors that stop the read (cannot open, `--strict`, not a dump at all).

use std::io;

use crate::source::validate::Rejection;

/// A line that could not be decoded.
#[derive(Debug, Clone)]
pub struct LineError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Everything that went wrong in a way the user must hear about.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("cannot open {file}: {cause}")]
    Open { file: String, cause: io::Error },
    #[error("{0} (--strict: malformed lines are errors)")]
    Strict(LineError),
    #[error("{file}:{line}: rejected flow: {rejection} (--strict: flows with invalid names or values are errors)")]
    StrictRejected {
        file: String,
        line: u64,
        rejection: Rejection,
    },
    #[error("{file}: input ends early after line {line}: {message} (--strict)")]
    StrictTruncated {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file} does not look like a Hubble flow dump (`hubble observe -o jsonpb`): no line decoded; first problem: {first}")]
    NotADump { file: String, first: String },
}
