//! What each function builds once per container, before its first invocation.

use pynomaly_service::backend::{Backend, BackendError, open};
use pynomaly_service::config::Settings;
use std::path::Path;

/// JSON log lines on stdout (CloudWatch Logs), one field set per event, with the
/// invocation's `requestId` from the runtime's span. `RUST_LOG` /
/// `AWS_LAMBDA_LOG_LEVEL` set the filter (default `info`).
pub fn init_tracing() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_ascii_lowercase();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The settings, parsed once from the environment with the container's parsing and
/// defaults (`PYNOMALY_STORE` defaults to `aws` in a function, and may not keep state on a
/// container's disk: S3 `PYNOMALY_BUCKET`,
/// DynamoDB `PYNOMALY_TABLE`, SQS `PYNOMALY_QUEUE_URL`), and the backend they name. A
/// setting that does not parse fails the function's start, naming the variable.
pub async fn start() -> Result<(Settings, Backend), BackendError> {
    let settings = Settings::from_env("aws")?;
    settings.require_shared("a function runs in many containers that share no disk")?;
    let backend = open(&settings, Path::new("/tmp")).await?;
    Ok((settings, backend))
}

/// One CloudWatch Embedded Metric Format line (printed to stdout, where CloudWatch turns
/// it into metrics without an API call): namespace `Pynomaly`, dimension `Function`.
pub fn emit_metrics(function: &str, metrics: &[(&str, f64, &str)]) {
    println!("{}", emf_line(function, metrics, now_millis()));
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn emf_line(function: &str, metrics: &[(&str, f64, &str)], timestamp: u128) -> String {
    let mut line = serde_json::Map::new();
    let definitions: Vec<serde_json::Value> = metrics
        .iter()
        .map(|(name, _, unit)| serde_json::json!({"Name": name, "Unit": unit}))
        .collect();
    line.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp as u64,
            "CloudWatchMetrics": [{
                "Namespace": "Pynomaly",
                "Dimensions": [["Function"]],
                "Metrics": definitions,
            }],
        }),
    );
    line.insert("Function".into(), function.into());
    for (name, value, _) in metrics {
        line.insert((*name).into(), serde_json::json!(value));
    }
    serde_json::Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_declare_every_metric() {
        let line = emf_line(
            "batch",
            &[("RowsScored", 10.0, "Count"), ("Failures", 1.0, "Count")],
            5,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Function"], "batch");
        assert_eq!(v["RowsScored"], 10.0);
        assert_eq!(v["_aws"]["Timestamp"], 5);
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["RowsScored", "Failures"]);
    }
}
