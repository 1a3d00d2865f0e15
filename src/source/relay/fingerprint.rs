//! [`Fingerprint`]: how the resume bookkeeping recognises a response it
//! already delivered, by a hash of the bytes the relay sent.

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::proto::observer::GetFlowsResponse;

/// A stable 64-bit hash of one response: XXH3-64 of the bytes the relay
/// sent (its protobuf encoding: flow, node name and time), computed once
/// as the message is decoded ([`Received::from_wire`]); serialized as 16 hex
/// digits after `xxh3:`. Identical responses have identical fingerprints:
/// a relay serializes the same flow to the same bytes (Go's protobuf encoder
/// writes fields in number order, and a flow has no map fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint {
    pub kind: FingerprintKind,
    pub hash: u64,
}

/// How a [`Fingerprint`] was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FingerprintKind {
    /// XXH3-64 of the response's wire bytes (`xxh3:` and 16 hex digits).
    Wire,
    /// FNV-1a of this build's re-encoding of the decoded response (16 hex
    /// digits alone): baselines of versions before the wire fingerprint,
    /// recognised at their resume until time moves past them.
    Fnv,
}

impl Fingerprint {
    /// The fingerprint of a response's wire bytes.
    pub fn of_wire(bytes: &[u8]) -> Fingerprint {
        Fingerprint {
            kind: FingerprintKind::Wire,
            hash: xxhash_rust::xxh3::xxh3_64(bytes),
        }
    }

    /// The fingerprint of `resp` as this build encodes it; equal to the
    /// relay's bytes' whenever the relay sends only fields this build knows,
    /// in canonical order (tests; [`Received::new`]).
    pub fn of(resp: &GetFlowsResponse) -> Fingerprint {
        Fingerprint::of_wire(&resp.encode_to_vec())
    }

    /// How flowpolicy up to 0.x fingerprinted (FNV-1a over this build's
    /// re-encoding of the decoded response), kept to recognise the boundary
    /// flows of a baseline written by such a version once, at its resume.
    pub(super) fn legacy(resp: &GetFlowsResponse) -> Fingerprint {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in resp.encode_to_vec() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Fingerprint {
            kind: FingerprintKind::Fnv,
            hash,
        }
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        match f.kind {
            FingerprintKind::Wire => format!("xxh3:{:016x}", f.hash),
            FingerprintKind::Fnv => format!("{:016x}", f.hash),
        }
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(s: String) -> Result<Fingerprint, String> {
        let (kind, hex) = match s.strip_prefix("xxh3:") {
            Some(hex) => (FingerprintKind::Wire, hex),
            None => (FingerprintKind::Fnv, s.as_str()),
        };
        u64::from_str_radix(hex, 16)
            .map(|hash| Fingerprint { kind, hash })
            .map_err(|e| format!("bad fingerprint {s:?}: {e}"))
    }
}
