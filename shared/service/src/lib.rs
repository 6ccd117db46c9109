//! # pynomaly-service
//!
//! What Pynomaly's entry points share above the algorithms: reading user data
//! ([`formats`]) and storing fitted models ([`models`]). The HTTP API, job system and
//! cloud adapters build on these.

pub mod formats;
pub mod models;
