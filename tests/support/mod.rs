//! Shared helpers for integration tests. Each test binary includes this with
//! `mod support;` and uses what it needs.
#![allow(dead_code)]

pub mod certs;
pub mod observer_server;
