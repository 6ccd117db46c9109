//! Rows scored and anomalies flagged, by the door that scored them: shared by the HTTP
//! handlers and the job runner of one process, so `/metrics` counts every row the process
//! scored, whether a request or a job (API job, drop folder, chunk) scored it; and the
//! jobs and queue messages this process finished, by outcome.

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

/// How a queue message was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Deleted: handled, or nothing to do.
    Acknowledged,
    /// Put back to come again later.
    Retried,
    /// Not a message this service reads: left to the queue's redrive.
    Unreadable,
}

impl Settled {
    /// Every outcome, in the order metrics list them.
    pub const ALL: [Settled; 3] = [Settled::Acknowledged, Settled::Retried, Settled::Unreadable];

    /// The label value in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Settled::Acknowledged => "acknowledged",
            Settled::Retried => "retried",
            Settled::Unreadable => "unreadable",
        }
    }
}

/// Counters of one process.
#[derive(Debug, Default)]
pub struct ScoreCounters {
    request: [AtomicU64; 2],
    job: [AtomicU64; 2],
    /// Jobs finished: succeeded, failed.
    jobs: [AtomicU64; 2],
    /// Queue messages by [`Settled`], in its order.
    messages: [AtomicU64; 3],
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

    /// Counts a job that reached its final state (`succeeded` or not).
    pub fn job_finished(&self, succeeded: bool) {
        self.jobs[usize::from(!succeeded)].fetch_add(1, Ordering::Relaxed);
    }

    /// Jobs finished so far: (succeeded, failed).
    pub fn jobs_finished(&self) -> (u64, u64) {
        (
            self.jobs[0].load(Ordering::Relaxed),
            self.jobs[1].load(Ordering::Relaxed),
        )
    }

    /// Counts a queue message settled as `how`.
    pub fn message_settled(&self, how: Settled) {
        self.messages[how as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Queue messages settled as `how` so far.
    pub fn messages_settled(&self, how: Settled) -> u64 {
        self.messages[how as usize].load(Ordering::Relaxed)
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
        c.job_finished(true);
        c.job_finished(false);
        c.job_finished(true);
        assert_eq!(c.jobs_finished(), (2, 1));
        c.message_settled(Settled::Retried);
        assert_eq!(c.messages_settled(Settled::Retried), 1);
        assert_eq!(c.messages_settled(Settled::Acknowledged), 0);
    }
}
