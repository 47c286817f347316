//! Serving the console so that it can never starve the engine: at most `MAX_CONNECTIONS` open at
//! once (the rest wait in the kernel's queue, holding none of our descriptors), a request's head
//! read within `HEADER_READ`, a connection closed after `IDLE` without a byte either way, a head
//! at most `MAX_HEAD` bytes (431 past it), a request answered within `REQUEST` (503 past it), and
//! the body limit of the router. The descriptors this leaves are the engine's and the database's.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Connections served at once. The unit's `LimitNOFILE=` leaves far more than this for the
/// engine, the database and the outgoing calls; systemd's default soft limit (1,024) does too.
pub const MAX_CONNECTIONS: usize = 128;
/// A request's head must arrive within this (a half-sent request is closed).
pub const HEADER_READ: Duration = Duration::from_secs(10);
/// A connection with no byte read or written for this long is closed (keep-alive included).
pub const IDLE: Duration = Duration::from_secs(30);
/// A request is answered within this, or gets 503.
pub const REQUEST: Duration = Duration::from_secs(30);
/// The largest request head taken, in bytes (hyper answers 431 past it).
pub const MAX_HEAD: usize = 16 * 1024;
/// After being asked to close, a connection that does not finish its answer within this is
/// dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Accepts on `listener` until the process ends, each connection in a task of its own.
pub(super) fn serve_on(listener: TcpListener, app: Router) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            // A slot first: past the cap, connections wait in the kernel's accept queue.
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors (or a connection reset before it was taken): wait a
                    // little instead of spinning, and never stop serving.
                    tracing::warn!("the console could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let app = app.clone();
            tokio::spawn(async move {
                connection(stream, peer, app).await;
                drop(slot);
            });
        }
    });
}

/// Serves one connection within the limits.
async fn connection(stream: TcpStream, peer: SocketAddr, app: Router) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(AtomicU64::new(0));
    let started = tokio::time::Instant::now();
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
        started,
    });
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move {
                match tokio::time::timeout(REQUEST, tower_service::Service::call(&mut app, req))
                    .await
                {
                    Ok(answer) => answer,
                    Err(_) => Ok(timed_out()),
                }
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let check = tokio::time::sleep(Duration::from_secs(1));
        tokio::select! {
            _ = conn.as_mut() => return,
            () = check => {
                let now = tokio::time::Instant::now();
                match closing {
                    Some(since) if now - since > CLOSE_GRACE => return,
                    Some(_) => {}
                    None => {
                        let last = started + Duration::from_millis(activity.load(Ordering::Relaxed));
                        if now - last > IDLE {
                            conn.as_mut().graceful_shutdown();
                            closing = Some(now);
                        }
                    }
                }
            }
        }
    }
}

fn timed_out() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "the console took too long to answer; try again",
    )
        .into_response()
}

/// A connection that notes when a byte last went either way (milliseconds since it opened).
struct Watched {
    inner: TcpStream,
    activity: Arc<AtomicU64>,
    started: tokio::time::Instant,
}

impl Watched {
    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.activity.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
