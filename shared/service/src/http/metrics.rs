//! Prometheus metrics: requests by route and status, request latency histograms, rows and
//! points scored, jobs finished and queue messages settled. Served as text at
//! `GET /metrics` by `pynomaly serve`; `pynomaly worker` serves [`render_worker`] (the
//! same counters, and what is in its queue).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::counters::{Door, ScoreCounters, Settled};
use crate::queue::QueueStats;

/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters shared by all requests.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Points and alarms by stream id.
    streams: Mutex<BTreeMap<String, (u64, u64)>>,
    counters: Arc<ScoreCounters>,
}

impl Metrics {
    /// Metrics that report `counters`, shared with the process's job runner.
    pub fn with_counters(counters: Arc<ScoreCounters>) -> Self {
        Self {
            counters,
            ..Self::default()
        }
    }

    /// Counts rows scored and anomalies flagged by a request.
    pub fn scored(&self, rows: usize, anomalies: usize) {
        self.counters.record(Door::Request, rows, anomalies);
    }

    /// Counts points scored and alarms raised by stream `id` (and as rows of a request).
    pub fn record_stream_points(&self, id: &str, points: usize, anomalies: usize) {
        self.scored(points, anomalies);
        if let Ok(mut streams) = self.streams.lock() {
            let entry = streams.entry(id.to_string()).or_default();
            entry.0 += points as u64;
            entry.1 += anomalies as u64;
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let h = latency.entry(route.to_string()).or_default();
            for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *count += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP pynomaly_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE pynomaly_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((method, route, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "pynomaly_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP pynomaly_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE pynomaly_http_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (route, h) in latency.iter() {
                for (count, bound) in h.counts.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        out,
                        "pynomaly_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "pynomaly_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "pynomaly_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "pynomaly_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        render_counters(&mut out, &self.counters);
        if let Ok(streams) = self.streams.lock() {
            out.push_str("# HELP pynomaly_stream_points_total Points scored by stream.\n# TYPE pynomaly_stream_points_total counter\n");
            for (id, (points, _)) in streams.iter() {
                let _ = writeln!(
                    out,
                    "pynomaly_stream_points_total{{stream=\"{id}\"}} {points}"
                );
            }
            out.push_str("# HELP pynomaly_stream_anomalies_total Alarms raised by stream.\n# TYPE pynomaly_stream_anomalies_total counter\n");
            for (id, (_, anomalies)) in streams.iter() {
                let _ = writeln!(
                    out,
                    "pynomaly_stream_anomalies_total{{stream=\"{id}\"}} {anomalies}"
                );
            }
        }
        out
    }
}

/// Rows scored and anomalies flagged by door, jobs finished, queue messages settled.
fn render_counters(out: &mut String, counters: &ScoreCounters) {
    out.push_str("# HELP pynomaly_rows_scored_total Rows and points scored, by door (request or job).\n# TYPE pynomaly_rows_scored_total counter\n");
    for door in [Door::Request, Door::Job] {
        let (rows, _) = counters.totals(door);
        let _ = writeln!(
            out,
            "pynomaly_rows_scored_total{{door=\"{}\"}} {rows}",
            door.label()
        );
    }
    out.push_str("# HELP pynomaly_anomalies_flagged_total Rows and points flagged as anomalous, by door.\n# TYPE pynomaly_anomalies_flagged_total counter\n");
    for door in [Door::Request, Door::Job] {
        let (_, anomalies) = counters.totals(door);
        let _ = writeln!(
            out,
            "pynomaly_anomalies_flagged_total{{door=\"{}\"}} {anomalies}",
            door.label()
        );
    }
    let (succeeded, failed) = counters.jobs_finished();
    out.push_str("# HELP pynomaly_jobs_finished_total Jobs this process brought to their final state.\n# TYPE pynomaly_jobs_finished_total counter\n");
    let _ = writeln!(
        out,
        "pynomaly_jobs_finished_total{{state=\"succeeded\"}} {succeeded}"
    );
    let _ = writeln!(
        out,
        "pynomaly_jobs_finished_total{{state=\"failed\"}} {failed}"
    );
    out.push_str("# HELP pynomaly_queue_messages_settled_total Queue messages this process settled, by outcome.\n# TYPE pynomaly_queue_messages_settled_total counter\n");
    for how in Settled::ALL {
        let _ = writeln!(
            out,
            "pynomaly_queue_messages_settled_total{{outcome=\"{}\"}} {}",
            how.label(),
            counters.messages_settled(how)
        );
    }
}

/// `pynomaly worker`'s metrics: its counters and, when the queue reports them, the
/// queue's pending and dead messages and the age of the oldest pending one.
pub fn render_worker(counters: &ScoreCounters, queue: Option<QueueStats>) -> String {
    let mut out = String::new();
    render_counters(&mut out, counters);
    if let Some(stats) = queue {
        out.push_str("# HELP pynomaly_queue_pending_messages Job messages neither acknowledged nor dead.\n# TYPE pynomaly_queue_pending_messages gauge\n");
        let _ = writeln!(out, "pynomaly_queue_pending_messages {}", stats.pending);
        out.push_str("# HELP pynomaly_queue_dead_messages Job messages moved aside after the redrive count.\n# TYPE pynomaly_queue_dead_messages gauge\n");
        let _ = writeln!(out, "pynomaly_queue_dead_messages {}", stats.dead);
        out.push_str("# HELP pynomaly_queue_oldest_message_age_seconds Seconds since the oldest pending message was sent.\n# TYPE pynomaly_queue_oldest_message_age_seconds gauge\n");
        let _ = writeln!(
            out,
            "pynomaly_queue_oldest_message_age_seconds {}",
            stats.oldest_age_seconds
        );
    }
    out
}

/// Middleware recording every request.
pub(super) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state.metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
