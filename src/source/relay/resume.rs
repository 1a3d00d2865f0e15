//! [`ResumeState`]: where a flow stream stopped, so a reconnect (or a later
//! run, via a persisted baseline) asks the relay for `since` = the last flow
//! time and drops the flows at exactly that time it already delivered.
//!
//! Hubble's `since` is inclusive, so the resumed stream repeats every flow
//! stamped with the boundary time; the state keeps a [`Fingerprint`] of each
//! of those (only those: the set is reset whenever time moves forward).

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::endpoints::Received;
use super::fingerprint::{Fingerprint, FingerprintKind};
use crate::proto::observer::get_flows_response::ResponseTypes;
use crate::proto::observer::GetFlowsResponse;

/// A flow timestamp with nanosecond precision; serialized as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct FlowTime {
    seconds: i64,
    nanos: u32,
}

impl FlowTime {
    /// From a protobuf timestamp (normalizing out-of-range nanos).
    pub fn from_timestamp(ts: &pbjson_types::Timestamp) -> FlowTime {
        let extra = i64::from(ts.nanos.div_euclid(1_000_000_000));
        FlowTime {
            seconds: ts.seconds.saturating_add(extra),
            nanos: ts.nanos.rem_euclid(1_000_000_000) as u32,
        }
    }

    /// As a protobuf timestamp, for `GetFlowsRequest.since`.
    pub fn to_timestamp(self) -> pbjson_types::Timestamp {
        pbjson_types::Timestamp {
            seconds: self.seconds,
            nanos: self.nanos as i32,
        }
    }

    /// As a chrono time (None only for years beyond chrono's range).
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.seconds, self.nanos)
    }

    /// The time of a response: its envelope `time`, else the flow's own.
    pub fn of(resp: &GetFlowsResponse) -> Option<FlowTime> {
        let flow_time = match &resp.response_types {
            Some(ResponseTypes::Flow(flow)) => flow.time.as_ref(),
            _ => None,
        };
        resp.time
            .as_ref()
            .or(flow_time)
            .map(FlowTime::from_timestamp)
    }
}

impl From<DateTime<Utc>> for FlowTime {
    fn from(t: DateTime<Utc>) -> FlowTime {
        FlowTime {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos(),
        }
    }
}

impl fmt::Display for FlowTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            None => write!(f, "{}.{:09}s", self.seconds, self.nanos),
        }
    }
}

impl From<FlowTime> for String {
    fn from(t: FlowTime) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for FlowTime {
    type Error = String;
    fn try_from(s: String) -> Result<FlowTime, String> {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| FlowTime::from(t.with_timezone(&Utc)))
            .map_err(|e| format!("bad RFC 3339 time {s:?}: {e}"))
    }
}

/// Where the stream stopped: the newest flow time delivered and the
/// fingerprints of the flows delivered at exactly that time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    /// Time of the newest flow delivered; `since` of the next request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<FlowTime>,
    /// Flows already delivered whose time equals `last_time`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub boundary: BTreeSet<Fingerprint>,
}

impl ResumeState {
    /// Whether a stream that stopped here already delivered `received`: a
    /// flow older than the point, or at its time and in the boundary set.
    /// Other responses, and flows without a time, are never covered.
    pub fn covers(&self, received: &Received) -> bool {
        let resp = &received.response;
        if !matches!(resp.response_types, Some(ResponseTypes::Flow(_))) {
            return false;
        }
        let (Some(time), Some(last)) = (FlowTime::of(resp), self.last_time) else {
            return false;
        };
        time < last
            || (time == last
                && (self.boundary.contains(&received.fingerprint) || self.legacy_holds(resp)))
    }

    /// Whether the boundary, written by a flowpolicy that fingerprinted
    /// flows the old way, holds `resp` under its old fingerprint.
    fn legacy_holds(&self, resp: &GetFlowsResponse) -> bool {
        self.boundary.iter().any(|f| f.kind == FingerprintKind::Fnv)
            && self.boundary.contains(&Fingerprint::legacy(resp))
    }

    /// Takes in another stream's point for the same flows: the later one
    /// wins; at equal times the boundary sets unite.
    pub fn merge(&mut self, theirs: &ResumeState) {
        match (self.last_time, theirs.last_time) {
            (_, None) => {}
            (None, Some(_)) => *self = theirs.clone(),
            (Some(a), Some(b)) if b > a => *self = theirs.clone(),
            (Some(a), Some(b)) if a == b => self.boundary.extend(theirs.boundary.iter().copied()),
            _ => {}
        }
    }

