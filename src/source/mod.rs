//! Sources of flows: saved dumps ([`dump`]) and the live Hubble Relay stream
//! ([`relay`]). A source reads bytes, decodes them into the generated proto
//! types and reports bad input; it never interprets a flow.

pub mod checked;
pub mod dump;
pub mod event;
pub mod fast;
mod parallel;
pub mod relay;
mod scan;
pub mod sink;
pub mod validate;
