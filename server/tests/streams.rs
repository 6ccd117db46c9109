#![allow(clippy::unwrap_used)]
//! Streams end to end: a series replayed through `pynomaly serve`'s
//! `POST /api/v1/streams/{id}/points` in batches of 1 to 500 points flags exactly what
//! `pynomaly timeseries detect` flags on the whole file with the same parameters and
//! cooldown — also with the server killed (SIGKILL) and restarted halfway; and
//! `pynomaly stream` on standard input, restarted from `--state`, agrees with both.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use assert_cmd::cargo::cargo_bin;

/// A 5-minute series with a daily cycle, noise, spikes and a level shift.
fn series(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            let noise = ((i * 7919) % 97) as f64 / 97.0;
            let spike = if i % 997 == 500 { 25.0 } else { 0.0 };
            let shift = if i > 2600 { 12.0 } else { 0.0 };
            50.0 + 10.0 * phase.sin() + noise + spike + shift
        })
        .collect()
}

fn timestamp(i: usize) -> String {
    format!("{}", 1_700_000_000 + i * 300)
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(data: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(cargo_bin("pynomaly"))
            .env("PYNOMALY_DATA_DIR", data)
            .env("PYNOMALY_STORE", "local")
            .args(["serve", "--no-auth", "--port", &port.to_string()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Self { child, port }
    }

    /// One HTTP/1.1 request; (status, body).
    fn call(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer[9..12].parse().unwrap();
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        // Bodies may come chunked: take the JSON between the first `{` and the last `}`.
        let json = match (body.find('{'), body.rfind('}')) {
            (Some(a), Some(b)) => &body[a..=b],
            _ => "null",
        };
        (status, serde_json::from_str(json).unwrap())
    }

    /// Stops it the hard way: no chance to flush anything.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Flags of `pynomaly timeseries detect` on the whole series.
fn batch_flags(dir: &Path, values: &[f64], method: &str, params: &str, cooldown: u64) -> Vec<bool> {
    let mut csv = String::from("timestamp,value\n");
    for (i, v) in values.iter().enumerate() {
        csv.push_str(&format!("{},{v}\n", timestamp(i)));
    }
    let file = dir.join("series.csv");
    std::fs::write(&file, csv).unwrap();
    let output = Command::new(cargo_bin("pynomaly"))
        .args([
            "timeseries",
            "detect",
            file.to_str().unwrap(),
            "--method",
            method,
        ])
        .args(["--params", params, "--cooldown", &cooldown.to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let anomaly = header.iter().position(|h| *h == "anomaly").unwrap();
    lines
        .map(|l| l.split(',').nth(anomaly).unwrap() == "true")
        .collect()
}

/// Batch sizes from 1 to 500, varied.
fn batches(n: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut k) = (0, 0usize);
    while start < n {
        let size = [1, 500, 7, 123, 2, 64, 333, 1][k % 8];
        let end = (start + size).min(n);
        out.push(start..end);
        start = end;
        k += 1;
    }
    out
}

fn replay(
    data: &Path,
    values: &[f64],
    method: &str,
    params: &str,
    cooldown: u64,
    restart_at: Option<usize>,
) -> Vec<bool> {
    let mut server = Server::start(data);
    let mut parameters: serde_json::Value = serde_json::from_str(params).unwrap();
    parameters["cooldown"] = cooldown.into();
    let (status, created) = server.call(
        "POST",
        "/api/v1/streams",
        &serde_json::json!({"method": method, "parameters": parameters}).to_string(),
    );
    assert_eq!(status, 201, "{created}");
    let path = format!("/api/v1/streams/{}/points", created["id"].as_str().unwrap());
    let mut flags = Vec::new();
    let mut restarted = false;
    for range in batches(values.len()) {
        if let Some(at) = restart_at
            && !restarted
            && range.start >= at
        {
            server.kill();
            server = Server::start(data);
            restarted = true;
        }
        let points: Vec<serde_json::Value> = range
            .clone()
            .map(|i| serde_json::json!({"entity": "s", "timestamp": timestamp(i), "value": values[i]}))
            .collect();
        let (status, body) = server.call(
            "POST",
            &path,
            &serde_json::json!({ "points": points }).to_string(),
        );
        assert_eq!(status, 200, "{body}");
        for r in body["points"].as_array().unwrap() {
            flags.push(r["anomaly"].as_bool().unwrap());
        }
    }
    assert_eq!(restart_at.is_some(), restarted);
    flags
}

#[test]
fn a_replayed_series_flags_what_the_batch_flags_across_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let values = series(4000);
    for (method, params, cooldown) in [
        ("rcf", "{}", 12),
        ("rolling-z", "{\"window\": 144}", 5),
        (
            "context",
            "{\"lower\": 30, \"upper\": 90, \"rest\": 40}",
            20,
        ),
    ] {
        let expected = batch_flags(dir.path(), &values, method, params, cooldown);
        assert_eq!(expected.len(), values.len());
        assert!(
            expected.iter().filter(|&&f| f).count() >= 3,
            "{method} flags too little"
        );
        for restart in [None, Some(1900)] {
            let data = dir.path().join(format!("{method}-{}", restart.is_some()));
            let streamed = replay(&data, &values, method, params, cooldown, restart);
            let differ: Vec<usize> = (0..values.len())
                .filter(|&i| streamed[i] != expected[i])
                .collect();
            assert!(
                differ.is_empty(),
                "{method} (restart {restart:?}) differs at {differ:?}"
            );
        }
    }
}

#[test]
fn stdin_stream_restarted_from_its_state_agrees_with_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let values = series(3000);
    let expected = batch_flags(dir.path(), &values, "rcf", "{}", 12);
    let state = dir.path().join("state");
    let run = |range: std::ops::Range<usize>| {
        let mut input = String::from("timestamp,value\n");
        for i in range {
            input.push_str(&format!("{},{}\n", timestamp(i), values[i]));
        }
        let output = assert_cmd::Command::cargo_bin("pynomaly")
            .unwrap()
            .args(["stream", "--method", "rcf", "--cooldown", "12", "--all"])
            .args(["--state", state.to_str().unwrap()])
            .write_stdin(input)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["anomaly"] == true)
            .collect::<Vec<bool>>()
    };
    let mut streamed = run(0..1234);
    streamed.extend(run(1234..3000));
    assert_eq!(streamed, expected);
    // Only alarms without --all; other flags than the state's are refused.
    let output = assert_cmd::Command::cargo_bin("pynomaly")
        .unwrap()
        .args([
            "stream",
            "--method",
            "rolling-z",
            "--state",
            state.to_str().unwrap(),
        ])
        .write_stdin("timestamp,value\n1,2\n")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("other settings"));
}
