//! The messages on the queues: a whole job (from the API), one part of a large dropped
//! object (from the drop folder's fan-out), or points of a stream (sent by a user's
//! producer, on a FIFO queue whose message group is the entity). The job runner, the
//! fan-out and the streams read them, so they live below all three.

use serde::{Deserialize, Serialize};

/// A message on the queue: a whole job, or one chunk of a fanned-out object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QueueMessage {
    /// Score one part of a large object ([`crate::fanout`]).
    Chunk(ChunkMessage),
    /// Run a job submitted through the API.
    Job(JobMessage),
    /// Score points of a stream ([`crate::streams`]).
    Points(PointsMessage),
}

impl QueueMessage {
    /// The job it belongs to (for points: the stream).
    pub fn job_id(&self) -> &str {
        match self {
            QueueMessage::Chunk(c) => &c.job_id,
            QueueMessage::Job(j) => &j.job_id,
            QueueMessage::Points(p) => &p.stream,
        }
    }

    /// The tenant it belongs to.
    pub fn tenant(&self) -> &str {
        match self {
            QueueMessage::Chunk(c) => &c.tenant,
            QueueMessage::Job(j) => &j.tenant,
            QueueMessage::Points(p) => &p.tenant,
        }
    }
}

/// Points of a stream, as `POST /api/v1/streams/{id}/points` takes them:
/// `{"tenant": "acme", "stream": "<id>", "points": [{"entity": "web-1", "value": 1.2}]}`.
/// On a FIFO queue, use the entity (or the stream, for a mixed batch) as the message
/// group, so each entity's points are scored in the order sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsMessage {
    /// Owner of the stream.
    pub tenant: String,
    /// Stream id.
    pub stream: String,
    /// The points (objects, as in the HTTP body).
    pub points: Vec<serde_json::Value>,
}

impl From<JobMessage> for QueueMessage {
    fn from(message: JobMessage) -> Self {
        QueueMessage::Job(message)
    }
}

/// Message asking for a job to be run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    /// Owner.
    pub tenant: String,
    /// Job id.
    pub job_id: String,
}

/// One row-aligned part of a large object, to be scored by a queue consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkMessage {
    /// Owner of the job and the model.
    pub tenant: String,
    /// The fanned-out job.
    pub job_id: String,
    /// This part's number (0-based).
    pub part: u32,
    /// Parts in all.
    pub parts: u32,
    /// The input object (bucket key).
    pub object_key: String,
    /// First byte of the part.
    pub start: u64,
    /// One past the last byte of the part.
    pub end: u64,
    /// The CSV header line, prepended to every part after the first.
    pub header: Option<String>,
    /// `csv` or `ndjson`.
    pub format: String,
    /// Model to score with.
    pub model_id: String,
    /// Results go under this prefix (`results/{model}/{name}`).
    pub results_base: String,
}
