//! Who is at each end of a flow: a workload (namespace + stable identity
//! labels), a reserved entity, or the world (by name or by address).
//!
//! World detection follows Cilium's identity model, not just `reserved:world`:
//! dual-stack clusters label the outside `reserved:world-ipv4/-ipv6`, and
//! locally scoped CIDR/FQDN identities (bit 24 set) carry `cidr:`/`fqdn:`
//! labels. Reserved numeric identities decide before labels: identity 1 is
//! the local host, and on a control-plane node also the kube-apiserver
//! ([`Entity::HostKubeApiserver`]); a remote control-plane node (identity 7,
//! or `reserved:remote-node` + `reserved:kube-apiserver`) is
//! [`Entity::KubeApiserver`], which carries `remote-node` too.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::peer::labels::{self, NAMESPACE_LABEL};
use crate::peer::{Entity, Peer, WorkloadKey};
use crate::proto::flow;

/// What an endpoint is, before world peers are resolved to names/addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointKind {
    Workload(WorkloadKey),
    Entity(Entity),
    World,
    /// Nothing identifies it (field-masked or identity 0 with no labels).
    Unknown,
}

/// Classifies a Hubble endpoint: reserved numeric identities first (identity
/// 1 is the local host, with `reserved:kube-apiserver` on a control-plane
/// node; 7 a remote node serving the kube-apiserver; 2/9/10 the world), then
/// labels (`reserved:host` wins over `reserved:kube-apiserver`, which wins
/// over `reserved:remote-node`; `reserved:kube-apiserver` with world or CIDR
/// labels is an API server outside the cluster), then pod labels and
/// namespace.
pub fn classify_endpoint(ep: Option<&flow::Endpoint>) -> EndpointKind {
    let Some(ep) = ep else {
        return EndpointKind::Unknown;
    };
    if matches!(ep.identity, 2 | 9 | 10) {
        return EndpointKind::World;
    }
    let mut entity: Option<Entity> = None;
    let mut world = false;
    let mut apiserver = false;
    let mut has_k8s = false;
    for raw in &ep.labels {
        let l = labels::parse(raw);
        match l.source {
            "reserved" => match l.key {
                "world" | "world-ipv4" | "world-ipv6" => world = true,
                "kube-apiserver" => apiserver = true,
                other => {
                    let e = reserved_entity(other);
                    entity = match (entity, e) {
                        (Some(a), Some(b)) => Some(narrower(a, b)),
                        (a, b) => a.or(b),
                    };
                }
            },
            "cidr" | "fqdn" => world = true,
            "k8s" => has_k8s = true,
            _ => {}
        }
    }
    if let Some(e) = entity_of_identity(ep.identity) {
        return EndpointKind::Entity(match e {
            Entity::Host if apiserver => Entity::HostKubeApiserver,
            e => e,
        });
    }
    if apiserver {
        return EndpointKind::Entity(match entity {
            Some(Entity::Host) => Entity::HostKubeApiserver,
            _ if world || ep.identity >= 1 << 24 => Entity::KubeApiserverWorld,
            _ => Entity::KubeApiserver,
        });
    }
    if let Some(e) = entity {
        return EndpointKind::Entity(e);
    }
    if world {
        return EndpointKind::World;
    }
    if has_k8s || !ep.namespace.is_empty() {
        let mut labels = labels::stable_k8s_labels(&ep.labels);
        let namespace = labels
            .get(NAMESPACE_LABEL)
            .cloned()
            .unwrap_or_else(|| ep.namespace.clone());
        if !namespace.is_empty() {
            labels
                .entry(NAMESPACE_LABEL.to_string())
                .or_insert_with(|| namespace.clone());
            return EndpointKind::Workload(WorkloadKey { namespace, labels });
        }
    }
    if ep.identity >= 1 << 24 {
        // Locally scoped CIDR/FQDN identity whose labels were masked away.
        return EndpointKind::World;
    }
    EndpointKind::Unknown
}

fn reserved_entity(key: &str) -> Option<Entity> {
    Some(match key {
        "host" => Entity::Host,
        "remote-node" => Entity::RemoteNode,
        "health" => Entity::Health,
        "ingress" => Entity::Ingress,
        "init" => Entity::Init,
        "unmanaged" => Entity::Unmanaged,
        _ => return None,
    })
}

/// Turns a world endpoint into a peer: a configured CIDR group containing the
/// address, else the first known DNS name, else the address itself.
pub fn world_peer(ip: Option<IpAddr>, names: &[String], groups: &[IpNet]) -> Peer {
    let Some(ip) = ip else {
        return match names.first() {
            Some(n) => Peer::Fqdn(n.clone()),
            None => Peer::Entity(Entity::World),
        };
    };
    if let Some(g) = groups.iter().find(|g| g.contains(&ip)) {
        return Peer::Cidr(*g);
    }
    match names.first() {
        Some(n) => Peer::Fqdn(n.clone()),
        None => Peer::Cidr(IpNet::from(ip)),
    }
}

