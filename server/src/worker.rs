//! `pynomaly worker`: consumes job messages from the shared queue (SQS by long polling,
//! or the PostgreSQL queue with `PYNOMALY_QUEUE=postgres`) and runs them. A message is
//! deleted only once its job is finished (or was already finished), so a worker that dies
//! mid-job leaves the message to come back after the visibility timeout; messages that
//! are not jobs are left for the queue's redrive policy (dead-letter queue or dead rows).
//! With `PYNOMALY_POINTS_QUEUE_URL` it also consumes that (FIFO) queue of stream points,
//! in order: after a points message of a stream fails, the rest of its batch for that
//! stream is put back untouched, so no later point overtakes it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use pynomaly_service::aws::SqsQueue;
use pynomaly_service::consumer::{Disposition, backoff, consume};
use pynomaly_service::counters::Settled;
use pynomaly_service::jobs::{JobServices, QueueMessage};
use pynomaly_service::queue::ReceivingQueue;

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Stop after this many idle polls (0 = run until SIGTERM / Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub idle_polls: u32,
    /// Long-poll wait, seconds (0-20).
    #[arg(long, default_value_t = 20)]
    pub wait_seconds: i32,
    /// The queue's redrive count: on a message's last delivery, a failure also fails its
    /// job [default: PYNOMALY_MAX_RECEIVES, else 5].
    #[arg(long)]
    pub max_receives: Option<u32>,
    /// Port of the worker's `/metrics` (Prometheus) and `/health`; 0 serves none (the
    /// container image sets 9100).
    #[arg(long, default_value_t = 0, env = "PYNOMALY_METRICS_PORT")]
    pub metrics_port: u16,
    /// Address the metrics port binds (use 0.0.0.0 in a container).
    #[arg(long, default_value = "127.0.0.1", env = "PYNOMALY_HOST")]
    pub host: String,
}

pub fn run(args: WorkerArgs, data_dir: PathBuf) -> Result<()> {
    crate::serve::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let settings = pynomaly_service::config::Settings::from_env("local")?;
        let max_receives = args.max_receives.unwrap_or(settings.max_receives);
        let backend = pynomaly_service::backend::open(&settings, &data_dir).await?;
        let Some(queue) = backend.consumer.clone() else {
            bail!(
                "the worker consumes a shared job queue: set PYNOMALY_STORE=aws, or postgres with \
                 PYNOMALY_QUEUE=postgres (or PYNOMALY_QUEUE_URL); with the in-process queue \
                 `pynomaly serve` runs jobs itself"
            );
        };
        let streams = pynomaly_service::backend::streams(&backend, &settings).await;
        let services =
            JobServices::configured(backend.store.clone(), backend.metadata.clone(), &settings)
                .with_streams(streams);
        tracing::info!(backend = %backend.description, queue = %queue.describe(), "pynomaly worker started");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::serve::shutdown_signal().await;
            let _ = stop.send(true);
        });
        if args.metrics_port != 0 {
            let metrics = metrics_router(services.counters.clone(), queue.clone());
            let address = format!("{}:{}", args.host, args.metrics_port);
            let listener = tokio::net::TcpListener::bind(&address)
                .await
                .with_context(|| format!("cannot listen on {address} for /metrics (--metrics-port)"))?;
            tracing::info!(%address, "worker metrics at /metrics");
            let mut until = stopped.clone();
            tokio::spawn(async move {
                let stop = async move {
                    let _ = until.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, metrics).with_graceful_shutdown(stop).await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            });
        }
        let jobs = drain(queue.as_ref(), &services, &args, max_receives, stopped.clone());
        match &settings.points_queue_url {
            Some(url) => {
                let config = pynomaly_service::aws::load_config().await;
                let points = SqsQueue::new(&config, url);
                tracing::info!(queue = %url, "consuming stream points too");
                tokio::join!(jobs, drain(&points, &services, &args, max_receives, stopped));
            }
            None => jobs.await,
        }
        tracing::info!("pynomaly worker stopped");
        Ok(())
    })
}

