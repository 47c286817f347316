//! The web console `run` serves with `[console] listen`: a live overview, every pending task as
//! `plan` sees it, one task's history, silences made and removed from the browser, the report
//! and the rules — pages that work without JavaScript, and a JSON API with the same data.
//! People sign in with Feishu, a token, or a one-time link (`expediter console link`).
//!
//! What it shows comes from the database and the running engine (`Live`, updated by the
//! daemon after each cycle and reload). Task labels and names come from Feishu and are
//! untrusted: maud escapes them; no page carries an inline script (the CSP forbids it).

mod api;
mod audit;
mod auth;
pub mod cards;
mod data;
mod error;
mod pages;
mod roles;
mod serve;
mod services;
mod teams;
mod tokens;
mod views;
mod visitor;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::cycle::Engine;

pub use auth::{link, sessions};

/// What the console shows of the running daemon; the daemon sends a new one after each cycle
/// and reload.
#[derive(Clone)]
pub struct Live {
    pub engine: Engine,
    pub last_cycle: Option<LastCycle>,
}

/// What a request of the console may use of the running daemon: the config in force, the
/// store, the clock and how the last cycle ended — never the engine itself (its client, its
/// cycle's flags). Taken fresh for each request ([`Console::live`]), so a reload shows at once.
#[derive(Clone)]
pub(crate) struct Ground {
    pub config: Arc<crate::config::Config>,
    pub store: crate::store::Store,
    pub clock: crate::clock::Clock,
    pub last_cycle: Option<LastCycle>,
    /// Until when the tenant's monthly quota holds calls back.
    pub quota_hold: Option<DateTime<Utc>>,
    /// The app's secret, for Sign in with Feishu's code exchange.
    pub app_secret: crate::secret::Secret,
}

impl Ground {
    fn of(live: &Live) -> Ground {
        Ground {
            config: live.engine.config.clone(),
            store: live.engine.store.clone(),
            clock: live.engine.clock.clone(),
            last_cycle: live.last_cycle.clone(),
            quota_hold: live.engine.client.quota_hold(),
            app_secret: live.engine.client.app_secret().clone(),
        }
    }
}

impl axum::extract::FromRef<Console> for Ground {
    fn from_ref(console: &Console) -> Ground {
        console.live()
    }
}

/// How the last cycle ended.
#[derive(Clone, Debug, Serialize)]
pub struct LastCycle {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// The one-line summary, or what failed.
    pub summary: String,
}

/// The console's shared state.
#[derive(Clone)]
pub(crate) struct Console {
    live: watch::Receiver<Live>,
    limiter: Arc<auth::Limiter>,
    /// Sign-ins with Feishu begun, per address (not failures; each writes a row).
    starts: Arc<auth::Limiter>,
    /// When sign-ins begun and never finished were last looked for (seconds since the epoch).
    pruned_at: Arc<std::sync::atomic::AtomicI64>,
    cache: data::Cache,
    /// Card clicks posted here (`[bot] mode = "http"`), sharing the cache.
    cards: Arc<cards::Cards>,
}

impl Console {
    fn live(&self) -> Ground {
        Ground::of(&self.live.borrow())
    }

    /// Is it time to forget sign-ins begun and never finished (at most once a minute)?
    fn prune_due(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = crate::clock::Clock::system().now().timestamp();
        let last = self.pruned_at.load(Ordering::Relaxed);
        now - last >= 60
            && self
                .pruned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Request bodies larger than this are refused (413): a form or an API call is a few fields.
const BODY_LIMIT: usize = 16 * 1024;
/// A team's document (a roster of hundreds, its rules) is the one larger body.
const DOCUMENT_LIMIT: usize = 512 * 1024;

/// Binds `listen` and serves the console in a task of its own; `cards` answers card clicks
/// (here in HTTP mode, or over the long connection) with the console's own cache.
pub async fn serve(
    listen: SocketAddr,
    live: watch::Receiver<Live>,
    cards: Arc<cards::Cards>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!("cannot serve the console on {listen} ([console] listen): {e}")
    })?;
    tracing::info!(listen = %listen, "console at http://{listen}/");
    serve_on(listener, live, cards);
    Ok(())
}

/// Serves the console on a bound listener, in a task of its own.
fn serve_on(
    listener: tokio::net::TcpListener,
    live: watch::Receiver<Live>,
    cards: Arc<cards::Cards>,
) {
    serve::serve_on(listener, router(live, cards));
}

