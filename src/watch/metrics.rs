//! `watch --metrics`: the counters and gauges of a watch in a
//! `prometheus-client` registry, encoded in the text exposition format by
//! the crate (served by [`super::serve`]). Every handle is a cheap clone
//! of an atomic: the sink keeps the per-(namespace, direction) counters it
//! needs on each edge, so counting a flow is an atomic add, not a lookup.
//! The metrics are documented in docs/watch.md.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of the per-namespace drop counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NsDirection {
    pub namespace: String,
    /// `ingress` or `egress`.
    pub direction: String,
}

/// Label of the per-node stream gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabel {
    pub node: String,
}

/// Every metric of a watch.
#[derive(Clone, Default)]
pub struct Metrics {
    pub flows: Counter,
    pub would_drop: Family<NsDirection, Counter>,
    pub dropped: Family<NsDirection, Counter>,
    pub new_edges: Counter,
    pub lost_events: Counter,
    pub stream_up: Family<NodeLabel, Gauge>,
    pub reloads: Counter,
    pub reload_errors: Counter,
    pub unused_rules: Counter,
    pub evicted_edges: Counter,
    pub edges: Gauge,
}

impl Metrics {
    /// The metrics, registered under their `flowpolicy_` names.
    pub fn registered() -> (Metrics, Registry) {
        let m = Metrics::default();
        let mut r = Registry::default();
        r.register(
            "flowpolicy_flows",
            "Flows received from the relay (after the door check)",
            m.flows.clone(),
        );
        r.register(
            "flowpolicy_would_drop_flows",
            "Delivered flows the watched policy tree would drop, by the namespace and direction whose policy drops them",
            m.would_drop.clone(),
        );
        r.register(
            "flowpolicy_dropped_flows",
            "Flows Cilium dropped for a policy reason (POLICY_DENIED, POLICY_DENY), by namespace and direction",
            m.dropped.clone(),
        );
        r.register(
            "flowpolicy_new_edges",
            "Connections (initiator, responder, port) first seen in this watch that no rule of the tree allows",
            m.new_edges.clone(),
        );
        r.register(
            "flowpolicy_lost_events",
            "Events Hubble reported lost (ring buffer overflows, relay queues): the watch has gaps",
            m.lost_events.clone(),
        );
        r.register(
            "flowpolicy_stream_up",
            "1 while the stream from this node (the relay, or a node it reports on) is up, 0 while it is down",
            m.stream_up.clone(),
        );
        r.register(
            "flowpolicy_policy_reloads",
            "Successful reloads of the policy tree (SIGHUP)",
            m.reloads.clone(),
        );
        r.register(
            "flowpolicy_policy_reload_errors",
            "Reloads of the policy tree that failed (the previous tree stayed in force)",
            m.reload_errors.clone(),
        );
        r.register(
            "flowpolicy_unused_rules",
            "Allow rules reported unused for --unused-after",
            m.unused_rules.clone(),
        );
        r.register(
            "flowpolicy_evicted_edges",
            "Distinct edges forgotten because --max-edges was reached",
            m.evicted_edges.clone(),
        );
        r.register(
            "flowpolicy_edges",
            "Distinct edges (initiator, responder, port) tracked now",
            m.edges.clone(),
        );
        (m, r)
    }

    /// The counter of one namespace and direction.
    pub fn would_drop_for(&self, namespace: &str, direction: &str) -> Counter {
        self.would_drop
            .get_or_create(&NsDirection {
                namespace: namespace.to_string(),
                direction: direction.to_string(),
            })
            .clone()
    }

    pub fn dropped_for(&self, namespace: &str, direction: &str) -> Counter {
        self.dropped
            .get_or_create(&NsDirection {
                namespace: namespace.to_string(),
                direction: direction.to_string(),
            })
            .clone()
    }

    /// Sets the stream state of `node` (1 up, 0 down).
    pub fn stream(&self, node: &str, up: bool) {
        self.stream_up
            .get_or_create(&NodeLabel {
                node: node.to_string(),
            })
            .set(i64::from(up));
    }
}

/// The registry in the text exposition format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
