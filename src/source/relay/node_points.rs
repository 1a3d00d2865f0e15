//! Resume points by node for a stream through the relay, so that a baseline
//! switches between the relay and every node's Hubble server
//! (`--peer-service`) without losing or repeating a flow.
//!
//! A fan-out baseline saves one point per node; the relay only takes one
//! `since`. Continued through the relay, the stream starts at the oldest
//! node's point and each flow is checked against its own node's saved point
//! ([`NodePoints::admit`]): what that node's stream already delivered is
//! dropped. Every flow delivered also moves its node's point, so that a
//! relay baseline continued by a fan-out starts each node where the relay
//! left it.
//!
//! Node names: the peer service and the flows both say `cluster/node`
//! outside the default cluster. A name not found as it is is looked up by
//! its node part, when exactly one saved name has it.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::endpoints::Received;
use super::fingerprint::Fingerprint;
use super::resume::{FlowTime, ResumeState};
use crate::proto::observer::get_flows_response::ResponseTypes;

/// The points a stream started from, and those its flows reached.
#[derive(Debug, Clone, Default)]
pub struct NodePoints {
    /// Saved by an earlier run: the flows they cover are not delivered again.
    saved: BTreeMap<String, ResumeState>,
    /// Each node name the stream gave, looked up once.
    nodes: FxHashMap<String, Node>,
}

/// One node name of the stream: its saved point, and how far its flows got.
#[derive(Debug, Clone)]
struct Node {
    /// The name its point is saved under (the saved name it matched).
    key: String,
    saved: Option<ResumeState>,
    /// The newest flow time delivered, and the fingerprints at that time
    /// (a list reused as time moves on: no allocation per flow).
    last: Option<FlowTime>,
    boundary: Vec<Fingerprint>,
}

impl NodePoints {
    /// Continuing from the points an earlier run saved.
    pub fn new(saved: BTreeMap<String, ResumeState>) -> NodePoints {
        NodePoints {
            saved,
            nodes: FxHashMap::default(),
        }
    }

    /// Records a response; false for one its node's saved point covers
    /// (delivered before): a flow ([`ResumeState::covers`]), or a node's
    /// lost-events notice older than the point. Other responses, and flows
    /// without a time or a node name, always pass.
    pub fn admit(&mut self, received: &Received) -> bool {
        let resp = &received.response;
        let (name, flow) = match &resp.response_types {
            Some(ResponseTypes::Flow(f)) if !f.node_name.is_empty() => (&f.node_name, true),
            Some(ResponseTypes::Flow(_)) => (&resp.node_name, true),
            Some(ResponseTypes::LostEvents(_)) => (&resp.node_name, false),
            _ => return true,
        };
        if name.is_empty() {
            // No node to keep a point for (the relay's own point covers it).
            return true;
        }
        if !self.nodes.contains_key(name.as_str()) {
            let key = lookup(&self.saved, name).unwrap_or(name).to_string();
            let saved = self.saved.get(&key).cloned();
            let node = Node {
                key,
                saved,
                last: None,
                boundary: Vec::new(),
            };
            self.nodes.insert(name.clone(), node);
        }
        let Some(node) = self.nodes.get_mut(name.as_str()) else {
            return true;
        };
        let time = FlowTime::of(resp);
        if let Some(saved) = &node.saved {
            let covered = if flow {
                saved.covers(received)
            } else {
                time.zip(saved.last_time).is_some_and(|(t, last)| t < last)
            };
            if covered {
                return false;
            }
        }
        if let (true, Some(time)) = (flow, time) {
            match node.last {
                Some(last) if time < last => {}
                Some(last) if time == last => {
                    if !node.boundary.contains(&received.fingerprint) {
                        node.boundary.push(received.fingerprint);
                    }
                }
                _ => {
                    node.last = Some(time);
                    node.boundary.clear();
                    node.boundary.push(received.fingerprint);
                }
            }
        }
        true
    }

    /// Each node's point now: the saved ones, moved by the flows delivered.
    pub fn reached(&self) -> BTreeMap<String, ResumeState> {
        let mut points = self.saved.clone();
        for node in self.nodes.values() {
            let Some(last) = node.last else {
                continue;
            };
            points
                .entry(node.key.clone())
                .or_default()
                .merge(&ResumeState {
                    last_time: Some(last),
                    boundary: node.boundary.iter().copied().collect(),
                });
        }
        points
    }
}

