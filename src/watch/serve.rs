//! The `/metrics` endpoint of `watch --metrics ADDR`: a minimal HTTP/1
//! server (hyper 1) that answers `GET /metrics` with the registry in the
//! Prometheus text format ([`super::metrics::encode`]) and anything else
//! with 404 (405 for another method on `/metrics`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::registry::Registry;

/// What prometheus-client's text encoder writes (OpenMetrics text).
const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` (`host:port`; port 0 picks a free one) before anything
/// else starts, so a taken port is an error at once.
pub fn bind(addr: &str) -> Result<std::net::TcpListener, String> {
    let sock: SocketAddr = addr.parse().map_err(|_| {
        format!(
            "--metrics {addr}: not an address; give host:port, e.g. 0.0.0.0:9090 or 127.0.0.1:9090"
        )
    })?;
    let listener = std::net::TcpListener::bind(sock)
        .map_err(|e| format!("--metrics {addr}: cannot listen there: {e}; choose another port"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("--metrics {addr}: {e}"))?;
    Ok(listener)
}

fn respond(req: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let (status, body, content) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, super::metrics::encode(registry), CONTENT),
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "GET /metrics\n".to_string(),
            "text/plain; charset=utf-8",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "flowpolicy watch: the metrics are at /metrics\n".to_string(),
            "text/plain; charset=utf-8",
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content));
    resp
}

/// Serves `/metrics` on `listener` until the task is dropped.
pub async fn serve(listener: std::net::TcpListener, registry: Arc<Registry>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let registry = registry.clone();
                async move { Ok::<_, Infallible>(respond(&req, &registry)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}
