//! The one graph builder: source events through the interpreter into a
//! [`TrafficGraph`] and its coverage. Dumps, baselines being continued and
//! the live stream all build their graph here (it is a
//! [`FlowSink`](crate::source::sink::FlowSink)), so a flow counts the same
//! whichever way it arrived.

use std::ops::ControlFlow;

use super::TrafficGraph;
use crate::interpret::{
    time_ns, InterpretConfig, InterpretState, InterpretStats, Interpreter, Observation,
};
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::sink::{At, FlowSink};

/// A traffic graph being built, with the interpreter that feeds it.
pub struct GraphBuilder {
    pub graph: TrafficGraph,
    pub interpreter: Interpreter,
}

impl GraphBuilder {
    /// An empty graph.
    pub fn new(cfg: InterpretConfig) -> GraphBuilder {
        GraphBuilder::on(TrafficGraph::new(), cfg)
    }

    /// Adds to `graph` with a fresh interpreter.
    pub fn on(graph: TrafficGraph, cfg: InterpretConfig) -> GraphBuilder {
        GraphBuilder {
            graph,
            interpreter: Interpreter::new(cfg),
        }
    }

    /// Continues a loaded baseline: its graph, and an interpreter that
    /// remembers what the baseline's interpreter did (DNS answers, open
    /// connections, parked flows, pod addresses) and carries on its
    /// counters, so the flows that follow count as in one long run.
    pub fn resume(
        graph: TrafficGraph,
        cfg: InterpretConfig,
        state: &InterpretState,
        stats: InterpretStats,
    ) -> GraphBuilder {
        GraphBuilder {
            graph,
            interpreter: Interpreter::resume(cfg, state, stats),
        }
    }

    /// Adds one event; `seen` is shown the flow's observation, if any.
    pub fn add(
        &mut self,
        event: &SourceEvent,
        hint: EndpointHint,
        seen: &mut dyn FnMut(&Observation<'_>),
    ) {
        let coverage = &mut self.graph.coverage;
        match event {
            SourceEvent::Flow(f) => {
                coverage.flows += 1;
                let t = time_ns(f);
                coverage.see_time(t);
                coverage.see_node(&f.node_name, t);
                if let Some(o) = self.interpreter.interpret_hinted(f, hint) {
                    seen(&o);
                    self.graph.record(&o);
                }
            }
            SourceEvent::Lost { node, count, .. } => {
                let key = if node.is_empty() {
                    "unknown".to_string()
                } else {
                    node.clone()
                };
                *coverage.lost_events.entry(key).or_default() += count;
            }
            SourceEvent::NodeStatus { state, nodes, .. } => {
                if state == "NODE_UNAVAILABLE" {
                    coverage.unavailable_nodes.extend(nodes.iter().cloned());
                }
                *coverage.node_status.entry(state.clone()).or_default() += 1;
            }
        }
    }
}

impl FlowSink for GraphBuilder {
    fn event(&mut self, event: &SourceEvent, _: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
        self.add(event, hint, &mut |_| {});
        ControlFlow::Continue(())
    }
}
