//! DNS to CoreDNS: plain UDP/53 exchanges and, for pods with internet egress, the DNS-proxy
//! path (REDIRECTED verdict, TO_PROXY trace, L7 request/response records), with ndots
//! search-list NXDOMAIN expansions.

use std::collections::BTreeSet;
use std::net::IpAddr;

use flowpolicy::proto::flow::{
    layer7, CiliumEventType, Dns, Flow, L7FlowType, Layer7, TraceObservationPoint,
    TrafficDirection, Verdict,
};

use super::clock::{NS_PER_MS, NS_PER_US, RTT_CLUSTER};
use super::packets::{trace_sub_type, EVENT_POLICY_VERDICT, EVENT_TRACE};
use super::peers::Peer;
use super::sim::{Conn, Proto, Sim};

/// TTL Hubble prints for negative answers seen by the proxy.
pub(crate) const NEGATIVE_TTL: u32 = u32::MAX;

/// One DNS answer to simulate.
pub(crate) struct DnsAnswer {
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) ttl: u32,
    pub(crate) rcode: u32,
    pub(crate) qtype: &'static str,
}

impl<'c> Sim<'c> {
    /// Pods whose DNS goes through Cilium's DNS proxy (apps with internet egress, i.e. the pods
    /// a toFQDNs policy would cover); their lookups carry L7 DNS records.
    pub(crate) fn dns_is_proxied(&self, topo_internet_apps: &BTreeSet<String>, pod: usize) -> bool {
        topo_internet_apps.contains(&self.cluster.pods[pod].app_key)
    }

    /// Resolve `name` from `pod` (with search-list expansion when `expand`), returns the time
    /// the final answer arrives.
    pub(crate) fn resolve(
        &mut self,
        proxied: bool,
        pod: usize,
        name: &str,
        expand: bool,
        answer: &DnsAnswer,
        t0: u64,
    ) -> u64 {
        let mut t = t0;
        if expand {
            let ns = self.cluster.pods[pod].namespace.clone();
            for suffix in [
                format!("{ns}.svc.cluster.local"),
                "svc.cluster.local".into(),
                "cluster.local".into(),
            ] {
                let query = format!("{name}.{suffix}.");
                let nx = DnsAnswer {
                    ips: vec![],
                    ttl: NEGATIVE_TTL,
                    rcode: 3,
                    qtype: answer.qtype,
                };
                t = self.dns_query(proxied, pod, &query, &nx, t)
                    + self.rng.range(50, 400) * NS_PER_US;
            }
        }
        self.dns_query(proxied, pod, &format!("{name}."), answer, t)
    }

    fn dns_query(
        &mut self,
        proxied: bool,
        pod: usize,
        query: &str,
        answer: &DnsAnswer,
        t0: u64,
    ) -> u64 {
        let coredns = self.cluster.coredns_pods();
        let server = *self.rng.pick(&coredns);
        let conn = Conn {
            src: Peer::Pod(pod),
            dst: Peer::Pod(server),
            proto: Proto::Udp,
            sport: self.rng.ephemeral_port(),
            dport: 53,
            v6: false,
            names: vec![],
        };
        if !proxied {
            return self.udp_exchange(&conn, t0, RTT_CLUSTER);
        }
        self.proxied_dns(&conn, query, answer, t0)
    }

