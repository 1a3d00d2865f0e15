//! The `GetFlowsRequest` the follow loop sends, built like `hubble observe
//! --all --follow` plus the namespace and time selectors.
//!
//! - No `since` (first connection, nothing persisted): `number = u64::MAX`,
//!   `first = false`, `follow = true`. The hubble CLI sends exactly this for
//!   `--all` ("all is an alias for last=uint64_max"): the server walks back
//!   to the oldest flow in its ring buffer, sends everything, then follows.
//!   (`number = 0` with `follow` would mean "only new flows".)
//! - With `since` (resuming, or `--since`): `number = 0`, `first = false`,
//!   `follow = true`, `since` = the later of `--since` and the resume point.
//!   `since` takes precedence over `number` on the server and is inclusive,
//!   so the boundary flows come again and [`super::ResumeState`] drops them.
//! - `until` is passed through (`--until`).
//! - The request never carries a field mask, so the server sends every
//!   field (labels, `traffic_direction`, `is_reply`, `l4`, names).

use crate::proto::flow::FlowFilter;
use crate::proto::observer::GetFlowsRequest;

use super::config::RelayConfig;
use super::resume::{FlowTime, ResumeState};

/// The request for the next (re)connection of the follow loop.
pub fn flows_request(cfg: &RelayConfig, resume: &ResumeState) -> GetFlowsRequest {
    let since = match (cfg.since.map(FlowTime::from), resume.last_time) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    GetFlowsRequest {
        number: if since.is_some() { 0 } else { u64::MAX },
        first: false,
        follow: true,
        whitelist: namespace_filters(&cfg.namespace),
        blacklist: namespace_filters(&cfg.not_namespace),
        since: since.map(FlowTime::to_timestamp),
        until: cfg.until.map(|t| FlowTime::from(t).to_timestamp()),
    }
}

/// The hubble CLI's mapping of `--namespace` (whitelist) and
/// `--not-namespace` (blacklist): one filter on `source_pod` and one on
/// `destination_pod`, each with the `ns/` prefix of every namespace. Filters
/// in a list are ORed, so a flow matches when either side is in one of the
/// namespaces. No namespaces, no filters.
pub fn namespace_filters(namespaces: &[String]) -> Vec<FlowFilter> {
    if namespaces.is_empty() {
        return Vec::new();
    }
    let prefixes: Vec<String> = namespaces.iter().map(|ns| format!("{ns}/")).collect();
    vec![
        FlowFilter {
            source_pod: prefixes.clone(),
            ..FlowFilter::default()
        },
        FlowFilter {
            destination_pod: prefixes,
            ..FlowFilter::default()
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn first_request_is_all_and_follow() {
        let req = flows_request(&RelayConfig::default(), &ResumeState::default());
        assert_eq!((req.number, req.first, req.follow), (u64::MAX, false, true));
        assert!(req.since.is_none() && req.until.is_none());
        assert!(req.whitelist.is_empty() && req.blacklist.is_empty());
    }

    #[test]
    fn resume_uses_the_later_since_and_number_zero() {
        let cli_since = chrono::Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let cfg = RelayConfig {
            since: Some(cli_since),
            ..RelayConfig::default()
        };
        let req = flows_request(&cfg, &ResumeState::default());
        assert_eq!(req.number, 0);
        assert_eq!(req.since.unwrap().seconds, cli_since.timestamp());

        let resume = ResumeState {
            last_time: Some(FlowTime::from(cli_since + chrono::Duration::seconds(7))),
            ..ResumeState::default()
        };
        let req = flows_request(&cfg, &resume);
        assert_eq!(req.since.unwrap().seconds, cli_since.timestamp() + 7);
        assert!(req.follow && !req.first);
    }

    #[test]
    fn namespaces_map_like_the_hubble_cli() {
        let cfg = RelayConfig {
            namespace: vec!["shop".into(), "db".into()],
            not_namespace: vec!["kube-system".into()],
            ..RelayConfig::default()
        };
        let req = flows_request(&cfg, &ResumeState::default());
        assert_eq!(req.whitelist.len(), 2);
        assert_eq!(req.whitelist[0].source_pod, ["shop/", "db/"]);
        assert!(req.whitelist[0].destination_pod.is_empty());
        assert_eq!(req.whitelist[1].destination_pod, ["shop/", "db/"]);
        assert_eq!(req.blacklist[0].source_pod, ["kube-system/"]);
        assert_eq!(req.blacklist[1].destination_pod, ["kube-system/"]);
    }
}
