//! Serving the Router on a socket with the timeouts `axum::serve` does not set: a client
//! has [`Timeouts::header_read`] to send a request's headers (and an idle keep-alive
//! connection is closed after as long), so half-open or idle connections cannot pile up
//! (14,889 idle connections once held 444 MB) or keep the process from exiting; a request
//! body must arrive within [`Timeouts::body_read`]. On shutdown the listener closes,
//! in-flight requests get [`Timeouts::drain`] to finish, then the connections are dropped.

use std::time::Duration;

use anyhow::Result;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// The connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to send a request's headers, and the longest idle wait between requests.
    pub header_read: Duration,
    /// Time to send a request's body.
    pub body_read: Duration,
    /// Time in-flight requests get to finish after a shutdown signal.
    pub drain: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
    timeouts: Timeouts,
) -> Result<()> {
    let Timeouts {
        header_read,
        body_read,
        drain,
    } = timeouts;
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_read));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(header_read))
        .keep_alive_timeout(header_read);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => {
            tracing::warn!("requests still running after {drain:?}; stopping anyway");
        }
    }
    Ok(())
}
