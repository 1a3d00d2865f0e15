//! CronJob runs: each run's fresh pod dumps its app's database or talks to the API server.

use std::collections::BTreeSet;

use super::super::clock::{NS_PER_SEC, RTT_CLUSTER};
use super::super::cluster::PodRole;
use super::super::peers::Peer;
use super::super::sim::{Conn, Proto, Sim};
use super::super::topology::Topology;

use super::targets::{connect_to_target, resolve_target};

/// CronJob runs: each run is a fresh pod whose `job-name` differs. Backup jobs dump their
/// app's database through its `-rw` service; other jobs work against the API server.
pub(crate) fn cronjob_runs_traffic(
    sim: &mut Sim,
    topo: &Topology,
    internet_apps: &BTreeSet<String>,
) {
    let c = sim.cluster;
    for job in c.pods_where(|p| matches!(p.role, PodRole::Job { .. })) {
        let PodRole::Job { start, .. } = c.pods[job].role else {
            continue;
        };
        let t = start + 8 * NS_PER_SEC;
        let app = topo.apps.iter().find(|a| a.key() == c.pods[job].app_key);
        let database = app.and_then(|a| a.databases_owned.first().map(|db| (a, db)));
        match database {
            Some((app, db)) if c.pods[job].workload.contains("backup") => {
                let service = format!("{}-rw", db.name);
                if let Some(target) =
                    resolve_target(c, topo, &app.key(), Some(&service), Some(db.port))
                {
                    connect_to_target(sim, internet_apps, job, &target, t);
                }
            }
            _ => {
                let conn = Conn {
                    src: Peer::Pod(job),
                    dst: Peer::ApiServer(c.control_plane[0]),
                    proto: Proto::Tcp,
                    sport: sim.rng.ephemeral_port(),
                    dport: 6443,
                    v6: false,
                    names: vec![],
                };
                sim.tcp_session(&conn, t, RTT_CLUSTER);
            }
        }
    }
}
