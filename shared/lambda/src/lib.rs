//! # pynomaly-lambda
//!
//! The three AWS Lambda functions' handlers, over the same use cases as the `pynomaly`
//! container (no logic of their own):
//!
//! - [`api`]: the axum Router of `pynomaly serve`, behind API Gateway (HTTP API v2 and
//!   REST v1 events; base64 bodies decoded by `lambda_http`).
//! - [`batch`]: SQS events carrying job and chunk messages; answers
//!   `batchItemFailures`, so one bad message never fails or repeats the others.
//! - [`ingest`]: S3 `ObjectCreated` events under `incoming/{model_id}/`.
//!
//! [`runtime`] builds what every function needs once per container: JSON logs with the
//! request id, the backend from the environment, and CloudWatch Embedded Metric Format
//! lines. The binaries in `functions/` are a few lines each.

pub mod api;
pub mod batch;
pub mod ingest;
pub mod runtime;
