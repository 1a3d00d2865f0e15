//! HTTP through Cilium's L7 proxy at the server (ingress visibility): a TCP connection whose
//! requests appear as L7 `REQUEST`/`RESPONSE` records (`Type: L7`, `event_type 129`, verdict
//! FORWARDED, `l7.http {method, url, protocol, headers, code}`) at the server's node, the shape
//! Hubble prints (see the hubble-otel HTTP sample in the corpus).

use flowpolicy::proto::flow::{
    layer7, Flow, Http, HttpHeader, L7FlowType, Layer7, TrafficDirection,
};

use super::clock::{NS_PER_MS, NS_PER_US, RTT_CLUSTER};
use super::sim::{Conn, Sim};

/// One request of a simulated exchange.
pub(crate) struct Request {
    pub(crate) method: &'static str,
    /// Absolute URL as the proxy logs it: `http://host:port/path?query`.
    pub(crate) url: String,
    /// gRPC (HTTP/2, `content-type: application/grpc`).
    pub(crate) grpc: bool,
}

impl<'c> Sim<'c> {
    /// A connection carrying `requests` one after the other, each logged by the server-side
    /// proxy. Returns the end time.
    pub(crate) fn http_session(&mut self, conn: &Conn, requests: &[Request], t0: u64) -> u64 {
        let end = self.tcp_session(conn, t0, RTT_CLUSTER);
        let Some(node) = self.local_node(&conn.dst) else {
            return end;
        };
        let mut t = t0 + RTT_CLUSTER + self.rng.range(50, 300) * NS_PER_US;
        for r in requests {
            let request = self.l7_http_flow(conn, node, r, None);
            self.push_flow(t, request);
            let latency = self.rng.range(1, 40) * NS_PER_MS + self.rng.below(NS_PER_MS);
            let response = self.l7_http_flow(conn, node, r, Some(latency));
            self.push_flow(t + latency, response);
            t += latency + self.rng.range(1, 200) * NS_PER_US;
        }
        end.max(t)
    }

    /// The request record (`latency: None`) or the response record of `r`.
    fn l7_http_flow(
        &mut self,
        conn: &Conn,
        node: usize,
        r: &Request,
        latency: Option<u64>,
    ) -> Flow {
        let response = latency.is_some();
        let mut flow = self.l7_flow(conn, response, node, TrafficDirection::Ingress);
        let protocol = if r.grpc { "HTTP/2" } else { "HTTP/1.1" };
        let mut headers = vec![HttpHeader {
            key: "User-Agent".into(),
            value: if r.grpc {
                "grpc-go/1.68.1"
            } else {
                "Go-http-client/1.1"
            }
            .into(),
        }];
        if r.grpc {
            headers.push(HttpHeader {
                key: "Content-Type".into(),
                value: "application/grpc".into(),
            });
        }
        let code = if response { 200 } else { 0 };
        flow.summary = match latency {
            None => format!("{protocol} {} {}", r.method, r.url),
            Some(l) => format!(
                "{protocol} {code} {}ms ({} {})",
                l / NS_PER_MS,
                r.method,
                r.url
            ),
        };
        flow.l7 = Some(Layer7 {
            r#type: if response {
                L7FlowType::Response
            } else {
                L7FlowType::Request
            } as i32,
            latency_ns: latency.unwrap_or(0),
            record: Some(layer7::Record::Http(Http {
                code,
                method: r.method.into(),
                url: r.url.clone(),
                protocol: protocol.into(),
                headers: if response { Vec::new() } else { headers },
            })),
        });
        flow
    }
}
