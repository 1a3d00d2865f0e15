//! Database-internal traffic: CNPG streaming replication and operator status checks, and
//! Dragonfly replication.

use super::super::clock::{spread, RTT_CLUSTER};
use super::super::cluster::PodRole;
use super::super::peers::Peer;
use super::super::sim::{Conn, Proto, Sim};

/// CNPG streaming replication and operator status checks; Dragonfly replication.
pub(crate) fn database_internal(sim: &mut Sim) {
    let c = sim.cluster;
    let primaries = c.pods_where(|p| p.role == PodRole::DbPrimary);
    let operator = c.pods_where(|p| {
        p.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("cloudnative-pg")
    });
    for primary in primaries {
        let p = &c.pods[primary];
        let replicas = c.pods_where(|r| {
            r.role == PodRole::DbReplica && r.workload == p.workload && r.namespace == p.namespace
        });
        let port = u32::from(p.ports[0]);
        for &replica in &replicas {
            for t in spread(&mut sim.rng, 3) {
                let conn = Conn {
                    src: Peer::Pod(replica),
                    dst: Peer::Pod(primary),
                    proto: Proto::Tcp,
                    sport: sim.rng.ephemeral_port(),
                    dport: port,
                    v6: false,
                    names: vec![],
                };
                sim.tcp_session(&conn, t, RTT_CLUSTER);
            }
        }
        if p.workload_kind != "Cluster" {
            continue;
        }
        for &op in &operator {
            for &instance in replicas.iter().chain(std::iter::once(&primary)) {
                for t in spread(&mut sim.rng, 6) {
                    let conn = Conn {
                        src: Peer::Pod(op),
                        dst: Peer::Pod(instance),
                        proto: Proto::Tcp,
                        sport: sim.rng.ephemeral_port(),
                        dport: 8000,
                        v6: false,
                        names: vec![],
                    };
                    sim.tcp_session(&conn, t, RTT_CLUSTER);
                }
            }
        }
    }
}
