//! Who is asking: sessions (a cookie whose SHA-256 is a database row), the console's token as
//! `Authorization: Bearer`, and the ways to sign in — the token form, a one-time link from
//! `expediter console link`, and Sign in with Feishu (OAuth 2.0 through `[feishu]`'s app).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Console;
use super::error::Failure;
use super::roles::Role;
use super::tokens::{digest, random_token, same};
use super::views::encode;
use super::visitor::Visitor;
use crate::clock::Clock;
use crate::config::{ConsoleConfig, SignIn};
use crate::startup::{EXIT_CONFIG, EXIT_OK, UsageError, load_config};
use crate::store::{Session, Store};

pub(super) const SESSION_COOKIE: &str = "expediter_session";
const STATE_COOKIE: &str = "expediter_sign_in";
/// How long a sign-in with Feishu may take, from our redirect to its callback.
const STATE_LIFETIME: Duration = Duration::from_secs(600);
/// Sign-in attempts allowed per address per minute; past it, 429.
const ATTEMPTS_PER_MINUTE: usize = 10;

/// Failed sign-ins per address, over the last minute. A success does not count, and the right
/// credential is never refused (a limit that refuses it is a lockout anyone can cause). At most `MAX_ADDRESSES` are remembered: past that, the stalest go.
pub(crate) struct Limiter {
    seen: Mutex<HashMap<IpAddr, VecDeque<tokio::time::Instant>>>,
    per_minute: usize,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::per_minute(ATTEMPTS_PER_MINUTE)
    }
}

/// Sign-ins with Feishu begun per address per minute: not failures, but each writes a row, so
/// a flood of starts is held back (the callback of a sign-in begun is never refused by it).
pub(crate) const STARTS_PER_MINUTE: usize = 60;

const MAX_ADDRESSES: usize = 4096;
const WINDOW: Duration = Duration::from_secs(60);

impl Limiter {
    pub(crate) fn per_minute(per_minute: usize) -> Limiter {
        Limiter {
            seen: Mutex::default(),
            per_minute,
        }
    }

    /// Is `ip` past its attempts for now?
    fn blocked(&self, ip: IpAddr) -> bool {
        let now = tokio::time::Instant::now();
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&ip)
            .is_some_and(|q| q.iter().filter(|t| now - **t < WINDOW).count() >= self.per_minute)
    }

    /// Counts a failed sign-in from `ip`.
    fn count(&self, ip: IpAddr) {
        let now = tokio::time::Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ADDRESSES && !seen.contains_key(&ip) {
            seen.retain(|_, q| q.back().is_some_and(|t| now - *t < WINDOW));
            if seen.len() >= MAX_ADDRESSES {
                // Everyone is recent: forget the one seen least recently.
                if let Some(stalest) = seen
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied())
                    .map(|(k, _)| *k)
                {
                    seen.remove(&stalest);
                }
            }
        }
        let q = seen.entry(ip).or_default();
        while q.front().is_some_and(|t| now - *t >= WINDOW) {
            q.pop_front();
        }
        q.push_back(now);
        while q.len() > self.per_minute {
            q.pop_front();
        }
    }
}

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn now() -> DateTime<Utc> {
    Clock::system().now()
}

/// The address a request comes from: the peer's, or — when the peer is one of `[console]
/// trusted_proxies` — the last address in `X-Forwarded-For` that is not a trusted proxy (the
/// one the proxy saw; what a client wrote in front of it is not believed).
pub(super) fn client(console: &Console, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    let live = console.live();
    let Some(c) = live.config.console.as_ref() else {
        return peer.ip();
    };
    let trusted = |ip: IpAddr| c.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(peer.ip()) {
        return peer.ip();
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer.ip();
        };
        for hop in text.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            match hop.parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                // A hop we cannot read: nothing left of it is believed.
                Err(_) => hops.clear(),
            }
        }
    }
    hops.iter()
        .rev()
        .find(|ip| !trusted(**ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer.ip())
}

