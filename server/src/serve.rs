//! `pynomaly serve`: the HTTP API on a local port, storing models under the data dir.
//! Stops gracefully on Ctrl-C or SIGTERM (in-flight requests finish).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use pynomaly_service::config::{Settings, StoreSettings};
use pynomaly_service::consumer::{recover_local_jobs, run_worker};
use pynomaly_service::counters::ScoreCounters;
use pynomaly_service::http::{AppState, Limits, router};
use pynomaly_service::jobs::JobServices;
use pynomaly_service::models::{DEFAULT_TENANT, ModelRepository, migrate_legacy};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 8000, env = "PYNOMALY_PORT")]
    pub port: u16,
    /// Address to bind (use 0.0.0.0 in a container).
    #[arg(long, default_value = "127.0.0.1", env = "PYNOMALY_HOST")]
    pub host: String,
    /// Largest request body in bytes [default: PYNOMALY_MAX_BODY_BYTES, else 6 MiB].
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Most rows per request [default: PYNOMALY_MAX_ROWS, else 200,000].
    #[arg(long)]
    pub max_rows: Option<usize>,
    /// Largest upload (PUT /api/v1/uploads/...) in bytes [default:
    /// PYNOMALY_MAX_UPLOAD_BYTES, else 1 GiB].
    #[arg(long)]
    pub max_upload_bytes: Option<usize>,
    /// Seconds a client has to send a request's headers (also the idle keep-alive limit).
    #[arg(long, default_value_t = 10, env = "PYNOMALY_HEADER_TIMEOUT")]
    pub header_timeout: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, default_value_t = 60, env = "PYNOMALY_BODY_TIMEOUT")]
    pub body_timeout: u64,
    /// Seconds a verified API key is trusted without another look at storage: the longest a
    /// key revoked with `pynomaly keys revoke` keeps working here (0 = check every request)
    /// [default: PYNOMALY_KEY_CACHE_SECONDS, else 30].
    #[arg(long)]
    pub key_cache_seconds: Option<u64>,
    /// Accept requests without an API key (every request acts for tenant `local`). For
    /// experiments on one machine only.
    #[arg(long)]
    pub no_auth: bool,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn run(args: ServeArgs, data_dir: PathBuf) -> Result<()> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Every setting parsed once, with the Lambda functions' parsing and defaults.
        let settings = Settings::from_env("local")?;
        let mut backend = pynomaly_service::backend::open(&settings, &data_dir).await?;
        if settings.store == StoreSettings::Local {
            // Models the CLI saved in its earlier layout move into tenant `default`.
            let models = ModelRepository::new(backend.store.clone());
            let moved = migrate_legacy(&data_dir, &models, DEFAULT_TENANT).await?;
            if !moved.is_empty() {
                tracing::info!(models = ?moved, "moved models of the earlier layout into tenant `default`");
            }
        }
        // Rows scored by requests and by this process's jobs, for /metrics.
        let counters = std::sync::Arc::new(ScoreCounters::default());
        if let Some((queue, receiver)) = backend.local_jobs.take() {
            // Local mode: jobs run on an in-process worker; jobs a previous process left
            // queued or running are queued again first.
            let services = JobServices {
                counters: counters.clone(),
                ..JobServices::configured(backend.store.clone(), backend.metadata.clone(), &settings)
            };
            match recover_local_jobs(&services, &queue).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "queued again the jobs a previous run left"),
                Err(e) => tracing::error!(error = %e, "cannot recover the previous run's jobs"),
            }
            tokio::spawn(run_worker(services, queue, receiver));
        }
        let mut state = AppState::new(
            backend.store.clone(),
            Limits {
                body_bytes: args.max_body_bytes.unwrap_or(settings.limits.body_bytes),
                rows: args.max_rows.unwrap_or(settings.limits.rows),
                upload_bytes: args
                    .max_upload_bytes
                    .unwrap_or(settings.limits.upload_bytes),
                ..settings.limits
            },
        )
        .with_jobs(backend.metadata.clone(), backend.queue.clone())
        .with_streams(pynomaly_service::backend::streams(&backend, &settings).await)
        .with_counters(counters);
        state.key_cache_seconds = args
            .key_cache_seconds
            .unwrap_or(settings.key_cache_seconds);
        if args.no_auth {
            tracing::warn!(
                "API KEYS ARE OFF (--no-auth): anyone who can reach this port can use the API \
                 and every model; use only on a trusted machine"
            );
            state = state.without_keys();
        }
        let address: SocketAddr = format!("{}:{}", args.host, args.port)
            .parse()
            .with_context(|| {
                format!(
                    "`{}:{}` is not an address to listen on",
                    args.host, args.port
                )
            })?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        tracing::info!(%address, backend = %backend.description, "pynomaly serving");
        let timeouts = crate::listen::Timeouts {
            header_read: std::time::Duration::from_secs(args.header_timeout.max(1)),
            body_read: std::time::Duration::from_secs(args.body_timeout.max(1)),
            drain: std::time::Duration::from_secs(30),
        };
        crate::listen::serve(listener, router(state), shutdown_signal(), timeouts)
            .await
            .context("server failed")?;
        tracing::info!("pynomaly stopped");
        Ok(())
    })
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
