//! Rows scored and anomalies flagged, by the door that scored them: shared by the HTTP
//! handlers and the job runner of one process, so `/metrics` counts every row the process
//! scored, whether a request or a job (API job, drop folder, chunk) scored it.

use std::sync::atomic::{AtomicU64, Ordering};

/// What scored the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// An HTTP request answered with its scores.
    Request,
    /// A job (API job, dropped object or one of its parts).
    Job,
}

impl Door {
    /// The label value in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Door::Request => "request",
            Door::Job => "job",
        }
    }
}

/// Counters of one process.
#[derive(Debug, Default)]
pub struct ScoreCounters {
    request: [AtomicU64; 2],
    job: [AtomicU64; 2],
}

impl ScoreCounters {
    fn of(&self, door: Door) -> &[AtomicU64; 2] {
        match door {
            Door::Request => &self.request,
            Door::Job => &self.job,
        }
    }

    /// Counts `rows` scored and `anomalies` flagged through `door`.
    pub fn record(&self, door: Door, rows: usize, anomalies: usize) {
        let [r, a] = self.of(door);
        r.fetch_add(rows as u64, Ordering::Relaxed);
        a.fetch_add(anomalies as u64, Ordering::Relaxed);
    }

    /// Rows scored and anomalies flagged through `door` so far.
    pub fn totals(&self, door: Door) -> (u64, u64) {
        let [r, a] = self.of(door);
        (r.load(Ordering::Relaxed), a.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doors_count_apart() {
        let c = ScoreCounters::default();
        c.record(Door::Request, 10, 1);
        c.record(Door::Job, 5, 2);
        c.record(Door::Job, 5, 0);
        assert_eq!(c.totals(Door::Request), (10, 1));
        assert_eq!(c.totals(Door::Job), (10, 2));
    }
}
