//! Cilium entities (`fromEntities` / `toEntities`): reserved peers such as
//! `world`, `host` or `kube-apiserver`, written as lowercase strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Cilium entity. Unknown names (newer releases, typos) are kept in
/// [`Entity::Other`] so that real-world files still load and round-trip.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entity {
    World,
    WorldIpv4,
    WorldIpv6,
    Cluster,
    Host,
    RemoteNode,
    KubeApiserver,
    Ingress,
    Health,
    Init,
    Unmanaged,
    All,
    None,
    Other(String),
}

impl Entity {
    /// Every named entity (not `Other`).
    pub const KNOWN: [Entity; 13] = [
        Entity::World,
        Entity::WorldIpv4,
        Entity::WorldIpv6,
        Entity::Cluster,
        Entity::Host,
        Entity::RemoteNode,
        Entity::KubeApiserver,
        Entity::Ingress,
        Entity::Health,
        Entity::Init,
        Entity::Unmanaged,
        Entity::All,
        Entity::None,
    ];

    /// The spelling Cilium uses in policies.
    pub fn as_str(&self) -> &str {
        match self {
            Entity::World => "world",
            Entity::WorldIpv4 => "world-ipv4",
            Entity::WorldIpv6 => "world-ipv6",
            Entity::Cluster => "cluster",
            Entity::Host => "host",
            Entity::RemoteNode => "remote-node",
            Entity::KubeApiserver => "kube-apiserver",
            Entity::Ingress => "ingress",
            Entity::Health => "health",
            Entity::Init => "init",
            Entity::Unmanaged => "unmanaged",
            Entity::All => "all",
            Entity::None => "none",
            Entity::Other(s) => s,
        }
    }

    /// Parses a name; never fails (unknown names become `Other`).
    pub fn parse(s: &str) -> Entity {
        Entity::KNOWN
            .iter()
            .find(|e| e.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Entity::Other(s.to_owned()))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Entity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Entity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Entity::parse(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_round_trip_and_unknown_are_kept() {
        for e in Entity::KNOWN {
            assert_eq!(Entity::parse(e.as_str()), e);
        }
        let e: Entity = serde_json::from_str("\"encrypted-overlay\"").unwrap();
        assert_eq!(e, Entity::Other("encrypted-overlay".into()));
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"encrypted-overlay\"");
        assert_eq!(
            serde_json::to_string(&Entity::KubeApiserver).unwrap(),
            "\"kube-apiserver\""
        );
    }
}
