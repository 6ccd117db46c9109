//! # pynomaly-service
//!
//! What Pynomaly's entry points share above the algorithms: reading user data
//! ([`formats`]) and storing fitted models ([`models`]). The HTTP API, job system and
//! cloud adapters build on these.
//!
//! ```
//! use pynomaly_service::formats::{read_table, ReadOptions};
//!
//! let csv = "host,cpu,latency\nweb1,0.5,120\nweb2,0.6,115\nweb3,0.9,900\n";
//! let options = ReadOptions { ignore_columns: vec!["host".into()], ..Default::default() };
//! let table = read_table(csv.as_bytes(), &options)?;
//! assert_eq!(table.columns, vec!["cpu", "latency"]);
//! assert_eq!(table.data.nrows(), 3);
//! # Ok::<(), pynomaly_service::formats::FormatError>(())
//! ```

pub mod auth;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod backend;
pub mod benchmark;
pub mod config;
pub mod consumer;
pub mod counters;
pub mod deadline;
pub mod drift;
pub mod fanout;
pub mod formats;
pub mod http;
pub mod jobs;
pub mod messages;
pub mod models;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
pub mod postgres_queue;
#[cfg(feature = "postgres")]
pub mod postgres_tls;
pub mod queue;
pub mod results;
pub mod scoring;
pub mod series;
pub mod storage;
pub mod streams;
#[doc(hidden)]
pub mod testing;