/// Who sent this request, if anyone signed in. A wrong Bearer token counts as a failed
/// sign-in (refused with 429 past the limit); the right one is never refused.
pub(super) async fn visitor(
    console: &Console,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Option<Visitor>, Failure> {
    let live = console.live();
    let config = &live.config;
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let token = console_token(config.console.as_ref());
        if token.as_deref().is_some_and(|t| same(bearer.trim(), t)) {
            return Ok(Some(Visitor {
                who: "token".into(),
                csrf: None,
                session: None,
                address: Some(client(console, headers, peer).to_string()),
                role: Role::Admin,
                lang: language(headers),
            }));
        }
        let ip = client(console, headers, peer);
        if console.limiter.blocked(ip) {
            return Err(Failure::TooMany);
        }
        console.limiter.count(ip);
        return Ok(None);
    }
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = digest(id);
    let Some(s) = live.store.session(&hash, now()).await? else {
        return Ok(None);
    };
    // Checked on every request against the config now in force: someone removed from
    // `allow`, or a session made under a token since rotated, is signed out at once.
    let admitted = still_admitted(config, &s).map_err(|e| {
        tracing::warn!("the console's token cannot be read: {e}; try again");
        Failure::Unavailable
    })?;
    if !admitted {
        tracing::info!(who = %s.who.escape_debug(), kind = %s.kind,
            "console: a session the current config no longer admits was ended");
        live.store.end_session(&hash, now()).await?;
        super::audit::record(
            &live,
            &s.who,
            Some(&client(console, headers, peer).to_string()),
            "session_ended",
            &[],
            "ended: the config in force no longer admits them",
        )
        .await;
        return Ok(None);
    }
    let role = match s.kind.as_str() {
        "feishu" => Role::of(config, s.open_id.as_deref(), s.email.as_deref()),
        // The console's token, and links made with its authority, administer.
        _ => Role::Admin,
    };
    Ok(Some(Visitor {
        who: s.who,
        csrf: Some(s.csrf),
        session: Some(hash),
        address: Some(client(console, headers, peer).to_string()),
        role,
        lang: language(headers),
    }))
}

/// The cookie that remembers the language chosen in the header.
pub(super) const LANG_COOKIE: &str = "expediter_lang";

/// The language a request is answered in: the one chosen in the header (a cookie), else the
/// browser's `Accept-Language`, else Chinese.
pub(super) fn language(headers: &HeaderMap) -> crate::i18n::Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(crate::i18n::Lang::parse)
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::i18n::Lang::from_accept_language)
        })
        .unwrap_or_default()
}

/// A failed sign-in from `ip`: counted, and answered with 429 once the address is past its
/// failures (`otherwise` before that).
fn failed(console: &Console, ip: IpAddr, otherwise: Response) -> Response {
    if console.limiter.blocked(ip) {
        return Failure::TooMany.page();
    }
    console.limiter.count(ip);
    otherwise
}

/// The console's token, read now (a rotated file is honoured without a restart).
fn console_token(console: Option<&ConsoleConfig>) -> Option<String> {
    let source = console?.token.as_ref()?;
    match source.resolve() {
        Ok(secret) => Some(secret.expose().to_owned()),
        Err(e) => {
            tracing::warn!("the console's token cannot be read: {e}");
            None
        }
    }
}

/// `/language/{tag}`: the language chosen in the header, remembered a year; back to the page
/// it was chosen on (the `Referer`'s path: always one of ours).
pub(super) async fn choose_language(
    axum::extract::State(console): axum::extract::State<Console>,
    axum::extract::Path(tag): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(lang) = crate::i18n::Lang::parse(&tag) else {
        return Failure::NotFound(format!("no language {tag}")).page();
    };
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| reqwest::Url::parse(r).ok())
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        });
    let secure = console
        .live()
        .config
        .console
        .as_ref()
        .is_some_and(|c| c.secure_cookies());
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{}",
        lang.tag(),
        if secure { "; Secure" } else { "" }
    );
    let mut response = Redirect::to(&safe_next(back.as_deref())).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Where to go after signing in: one of our own paths, never another site.
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn cookie_attributes(console: &ConsoleConfig) -> &'static str {
    if console.secure_cookies() {
        "; HttpOnly; SameSite=Lax; Secure"
    } else {
        "; HttpOnly; SameSite=Lax"
    }
}

/// A new session for `who` (a new id at every sign-in), and the redirect to `next`.
/// Whom a new session is for.
struct SessionFor {
    who: String,
    /// `feishu`, `token` or `link`.
    kind: &'static str,
    open_id: Option<String>,
    email: Option<String>,
}

impl SessionFor {
    fn by(kind: &'static str, who: String) -> SessionFor {
        SessionFor {
            who,
            kind,
            open_id: None,
            email: None,
        }
    }
}

/// The digest a token or link session keeps of the console token it was made under: `None`
/// when no token is set; an error when one is set but cannot be read now (a file being
/// rotated), which is not a change of token.
fn token_digest(config: &crate::config::Config) -> Result<Option<String>, String> {
    let Some(source) = config.console.as_ref().and_then(|c| c.token.as_ref()) else {
        return Ok(None);
    };
    source
        .resolve()
        .map(|t| Some(digest(&format!("console-token:{}", t.expose()))))
}

