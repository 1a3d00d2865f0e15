//! World egress from `egress_internet`: a DNS lookup (via the proxy for these apps), then the
//! TCP or UDP connection to a world address in one of the three identity styles.

use std::collections::BTreeSet;

use super::super::clock::{spread, NS_PER_MS, RTT_WORLD};
use super::super::dns::DnsAnswer;
use super::super::internet::{addresses_for, ipv6_address_for, parse_egress_dest, WorldDest};
use super::super::peers::Peer;
use super::super::rng::fnv1a;
use super::super::sim::{Conn, Proto, Sim};
use super::super::topology::Topology;

/// Internet egress from `egress_internet`: DNS via the proxy (L7), then the connection.
pub(crate) fn internet_egress(sim: &mut Sim, topo: &Topology, internet_apps: &BTreeSet<String>) {
    let c = sim.cluster;
    let external_hosts: Vec<String> = topo
        .apps
        .iter()
        .flat_map(|a| a.exposure.routes.iter())
        .filter(|r| r.gateway.ends_with("external"))
        .flat_map(|r| r.hostnames.iter().cloned())
        .collect();
    for app in &topo.apps {
        let clients = c.client_pods(&app.key());
        if clients.is_empty() {
            continue;
        }
        for egress in &app.egress_internet {
            let dests = parse_egress_dest(&egress.dest, &external_hosts);
            let (proto, port) = egress_protocol(&egress.dest, egress.port);
            let Some(port) = port else { continue };
            for dest in dests {
                if egress.dest.contains("on nodes") {
                    continue;
                }
                for t in spread(&mut sim.rng, 6) {
                    let src = *sim.rng.pick(&clients);
                    world_connection(sim, internet_apps, src, &dest, proto, port, t);
                }
            }
        }
    }
}

/// cloudflared's tunnel is QUIC (UDP 7844) per its helmrelease; WireGuard VPNs use UDP 51820.
fn egress_protocol(dest: &str, port: Option<u16>) -> (Proto, Option<u16>) {
    let lower = dest.to_ascii_lowercase();
    if lower.contains("argotunnel") {
        (Proto::Udp, port)
    } else if lower.contains("wireguard") {
        (Proto::Udp, Some(51820))
    } else if port == Some(53) {
        (Proto::Udp, port)
    } else {
        (Proto::Tcp, port)
    }
}

fn world_connection(
    sim: &mut Sim,
    internet_apps: &BTreeSet<String>,
    src: usize,
    dest: &WorldDest,
    proto: Proto,
    port: u16,
    t: u64,
) {
    let (ip, names, v6) = match dest {
        WorldDest::Address(ip) => (*ip, vec![], false),
        WorldDest::Name(name) => {
            let v6_addr = ipv6_address_for(name);
            let addrs = addresses_for(name);
            let (qtype, answers) = match v6_addr {
                Some(a) => ("AAAA", vec![a]),
                None => ("A", addrs.clone()),
            };
            let ttl = [60, 300, 3600][(fnv1a(name) % 3) as usize];
            let answer = DnsAnswer {
                ips: answers.clone(),
                ttl,
                rcode: 0,
                qtype,
            };
            let expand = sim.rng.chance(35);
            let proxied = sim.dns_is_proxied(internet_apps, src);
            sim.resolve(
                proxied,
                src,
                name,
                expand,
                &answer,
                t.saturating_sub(3 * NS_PER_MS),
            );
            let ip = *sim.rng.pick(&answers);
            let names = if !fnv1a(name).is_multiple_of(3) {
                vec![name.clone()]
            } else {
                vec![]
            };
            (ip, names, v6_addr.is_some())
        }
    };
    let conn = Conn {
        src: Peer::Pod(src),
        dst: Peer::World(ip),
        proto,
        sport: sim.rng.ephemeral_port(),
        dport: u32::from(port),
        v6,
        names,
    };
    match proto {
        Proto::Tcp => sim.tcp_session(&conn, t, RTT_WORLD),
        Proto::Udp => sim.udp_exchange(&conn, t, RTT_WORLD),
    };
}
