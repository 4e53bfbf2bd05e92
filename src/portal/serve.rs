//! The one HTTP server loop of the bot (the portal and `/metrics`): hyper's HTTP/1 server, an
//! axum router, one request per connection (no keep-alive: a reverse proxy or a scraper
//! opens another), the client's address in each request's extensions, and a bound on how
//! long a client may take to send its request head.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// A client that has not sent its request head after this long is dropped (slowloris).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one connection may live (a download of a large package included).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A running server; dropping it stops accepting and aborts the loop.
#[derive(Debug)]
pub struct Server {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on `listener` in the background.
pub fn spawn(listener: TcpListener, router: Router, what: &'static str) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let (conn, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, server = what, "Accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let router = router.clone().layer(axum::Extension(ConnectInfo(peer)));
            tokio::spawn(async move {
                let service = TowerToHyperService::new(router);
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .keep_alive(false)
                    .max_buf_size(64 * 1024);
                let served = builder.serve_connection(TokioIo::new(conn), service);
                match tokio::time::timeout(CONNECTION_TIMEOUT, served).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, server = what, "HTTP connection ended")
                    }
                    Err(_) => tracing::debug!(server = what, "HTTP connection timed out"),
                }
            });
        }
    });
    Ok(Server { addr, task })
}