/// Does the current config still admit this session's person? A Feishu session's person must
/// still be in `allow`; a token or link session must have been made under the current token.
/// An error: the token cannot be read now, so nothing can be told (the session is kept).
fn still_admitted(config: &crate::config::Config, s: &Session) -> Result<bool, String> {
    Ok(match s.kind.as_str() {
        "feishu" => super::roles::admitted(config, s.open_id.as_deref(), s.email.as_deref()),
        "token" | "link" => s.token_digest == token_digest(config)?,
        _ => false,
    })
}

async fn start_session(
    live: &super::Ground,
    person: SessionFor,
    next: &str,
    address: IpAddr,
) -> Result<Response, Failure> {
    let who = person.who.clone();
    let config = &live.config;
    let console = config
        .console
        .as_ref()
        .ok_or(Failure::NotFound("no console".into()))?;
    let id = random_token();
    let now = now();
    let expires_at = chrono::TimeDelta::from_std(console.session)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now + chrono::TimeDelta::hours(12));
    let session = Session {
        who: who.clone(),
        csrf: random_token(),
        expires_at,
        kind: person.kind.to_owned(),
        token_digest: if person.kind == "feishu" {
            None
        } else {
            token_digest(config).map_err(|e| {
                tracing::warn!("the console's token cannot be read: {e}");
                Failure::Unavailable
            })?
        },
        open_id: person.open_id,
        email: person.email,
    };
    let role = match person.kind {
        "feishu" => Role::of(config, session.open_id.as_deref(), session.email.as_deref()),
        _ => Role::Admin,
    };
    live.store.add_session(&digest(&id), &session, now).await?;
    tracing::info!(who = %who.escape_debug(), "console: signed in");
    super::audit::record(
        live,
        &who,
        Some(&address.to_string()),
        "sign_in",
        &super::audit::teams_of_role(&role),
        &format!("signed in ({}; {})", person.kind, role.words()),
    )
    .await;
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; Max-Age={}{}",
        console.session.as_secs(),
        cookie_attributes(console)
    );
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| Failure::Internal)?,
    );
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct LogoutForm {
    csrf: Option<String>,
}

/// Sign-out ends the session on the server too.
pub(super) async fn logout(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let live = console.live();
    let visitor = match visitor(&console, &headers, peer).await {
        Ok(Some(v)) => v,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(f) => return f.page(),
    };
    if let Err(f) = visitor.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    if let Some(hash) = &visitor.session
        && let Err(e) = live.store.end_session(hash, now()).await
    {
        return Failure::from(e).page();
    }
    super::audit::record(
        &live,
        &visitor.who,
        visitor.address.as_deref(),
        "sign_out",
        &super::audit::teams_of_role(&visitor.role),
        "signed out",
    )
    .await;
    let attrs = live.config.console.as_ref().map_or("", cookie_attributes);
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; Max-Age=0{attrs}")) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

mod cli;
mod oauth;
mod signin;

pub use cli::{link, sessions};
pub(super) use signin::{
    feishu_callback, link_page, login_page, login_with_feishu, login_with_link, login_with_token,
};

/// The signed-in person of a page request: anyone else is sent to `/login`, back here after.
pub(in crate::console) struct PageVisitor(pub Visitor);

/// The signed-in person of an API request: anyone else gets 401 (or 429 past the limit).
pub(in crate::console) struct ApiVisitor(pub Visitor);

/// The peer a request came from, as the server put it in the request.
fn peer_of(parts: &axum::http::request::Parts) -> SocketAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0)
}

/// Signed in, admitted by `allow`, but no role while roles are set: nothing to see.
fn no_role(v: &Visitor) -> Failure {
    Failure::Forbidden(format!(
        "You are signed in as {}, but you have no role on this console: ask its administrator \
            to add you to [console] admins or to a team's leads or viewers.",
        v.who
    ))
}

impl axum::extract::FromRequestParts<Console> for PageVisitor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &Console,
    ) -> Result<Self, Response> {
        match visitor(console, &parts.headers, peer_of(parts)).await {
            Ok(Some(v)) if v.role == Role::Nobody => Err(no_role(&v).page()),
            Ok(Some(v)) => Ok(PageVisitor(v)),
            Ok(None) => {
                let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                Err(Redirect::to(&format!("/login?next={}", encode(next))).into_response())
            }
            Err(f) => Err(f.page()),
        }
    }
}

impl axum::extract::FromRequestParts<Console> for ApiVisitor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &Console,
    ) -> Result<Self, Response> {
        match visitor(console, &parts.headers, peer_of(parts)).await {
            Ok(Some(v)) if v.role == Role::Nobody => Err(no_role(&v).api()),
            Ok(Some(v)) => Ok(ApiVisitor(v)),
            Ok(None) => Err(Failure::Unauthorized.api()),
            Err(f) => Err(f.api()),
        }
    }
}
