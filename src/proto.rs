//! Wire types generated at build time from `proto/` (see build.rs): prost
//! messages, the tonic Observer client and server, and their proto3 JSON
//! mapping. Never edited by hand.
#![allow(clippy::all, missing_docs, rustdoc::all)]

/// Hubble's `flow` package: Flow, Endpoint, Layer4, Layer7, LostEvent, …
pub mod flow {
    include!(concat!(env!("OUT_DIR"), "/flow.rs"));
    include!(concat!(env!("OUT_DIR"), "/flow.serde.rs"));
}

/// Hubble Relay's `relay` package: node status events.
pub mod relay {
    include!(concat!(env!("OUT_DIR"), "/relay.rs"));
    include!(concat!(env!("OUT_DIR"), "/relay.serde.rs"));
}

/// The `observer` package: the Observer service, GetFlows and ServerStatus.
pub mod observer {
    include!(concat!(env!("OUT_DIR"), "/observer.rs"));
    include!(concat!(env!("OUT_DIR"), "/observer.serde.rs"));
}

/// The `peer` package: the peer service's `Notify` stream of node servers
/// coming and going (client, and a server for tests).
pub mod peer {
    include!(concat!(env!("OUT_DIR"), "/peer.rs"));
}