    /// Records `resp` and says whether to deliver it: false only for a flow
    /// at the boundary time that was already delivered. Node status and
    /// lost-events responses, and flows without a time, always pass and
    /// leave the state alone (relay status events carry the relay's clock,
    /// which must not move the resume point past buffered flows). A flow
    /// older than the boundary (the relay merges nodes with a short sort
    /// window) passes without moving the boundary back.
    pub fn admit(&mut self, received: &Received) -> bool {
        let resp = &received.response;
        if !matches!(resp.response_types, Some(ResponseTypes::Flow(_))) {
            return true;
        }
        let Some(time) = FlowTime::of(resp) else {
            return true;
        };
        match self.last_time {
            Some(last) if time < last => true,
            Some(last) if time == last => {
                let legacy = self.legacy_holds(resp);
                self.boundary.insert(received.fingerprint) && !legacy
            }
            _ => {
                self.last_time = Some(time);
                self.boundary.clear();
                self.boundary.insert(received.fingerprint);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::flow::{Flow, LostEvent};
    use prost::Message;

    fn flow(secs: i64, nanos: i32, node: &str) -> Received {
        let ts = pbjson_types::Timestamp {
            seconds: secs,
            nanos,
        };
        Received::new(GetFlowsResponse {
            response_types: Some(ResponseTypes::Flow(Flow {
                time: Some(ts),
                ..Flow::default()
            })),
            node_name: node.into(),
            time: Some(ts),
        })
    }

    #[test]
    fn boundary_duplicates_are_dropped_once_time_moves_on_set_resets() {
        let mut st = ResumeState::default();
        assert!(st.admit(&flow(10, 5, "a")));
        assert!(st.admit(&flow(10, 5, "b")));
        assert!(!st.admit(&flow(10, 5, "a")), "repeat at the boundary");
        assert_eq!(st.boundary.len(), 2);
        assert!(st.admit(&flow(10, 6, "a")));
        assert_eq!(st.boundary.len(), 1);
        assert!(st.admit(&flow(9, 0, "late")), "older flows pass");
        assert_eq!(st.last_time.unwrap().to_timestamp().nanos, 6);
    }

    #[test]
    fn merged_points_keep_the_later_and_unite_at_equal_times() {
        let point = |flows: &[(i64, &str)]| {
            let mut st = ResumeState::default();
            for (secs, node) in flows {
                st.admit(&flow(*secs, 0, node));
            }
            st
        };
        let mut mine = point(&[(10, "a")]);
        mine.merge(&point(&[(10, "b")]));
        assert_eq!(mine.boundary.len(), 2, "same time: both flows");
        mine.merge(&point(&[(9, "c")]));
        assert_eq!(mine, point(&[(10, "a"), (10, "b")]), "older: ignored");
        mine.merge(&ResumeState::default());
        assert_eq!(mine.boundary.len(), 2, "no point: ignored");
        mine.merge(&point(&[(11, "d")]));
        assert_eq!(mine, point(&[(11, "d")]), "later: taken");
    }

    #[test]
    fn non_flows_pass_and_do_not_move_the_cursor() {
        let mut st = ResumeState::default();
        let lost = Received::new(GetFlowsResponse {
            response_types: Some(ResponseTypes::LostEvents(LostEvent::default())),
            node_name: "a".into(),
            time: Some(pbjson_types::Timestamp {
                seconds: 99,
                nanos: 0,
            }),
        });
        assert!(st.admit(&lost));
        assert!(st.admit(&lost));
        assert_eq!(st, ResumeState::default());
    }

    #[test]
    fn serde_round_trip_is_readable() {
        let mut st = ResumeState::default();
        st.admit(&flow(1_700_000_000, 123_456_789, "a"));
        let json = serde_json::to_string(&st).unwrap();
        assert!(
            json.starts_with(r#"{"last_time":"2023-11-14T22:13:20.123456789Z","boundary":["xxh3:"#),
            "{json}"
        );
        let back: ResumeState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, st);
        assert_eq!(
            serde_json::from_str::<ResumeState>("{}").unwrap(),
            ResumeState::default()
        );
    }

    #[test]
    fn time_normalizes_nanos() {
        let t = FlowTime::from_timestamp(&pbjson_types::Timestamp {
            seconds: 5,
            nanos: -1,
        });
        assert_eq!(t.to_timestamp().seconds, 4);
        assert_eq!(t.to_timestamp().nanos, 999_999_999);
    }

    #[test]
    fn wire_fingerprints_hash_the_bytes_received() {
        let f = flow(10, 5, "a");
        let bytes = f.response.encode_to_vec();
        let wire = Received::from_wire(&bytes).unwrap();
        assert_eq!(wire, f);
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0xa0, 0x06, 0x01]); // unknown field 100, varint 1
        let other = Received::from_wire(&longer).unwrap();
        assert_eq!(other.response, f.response, "unknown fields are skipped");
        assert_ne!(
            other.fingerprint, f.fingerprint,
            "but they are part of the bytes"
        );
        assert!(Received::from_wire(&[0x0a, 0x05]).is_err());
    }

    #[test]
    fn a_baseline_with_fnv_fingerprints_still_drops_its_boundary_flows() {
        // What a version before the wire fingerprint stored after delivering
        // flow a at 10.5: `last_time` and a bare 16-hex-digit FNV-1a.
        let a = flow(10, 5, "a");
        let old = format!(
            r#"{{"last_time":"1970-01-01T00:00:10.000000005Z","boundary":["{:016x}"]}}"#,
            Fingerprint::legacy(&a.response).hash
        );
        let mut st: ResumeState = serde_json::from_str(&old).unwrap();
        assert_eq!(
            st.boundary.iter().next().unwrap().kind,
            FingerprintKind::Fnv
        );
        assert!(!st.admit(&a), "the repeat of an already delivered flow");
        assert!(
            st.admit(&flow(10, 5, "b")),
            "a new flow at the boundary time"
        );
        assert!(!st.admit(&flow(10, 5, "b")));
        assert!(st.admit(&flow(11, 0, "a")));
        assert_eq!(
            st.boundary.iter().map(|f| f.kind).collect::<Vec<_>>(),
            [FingerprintKind::Wire]
        );
        let json = serde_json::to_string(&st).unwrap();
        assert_eq!(serde_json::from_str::<ResumeState>(&json).unwrap(), st);
    }
}