/// `GET /metrics` (the worker's counters and its queue's depth and age) and `GET /health`.
fn metrics_router(
    counters: std::sync::Arc<pynomaly_service::counters::ScoreCounters>,
    queue: std::sync::Arc<dyn ReceivingQueue>,
) -> axum::Router {
    use axum::http::header;
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let (counters, queue) = (counters.clone(), queue.clone());
                async move {
                    // A queue that cannot be read still leaves the counters to scrape.
                    let stats = queue.stats().await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "cannot read the queue's depth");
                        None
                    });
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        pynomaly_service::http::render_worker(&counters, stats),
                    )
                }
            }),
        )
        .route("/health", get(|| async { "ok" }))
}

/// Consumes `queue` until shutdown (or `--idle-polls` empty polls).
async fn drain(
    queue: &dyn ReceivingQueue,
    services: &JobServices,
    args: &WorkerArgs,
    max_receives: u32,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut idle = 0;
    let mut receive_failures = 0u32;
    loop {
        let received = tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            // A deadline beyond the long poll: a silent queue is an error, not a hang.
            batch = tokio::time::timeout(
                std::time::Duration::from_secs(args.wait_seconds.max(0) as u64 + 10),
                queue.receive(10, std::time::Duration::from_secs(args.wait_seconds.max(0) as u64)),
            ) => batch.unwrap_or_else(|_| Err(pynomaly_service::storage::StoreError::Unavailable {
                dependency: "the job queue",
                action: "receive",
                seconds: args.wait_seconds.max(0) as f64 + 10.0,
            })),
        };
        let batch = match received {
            Ok(batch) => {
                receive_failures = 0;
                batch
            }
            Err(e) => {
                // The queue is unreachable: wait and try again, never exit on it.
                receive_failures += 1;
                let delay = backoff(receive_failures).min(std::time::Duration::from_secs(30));
                tracing::warn!(error = %e, ?delay, "cannot receive from the queue");
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        if batch.is_empty() {
            idle += 1;
            if args.idle_polls > 0 && idle >= args.idle_polls {
                break;
            }
            continue;
        }
        idle = 0;
        // Streams whose points failed in this batch: their later points wait.
        let mut held: std::collections::HashSet<(String, String)> = Default::default();
        for delivery in batch {
            let delivery = match delivery {
                Ok(delivery) => delivery,
                Err(unreadable) => {
                    // Left for the queue's redrive policy (dead-letter queue, dead rows).
                    tracing::warn!(reason = %unreadable.reason, "skipping a message that is not a job");
                    services.counters.message_settled(Settled::Unreadable);
                    continue;
                }
            };
            let stream = match &delivery.message {
                QueueMessage::Points(p) => Some((p.tenant.clone(), p.stream.clone())),
                _ => None,
            };
            let disposition = match &stream {
                Some(key) if held.contains(key) => Disposition::Retry {
                    delay: std::time::Duration::ZERO,
                    reason: "an earlier message of its stream failed".into(),
                },
                _ => {
                    consume(
                        services,
                        &delivery.message,
                        delivery.receive_count,
                        max_receives,
                    )
                    .await
                }
            };
            let settled = match disposition {
                Disposition::Acknowledge(_) => {
                    services.counters.message_settled(Settled::Acknowledged);
                    queue.acknowledge(&delivery.receipt).await
                }
                Disposition::Retry { delay, .. } => {
                    services.counters.message_settled(Settled::Retried);
                    if let Some(key) = stream {
                        held.insert(key);
                    }
                    queue.retry_after(&delivery.receipt, delay).await
                }
            };
            if let Err(e) = settled {
                // The message comes back after its visibility timeout; handling is
                // idempotent.
                tracing::warn!(job = %delivery.message.job_id(), error = %e, "cannot settle the message");
            }
        }
    }
}