    /// DNS through the proxy: policy verdict REDIRECTED, trace TO_PROXY, L7 request/response,
    /// the proxied packet at CoreDNS's node, and the answer delivered back to the client.
    fn proxied_dns(&mut self, conn: &Conn, query: &str, answer: &DnsAnswer, t0: u64) -> u64 {
        let Peer::Pod(client) = conn.src else {
            return t0;
        };
        let node = self.cluster.pods[client].node;
        let l4 = Self::l4_for(conn, false, None);
        let mut verdict = self.packet_flow(conn, false, node, l4);
        verdict.verdict = Verdict::Redirected as i32;
        verdict.event_type = Some(CiliumEventType {
            r#type: EVENT_POLICY_VERDICT,
            sub_type: 0,
        });
        verdict.traffic_direction = TrafficDirection::Egress as i32;
        verdict.policy_match_type = 2;
        verdict.summary = "UDP".into();
        let mut to_proxy = verdict.clone();
        self.push_flow(t0, verdict);
        to_proxy.verdict = Verdict::Forwarded as i32;
        to_proxy.event_type = Some(CiliumEventType {
            r#type: EVENT_TRACE,
            sub_type: 1,
        });
        to_proxy.trace_observation_point = TraceObservationPoint::ToProxy as i32;
        self.push_flow(t0 + 5 * NS_PER_US, to_proxy);

        let t_req = t0 + self.rng.range(20, 80) * NS_PER_US;
        let request = self.l7_dns_flow(conn, node, false, query, answer, 0);
        self.push_flow(t_req, request);
        let t_up = t_req + self.rng.range(20, 60) * NS_PER_US;
        let upstream = Conn {
            src: conn.src.clone(),
            dst: conn.dst.clone(),
            ..conn.clone()
        };
        let server_node = self.local_node(&conn.dst).unwrap_or(node);
        self.emit_server_side_udp(&upstream, server_node, t_up);
        let latency = RTT_CLUSTER + self.rng.below(2 * NS_PER_MS);
        let t_resp = t_req + latency;
        let response = self.l7_dns_flow(conn, node, true, query, answer, latency);
        self.push_flow(t_resp, response);
        let l4r = Self::l4_for(conn, true, None);
        let mut delivered = self.packet_flow(conn, true, node, l4r);
        delivered.traffic_direction = TrafficDirection::Egress as i32;
        delivered.trace_observation_point = TraceObservationPoint::ToEndpoint as i32;
        delivered.event_type = Some(CiliumEventType {
            r#type: EVENT_TRACE,
            sub_type: 0,
        });
        delivered.summary = "UDP".into();
        self.push_flow(t_resp + 10 * NS_PER_US, delivered);
        t_resp + 10 * NS_PER_US
    }

    /// The proxied query and its answer as observed at the DNS server's node.
    fn emit_server_side_udp(&mut self, conn: &Conn, node: usize, t: u64) {
        for (reverse, point, dt) in [
            (false, TraceObservationPoint::ToEndpoint, 0),
            (true, TraceObservationPoint::ToStack, RTT_CLUSTER / 2),
        ] {
            let l4 = Self::l4_for(conn, reverse, None);
            let mut flow = self.packet_flow(conn, reverse, node, l4);
            flow.traffic_direction = TrafficDirection::Ingress as i32;
            flow.trace_observation_point = point as i32;
            flow.event_type = Some(CiliumEventType {
                r#type: EVENT_TRACE,
                sub_type: trace_sub_type(point),
            });
            flow.summary = "UDP".into();
            self.push_flow(t + dt, flow);
        }
    }

    fn l7_dns_flow(
        &mut self,
        conn: &Conn,
        node: usize,
        response: bool,
        query: &str,
        answer: &DnsAnswer,
        latency: u64,
    ) -> Flow {
        let mut flow = self.l7_flow(conn, response, node, TrafficDirection::Egress);
        let qtypes = vec![answer.qtype.to_string()];
        let dns = if response {
            let ips: Vec<String> = answer.ips.iter().map(|ip| ip.to_string()).collect();
            flow.summary = if answer.rcode == 3 {
                format!(
                    "DNS Answer RCode: Non-Existent Domain TTL: {} (Proxy {query} {})",
                    answer.ttl, answer.qtype
                )
            } else {
                let quoted: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
                format!(
                    "DNS Answer {} TTL: {} (Proxy {query} {})",
                    quoted.join(","),
                    answer.ttl,
                    answer.qtype
                )
            };
            Dns {
                query: query.to_string(),
                rrtypes: if ips.is_empty() {
                    vec![]
                } else {
                    qtypes.clone()
                },
                ips,
                ttl: answer.ttl,
                observation_source: "proxy".into(),
                rcode: answer.rcode,
                qtypes,
                ..Default::default()
            }
        } else {
            flow.summary = format!("DNS Query {query} {}", answer.qtype);
            Dns {
                query: query.to_string(),
                observation_source: "proxy".into(),
                qtypes,
                ..Default::default()
            }
        };
        flow.l7 = Some(Layer7 {
            r#type: if response {
                L7FlowType::Response
            } else {
                L7FlowType::Request
            } as i32,
            latency_ns: latency,
            record: Some(layer7::Record::Dns(dns)),
        });
        flow
    }
}