/// Of two reserved labels on one identity (`reserved:kube-apiserver` aside),
/// the one that names it: the local host is the host whatever else it
/// carries.
fn narrower(this: Entity, other: Entity) -> Entity {
    let rank = |e: Entity| match e {
        Entity::Host => 0,
        _ => 1,
    };
    if rank(other) < rank(this) {
        other
    } else {
        this
    }
}

/// Reserved numeric identities (0 unknown, 2/9/10 are world).
fn entity_of_identity(id: u32) -> Option<Entity> {
    Some(match id {
        1 => Entity::Host,
        3 => Entity::Unmanaged,
        4 => Entity::Health,
        5 => Entity::Init,
        6 => Entity::RemoteNode,
        7 => Entity::KubeApiserver,
        8 => Entity::Ingress,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(identity: u32, labels: &[&str]) -> flow::Endpoint {
        flow::Endpoint {
            identity,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn apiserver_identities_keep_their_label_union() {
        for labels in [
            &["reserved:kube-apiserver", "reserved:remote-node"][..],
            &["reserved:remote-node", "reserved:kube-apiserver"][..],
            &[][..],
        ] {
            assert_eq!(
                classify_endpoint(Some(&ep(7, labels))),
                EndpointKind::Entity(Entity::KubeApiserver)
            );
        }
        assert_eq!(
            classify_endpoint(Some(&ep(
                0,
                &["reserved:remote-node", "reserved:kube-apiserver"]
            ))),
            EndpointKind::Entity(Entity::KubeApiserver)
        );
        for (id, labels) in [
            (1, &["reserved:host", "reserved:kube-apiserver"][..]),
            (1, &["reserved:kube-apiserver", "reserved:host"][..]),
            (0, &["reserved:kube-apiserver", "reserved:host"][..]),
        ] {
            assert_eq!(
                classify_endpoint(Some(&ep(id, labels))),
                EndpointKind::Entity(Entity::HostKubeApiserver)
            );
        }
        assert_eq!(
            classify_endpoint(Some(&ep(1, &["reserved:host"]))),
            EndpointKind::Entity(Entity::Host)
        );
        assert_eq!(
            classify_endpoint(Some(&ep(
                16777217,
                &["reserved:kube-apiserver", "reserved:world"]
            ))),
            EndpointKind::Entity(Entity::KubeApiserverWorld)
        );
    }

    #[test]
    fn dual_stack_and_cidr_identities_are_world() {
        for e in [
            ep(16777217, &["cidr:1.1.1.1/32", "reserved:world-ipv4"]),
            ep(10, &["reserved:world-ipv6"]),
            ep(2, &["reserved:world"]),
            ep(16777300, &["fqdn:api.github.com"]),
            ep(9, &[]),
            ep(16777301, &[]),
        ] {
            assert_eq!(classify_endpoint(Some(&e)), EndpointKind::World, "{e:?}");
        }
    }

    #[test]
    fn numeric_identity_fallback_for_masked_labels() {
        assert_eq!(
            classify_endpoint(Some(&ep(1, &[]))),
            EndpointKind::Entity(Entity::Host)
        );
        assert_eq!(
            classify_endpoint(Some(&ep(6, &[]))),
            EndpointKind::Entity(Entity::RemoteNode)
        );
        assert_eq!(classify_endpoint(Some(&ep(0, &[]))), EndpointKind::Unknown);
        assert_eq!(classify_endpoint(None), EndpointKind::Unknown);
    }

    #[test]
    fn workloads_keep_stable_labels_and_namespace() {
        let e = flow::Endpoint {
            identity: 4242,
            namespace: "media".into(),
            labels: [
                "k8s:app=plex",
                "k8s:pod-template-hash=abc",
                "k8s:io.kubernetes.pod.namespace=media",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            ..Default::default()
        };
        let EndpointKind::Workload(w) = classify_endpoint(Some(&e)) else {
            panic!()
        };
        assert_eq!(w.namespace, "media");
        assert!(w.labels.contains_key("app"));
        assert!(!w.labels.contains_key("pod-template-hash"));
        assert_eq!(w.display_name(), "plex");
    }

    #[test]
    fn world_peers_prefer_groups_then_names_then_addresses() {
        let groups = vec!["10.0.0.0/8".parse().unwrap()];
        let lan: IpAddr = "10.0.4.2".parse().unwrap();
        let net: IpAddr = "140.82.112.3".parse().unwrap();
        assert_eq!(world_peer(Some(lan), &[], &groups), Peer::Cidr(groups[0]));
        assert_eq!(
            world_peer(Some(net), &["github.com".into()], &groups),
            Peer::Fqdn("github.com".into())
        );
        assert_eq!(
            world_peer(Some(net), &[], &groups),
            Peer::Cidr("140.82.112.3/32".parse().unwrap())
        );
        assert_eq!(world_peer(None, &[], &groups), Peer::Entity(Entity::World));
    }
}