/// `expediter demo --console`: the demo, then its console on loopback with a sign-in link,
/// until Ctrl-C (or SIGTERM).
pub async fn demo(keep: Option<std::path::PathBuf>) -> anyhow::Result<u8> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let setup = crate::commands::demo::Console {
        port,
        token: tokens::random_token(),
    };
    let d = crate::commands::demo::run(keep, Some(&setup), &cards::handler_for).await?;
    let (_live_tx, live_rx) = watch::channel(Live {
        engine: d.engine.clone(),
        last_cycle: Some(LastCycle {
            at: d.engine.clock.now(),
            ok: d.code == crate::startup::EXIT_OK,
            summary: "the demo's second cycle".into(),
        }),
    });
    let cards = cards::Cards::new(live_rx.clone());
    serve_on(listener, live_rx, cards);
    let link = tokens::random_token();
    let expires = d.engine.clock.now() + chrono::TimeDelta::minutes(10);
    // The demo's clock runs half a day ahead; the link's lifetime counts on the real one.
    let expires = expires.min(crate::clock::Clock::system().now() + chrono::TimeDelta::minutes(10));
    d.engine
        .store
        .add_grant(
            &tokens::digest(&link),
            "link",
            &crate::holds::who_at_cli(),
            expires,
        )
        .await?;
    println!(
        "\nThe console of this demo is up. Open (valid once, for 10 minutes):\n\n  http://127.0.0.1:{port}/login/link?t={link}\n\nor sign in at http://127.0.0.1:{port}/login with the token in {}. Ctrl-C ends the demo.",
        d.config_path.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    d.engine.store.close().await;
    drop(d.fake);
    Ok(d.code)
}

pub(crate) fn router(live: watch::Receiver<Live>, cards: Arc<cards::Cards>) -> Router {
    let console = Console {
        live,
        limiter: Arc::new(auth::Limiter::default()),
        starts: Arc::new(auth::Limiter::per_minute(auth::STARTS_PER_MINUTE)),
        pruned_at: Arc::default(),
        cache: cards.cache(),
        cards,
    };
    // The first page need not wait for the index: it is built as the console starts.
    let warm = console.clone();
    tokio::spawn(async move {
        if let Err(e) = data::index(&warm.live(), &warm.cache).await {
            tracing::debug!("console: the first index was not built: {}", e.message());
        }
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
        .route("/login", get(auth::login_page).post(auth::login_with_token))
        .route(
            "/login/link",
            get(auth::link_page).post(auth::login_with_link),
        )
        .route("/login/feishu", get(auth::login_with_feishu))
        .route("/login/feishu/callback", get(auth::feishu_callback))
        .route("/logout", post(auth::logout))
        .route("/language/{tag}", get(auth::choose_language))
        .route("/feishu/callback", post(cards::http_callback))
        .route("/digests/card", get(pages::digest_card))
        .route("/", get(pages::overview))
        .route("/tasks", get(pages::tasks))
        .route("/tasks/{task_id}", get(pages::task))
        .route("/tasks/{task_id}/silence", post(pages::silence_task))
        .route("/silences", get(pages::silences))
        .route("/silences/{id}/remove", post(pages::remove_silence))
        .route("/away", get(pages::away).post(pages::add_away))
        .route("/away/{id}/remove", post(pages::remove_away))
        .route("/report", get(pages::report))
        .route("/rules", get(pages::rules))
        .route("/audit", get(pages::audit))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/tasks", get(api::tasks))
        .route("/api/v1/tasks/{task_id}", get(api::task))
        .route(
            "/api/v1/silences",
            get(api::silences).post(api::add_silence),
        )
        .route("/api/v1/silences/{id}", delete(api::remove_silence))
        .route("/api/v1/away", get(api::away).post(api::add_away))
        .route("/api/v1/away/{id}", delete(api::remove_away))
        .route("/teams", get(pages::teams))
        .route(
            "/teams/{team}",
            get(pages::team)
                .post(pages::save_team)
                .layer(DefaultBodyLimit::max(DOCUMENT_LIMIT)),
        )
        .route(
            "/teams/{team}/preview",
            post(pages::preview_team).layer(DefaultBodyLimit::max(DOCUMENT_LIMIT)),
        )
        .route("/teams/{team}/rollback", post(pages::rollback_team))
        .route("/teams/{team}/diff", get(pages::team_diff))
        .route(
            "/api/v1/teams/{team}",
            get(api::get_team)
                .put(api::put_team)
                .layer(DefaultBodyLimit::max(DOCUMENT_LIMIT)),
        )
        .route(
            "/api/v1/teams/{team}/preview",
            post(api::preview_team).layer(DefaultBodyLimit::max(DOCUMENT_LIMIT)),
        )
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(safety_headers))
        .with_state(console)
}

/// Every answer: no framing, no inline script, no third-party origin, no referrer leaving us.
async fn safety_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// For load balancers: no sign-in, 200 with `active` or `standby`.
async fn healthz(State(console): State<Console>) -> Response {
    let live = console.live();
    let role = if live.store.acting() {
        "active"
    } else {
        "standby"
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{role}\n"),
    )
        .into_response()
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("assets/console.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("assets/console.js"),
    )
        .into_response()
}
