//! `pynomaly worker`: consumes job messages from SQS (long polling) and runs them. A
//! message is deleted only once its job is finished (or was already finished), so a worker
//! that dies mid-job leaves the message to come back after the visibility timeout; messages
//! that are not jobs are left for the queue's redrive policy (dead-letter queue).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use pynomaly_service::jobs::{JobServices, handle_delivery};

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Stop after this many idle polls (0 = run until SIGTERM / Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub idle_polls: u32,
    /// Long-poll wait, seconds (0-20).
    #[arg(long, default_value_t = 20)]
    pub wait_seconds: i32,
    /// The queue's redrive count: on a message's last delivery, a failure also fails its job.
    #[arg(long, env = "PYNOMALY_MAX_RECEIVES", default_value_t = 5)]
    pub max_receives: u32,
}

pub fn run(args: WorkerArgs, data_dir: PathBuf) -> Result<()> {
    crate::serve::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let backend = pynomaly_service::backend::from_env(&data_dir).await?;
        let Some(queue) = backend.sqs.clone() else {
            bail!("the worker consumes SQS (PYNOMALY_STORE=aws); in local mode `pynomaly serve` runs jobs itself");
        };
        let services = JobServices::new(backend.store.clone(), backend.metadata.clone());
        tracing::info!(backend = %backend.description, "pynomaly worker started");
        let mut idle = 0;
        let shutdown = crate::serve::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let batch = tokio::select! {
                () = &mut shutdown => break,
                batch = queue.receive(10, args.wait_seconds) => batch?,
            };
            if batch.is_empty() {
                idle += 1;
                if args.idle_polls > 0 && idle >= args.idle_polls {
                    break;
                }
                continue;
            }
            idle = 0;
            for delivery in batch {
                match delivery {
                    Ok(delivery) => {
                        let handled = handle_delivery(
                            &services,
                            &delivery.message,
                            delivery.receive_count,
                            args.max_receives,
                        )
                        .await;
                        // On an error the message is left to come back (handle_delivery
                        // logged it, and failed the job on its last delivery).
                        if handled.is_ok() {
                            queue.acknowledge(&delivery.receipt).await?;
                        }
                    }
                    Err(reason) => tracing::warn!(%reason, "skipping a message that is not a job"),
                }
            }
        }
        tracing::info!("pynomaly worker stopped");
        Ok(())
    })
}