/// The saved name `name` stands for: itself, or the one saved name with the
/// same node part (`cluster/node` against `node`).
pub fn lookup<'a>(saved: &'a BTreeMap<String, ResumeState>, name: &str) -> Option<&'a str> {
    if let Some((key, _)) = saved.get_key_value(name) {
        return Some(key);
    }
    let node = node_part(name);
    let mut same = saved.keys().filter(|k| node_part(k) == node);
    match (same.next(), same.next()) {
        (Some(key), None) => Some(key),
        _ => None,
    }
}

fn node_part(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, node)| node)
}

/// The oldest of the points that have one: where a stream through the relay
/// starts so that no node's flows are missed.
pub fn oldest(points: &BTreeMap<String, ResumeState>) -> Option<&ResumeState> {
    points
        .values()
        .filter(|p| p.last_time.is_some())
        .min_by_key(|p| p.last_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::flow::Flow;
    use crate::proto::observer::GetFlowsResponse;

    fn flow(secs: i64, node: &str, port: u32) -> Received {
        let ts = pbjson_types::Timestamp {
            seconds: secs,
            nanos: 0,
        };
        Received::new(GetFlowsResponse {
            response_types: Some(ResponseTypes::Flow(Flow {
                time: Some(ts),
                node_name: node.into(),
                l4: Some(crate::proto::flow::Layer4 {
                    protocol: Some(crate::proto::flow::layer4::Protocol::Tcp(
                        crate::proto::flow::Tcp {
                            destination_port: port,
                            ..Default::default()
                        },
                    )),
                }),
                ..Flow::default()
            })),
            node_name: node.into(),
            time: Some(ts),
        })
    }

    /// Node a stopped at 10 (one flow there), node b at 20: through the
    /// relay from 10, what each node delivered is dropped, the rest passes
    /// and moves the points; a node never seen starts its own.
    #[test]
    fn flows_a_node_delivered_before_are_dropped() {
        let mut a = ResumeState::default();
        a.admit(&flow(10, "a", 1));
        let mut b = ResumeState::default();
        b.admit(&flow(20, "b", 1));
        let saved = BTreeMap::from([("a".to_string(), a), ("kind/b".to_string(), b)]);
        assert_eq!(oldest(&saved).unwrap().last_time, saved["a"].last_time);
        let mut points = NodePoints::new(saved);
        assert!(!points.admit(&flow(10, "a", 1)), "a's flow at its point");
        assert!(points.admit(&flow(10, "a", 2)), "another flow at a's point");
        assert!(!points.admit(&flow(15, "b", 1)), "b delivered up to 20");
        assert!(!points.admit(&flow(20, "b", 1)), "b's flow at its point");
        assert!(points.admit(&flow(20, "b", 2)));
        assert!(points.admit(&flow(12, "c", 1)), "a node never seen");
        assert!(points.admit(&flow(5, "", 1)), "a flow without a node");
        assert!(points.admit(&flow(30, "a", 1)));
        let lost = |secs: i64, node: &str| {
            Received::new(GetFlowsResponse {
                response_types: Some(ResponseTypes::LostEvents(Default::default())),
                node_name: node.into(),
                time: Some(pbjson_types::Timestamp {
                    seconds: secs,
                    nanos: 0,
                }),
            })
        };
        assert!(!points.admit(&lost(15, "b")), "b's stream told of it");
        assert!(points.admit(&lost(25, "b")));
        let reached = points.reached();
        let secs = |k: &str| reached[k].last_time.unwrap().to_timestamp().seconds;
        assert_eq!((secs("a"), secs("kind/b"), secs("c")), (30, 20, 12));
        assert_eq!(reached.len(), 3);
    }

    #[test]
    fn names_match_by_their_node_part_when_unambiguous() {
        let saved: BTreeMap<String, ResumeState> = ["c1/n1", "c1/n2", "c2/n2", "n3"]
            .iter()
            .map(|k| (k.to_string(), ResumeState::default()))
            .collect();
        assert_eq!(lookup(&saved, "c1/n1"), Some("c1/n1"));
        assert_eq!(lookup(&saved, "n1"), Some("c1/n1"));
        assert_eq!(lookup(&saved, "n2"), None, "two clusters have an n2");
        assert_eq!(lookup(&saved, "c9/n3"), Some("n3"));
        assert_eq!(lookup(&saved, "n4"), None);
    }
}
