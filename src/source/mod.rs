//! Where flows come from: a live Hubble Relay (`relay`). Sources only read
//! bytes and decode them into the generated proto types; they never
//! interpret flows.

pub mod relay;
