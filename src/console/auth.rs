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
    let Some(c) = live.engine.config.console.as_ref() else {
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
    let config = &live.engine.config;
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
    let Some(s) = live.engine.store.session(&hash, now()).await? else {
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
        live.engine.store.end_session(&hash, now()).await?;
        return Ok(None);
    }
    Ok(Some(Visitor {
        who: s.who,
        csrf: Some(s.csrf),
        session: Some(hash),
    }))
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
        "feishu" => match config.console.as_ref().map(|c| &c.sign_in) {
            Some(SignIn::Feishu { allow, .. }) => allow.iter().any(|a| {
                a == "*"
                    || s.open_id.as_deref() == Some(a.as_str())
                    || s.email
                        .as_deref()
                        .is_some_and(|e| a.eq_ignore_ascii_case(e))
            }),
            _ => false,
        },
        "token" | "link" => s.token_digest == token_digest(config)?,
        _ => false,
    })
}

async fn start_session(
    live: &super::Live,
    person: SessionFor,
    next: &str,
) -> Result<Response, Failure> {
    let who = person.who.clone();
    let config = &live.engine.config;
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
    live.engine
        .store
        .add_session(&digest(&id), &session, now)
        .await?;
    tracing::info!(who = %who.escape_debug(), "console: signed in");
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
pub(super) struct LoginQuery {
    next: Option<String>,
    error: Option<String>,
}

/// The sign-in forms carry a token also set as a cookie (`Path=/login`): a form posted from
/// another site has the cookie but cannot know the token, so nobody is signed in behind their
/// back (login CSRF).
const FORM_COOKIE: &str = "expediter_login";

/// A fresh form token, and the cookie that goes with it.
fn form_token(console: &ConsoleConfig) -> (String, HeaderValue) {
    let token = random_token();
    let cookie = format!(
        "{FORM_COOKIE}={token}; Path=/login; Max-Age=3600{}",
        cookie_attributes(console)
    );
    let value = HeaderValue::from_str(&cookie).expect("a cookie of base64url text");
    (token, value)
}

/// The form's token matches this browser's cookie.
fn form_token_ok(headers: &HeaderMap, given: Option<&str>) -> bool {
    match (cookie(headers, FORM_COOKIE), given) {
        (Some(mine), Some(given)) => same(mine, given),
        _ => false,
    }
}

fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

fn back_to_login(error: &str, next: &str) -> Response {
    let to = format!("/login?error={error}&next={}", encode(next));
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

pub(super) async fn login_page(
    State(console): State<Console>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let live = console.live();
    let Some(c) = live.engine.config.console.as_ref() else {
        return Failure::NotFound("no console".into()).page();
    };
    let next = safe_next(q.next.as_deref());
    let (token, cookie) = form_token(c);
    with_cookie(
        super::views::html_response(super::views::login(c, &next, &token, q.error.as_deref())),
        cookie,
    )
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    token: String,
    next: Option<String>,
    form: Option<String>,
}

/// `sign_in = "token"`: the form's token, compared in constant time.
pub(super) async fn login_with_token(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let live = console.live();
    let config = &live.engine.config;
    let next = safe_next(form.next.as_deref());
    if !config
        .console
        .as_ref()
        .is_some_and(|c| c.sign_in == SignIn::Token)
    {
        return Failure::NotFound("this console signs in with Feishu".into()).page();
    }
    if !form_token_ok(&headers, form.form.as_deref()) {
        return back_to_login("form", &next);
    }
    let expected = console_token(config.console.as_ref());
    if !expected.is_some_and(|t| same(form.token.trim(), &t)) {
        let ip = client(&console, &headers, peer);
        tracing::warn!(peer = %ip, "console: a sign-in with a wrong token");
        return failed(&console, ip, back_to_login("token", &next));
    }
    start_session(&live, SessionFor::by("token", "token".into()), &next)
        .await
        .unwrap_or_else(Failure::page)
}

#[derive(Deserialize)]
pub(super) struct LinkQuery {
    t: String,
    next: Option<String>,
}

/// A link from `expediter console link` opens a page with a button: a GET uses nothing (a
/// chat's link preview would otherwise spend the link), the button's POST signs in.
pub(super) async fn link_page(
    State(console): State<Console>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let live = console.live();
    let Some(c) = live.engine.config.console.as_ref() else {
        return Failure::NotFound("no console".into()).page();
    };
    let next = safe_next(q.next.as_deref());
    let (token, cookie) = form_token(c);
    with_cookie(
        super::views::html_response(super::views::link(&q.t, &next, &token)),
        cookie,
    )
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    t: String,
    next: Option<String>,
    form: Option<String>,
}

/// The link's button: valid once, until it expires.
pub(super) async fn login_with_link(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LinkForm>,
) -> Response {
    let live = console.live();
    let next = safe_next(f.next.as_deref());
    if !form_token_ok(&headers, f.form.as_deref()) {
        return back_to_login("form", &next);
    }
    match live
        .engine
        .store
        .use_grant(&digest(&f.t), "link", now())
        .await
    {
        Ok(Some(who)) => start_session(&live, SessionFor::by("link", who), &next)
            .await
            .unwrap_or_else(Failure::page),
        Ok(None) => failed(
            &console,
            client(&console, &headers, peer),
            back_to_login("link", &next),
        ),
        Err(e) => Failure::from(e).page(),
    }
}

/// `sign_in = "feishu"`: to Feishu's authorize page, with a state bound to this browser (a
/// cookie) and used once (a database row).
/// Starting is not a failed sign-in and is never refused: the states it writes are pruned a
/// day on, and only a state bound to the browser that started it signs anyone in.
pub(super) async fn login_with_feishu(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let ip = client(&console, &headers, peer);
    if console.starts.blocked(ip) {
        return Failure::TooMany.page();
    }
    console.starts.count(ip);
    let live = console.live();
    let config = &live.engine.config;
    let Some(c) = config.console.as_ref() else {
        return Failure::NotFound("no console".into()).page();
    };
    let (SignIn::Feishu { accounts_url, .. }, Some(public)) = (&c.sign_in, &c.public_url) else {
        return Failure::NotFound("this console does not sign in with Feishu".into()).page();
    };
    let state = random_token();
    let next = safe_next(q.next.as_deref());
    let expires = now() + chrono::TimeDelta::from_std(STATE_LIFETIME).unwrap_or_default();
    // Sign-ins begun and never finished do not stay (looked for once a minute at most).
    if console.prune_due()
        && let Err(e) = live
            .engine
            .store
            .forget_console(now() - chrono::TimeDelta::days(1))
            .await
    {
        return Failure::from(e).page();
    }
    if let Err(e) = live
        .engine
        .store
        .add_grant(&digest(&state), "oauth_state", &next, expires)
        .await
    {
        return Failure::from(e).page();
    }
    let redirect_uri = format!("{public}/login/feishu/callback");
    let to = format!(
        "{accounts_url}/open-apis/authen/v1/authorize?client_id={}&redirect_uri={}&state={state}",
        encode(&config.feishu.app_id),
        encode(&redirect_uri)
    );
    let cookie = format!(
        "{STATE_COOKIE}={state}; Path=/login/feishu; Max-Age={}{}",
        STATE_LIFETIME.as_secs(),
        cookie_attributes(c)
    );
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// Feishu sends the browser back here: the state must be this browser's and unused, the code
/// is exchanged for the person's token, and the person must be in `allow`.
pub(super) async fn feishu_callback(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let ip = client(&console, &headers, peer);
    let live = console.live();
    let config = &live.engine.config;
    let Some(c) = config.console.as_ref() else {
        return Failure::NotFound("no console".into()).page();
    };
    let (SignIn::Feishu { allow, .. }, Some(public)) = (&c.sign_in, &c.public_url) else {
        return Failure::NotFound("this console does not sign in with Feishu".into()).page();
    };
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return failed(
            &console,
            ip,
            Failure::BadRequest("Feishu sent no code or no state back; sign in again".into())
                .page(),
        );
    };
    let bound = cookie(&headers, STATE_COOKIE).is_some_and(|mine| same(mine, &state));
    if !bound {
        return failed(
            &console,
            ip,
            Failure::Forbidden(
                "this sign-in was not started in this browser; sign in again from the console"
                    .into(),
            )
            .page(),
        );
    }
    let next = match live
        .engine
        .store
        .use_grant(&digest(&state), "oauth_state", now())
        .await
    {
        Ok(Some(next)) => safe_next(Some(&next)),
        Ok(None) => {
            return failed(
                &console,
                ip,
                Failure::Forbidden(
                    "this sign-in was used already or took too long; sign in again".into(),
                )
                .page(),
            );
        }
        Err(e) => return Failure::from(e).page(),
    };
    let person = match feishu_person(&live, &code, &format!("{public}/login/feishu/callback")).await
    {
        Ok(p) => p,
        Err(message) => {
            tracing::warn!(
                "console: sign-in with Feishu failed: {}",
                message.escape_debug()
            );
            return failed(
                &console,
                ip,
                Failure::Forbidden(format!("Feishu did not sign you in: {message}")).page(),
            );
        }
    };
    let admitted = allow.iter().any(|a| {
        a == "*"
            || *a == person.open_id
            || person
                .email
                .as_deref()
                .is_some_and(|e| a.eq_ignore_ascii_case(e))
    });
    if !admitted {
        tracing::warn!(open_id = %person.open_id.escape_debug(), "console: signed in with Feishu but not in [console] allow");
        return failed(
            &console,
            ip,
            Failure::Forbidden(format!(
                "{} ({}) may not use this console; ask its administrator to add your open_id or email to [console] allow",
                person.name, person.open_id
            ))
            .page(),
        );
    }
    let who = format!("{} ({})", person.name, person.open_id);
    if let Err(e) = live
        .engine
        .store
        .remember_person(
            &person.open_id,
            &person.name,
            person.email.as_deref(),
            now(),
        )
        .await
    {
        return Failure::from(e).page();
    }
    let person = SessionFor {
        who,
        kind: "feishu",
        open_id: Some(person.open_id),
        email: person.email,
    };
    let mut response = start_session(&live, person, &next)
        .await
        .unwrap_or_else(Failure::page);
    let clear = format!(
        "{STATE_COOKIE}=; Path=/login/feishu; Max-Age=0{}",
        cookie_attributes(c)
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// An answer's JSON, read up to 64 KiB (a sign-in answer is a few hundred bytes).
async fn capped_json(mut response: reqwest::Response) -> Option<serde_json::Value> {
    const CAP: usize = 64 * 1024;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        body.extend_from_slice(&chunk);
        if body.len() > CAP {
            return None;
        }
    }
    serde_json::from_slice(&body).ok()
}

struct Person {
    name: String,
    open_id: String,
    email: Option<String>,
}

/// The code for a user access token, then who it is. Errors say what Feishu said, never a
/// token or the secret.
async fn feishu_person(
    live: &super::Live,
    code: &str,
    redirect_uri: &str,
) -> Result<Person, String> {
    let config = &live.engine.config;
    let http = crate::feishu::client_builder()
        .timeout(config.feishu.request_timeout)
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let base = &config.feishu.base_url;
    let secret = live.engine.client.app_secret().expose().to_owned();
    let answer: serde_json::Value = http
        .post(format!("{base}/open-apis/authen/v2/oauth/token"))
        .json(&serde_json::json!({
            "grant_type": "authorization_code",
            "client_id": config.feishu.app_id,
            "client_secret": secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }))
        .send()
        .await
        .map_err(|e| format!("the token exchange did not complete ({})", e.without_url()))
        .map(capped_json)?
        .await
        .ok_or_else(|| "the token exchange's answer was not JSON (or too long)".to_owned())?;
    let code = answer.get("code").and_then(|c| c.as_i64()).unwrap_or(-1);
    if code != 0 {
        let msg = answer
            .get("error_description")
            .or_else(|| answer.get("msg"))
            .and_then(|m| m.as_str())
            .unwrap_or("");
        return Err(if code == 20010 {
            "you may not use the app (its availability range in the Feishu admin console)".into()
        } else {
            format!("code {code}: {msg}")
        });
    }
    let token = answer
        .get("access_token")
        .and_then(|t| t.as_str())
        .ok_or("the token exchange gave no access_token")?;
    let info: serde_json::Value = http
        .get(format!("{base}/open-apis/authen/v1/user_info"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("reading who you are did not complete ({})", e.without_url()))
        .map(capped_json)?
        .await
        .ok_or_else(|| "the user_info answer was not JSON (or too long)".to_owned())?;
    let code = info.get("code").and_then(|c| c.as_i64()).unwrap_or(-1);
    let data = info.get("data").filter(|_| code == 0).ok_or_else(|| {
        format!(
            "user_info code {code}: {}",
            info.get("msg").and_then(|m| m.as_str()).unwrap_or("")
        )
    })?;
    let text = |k: &str| {
        data.get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let open_id = text("open_id")
        .ok_or("user_info gave no open_id")?
        .to_owned();
    Ok(Person {
        name: text("name").unwrap_or(&open_id).to_owned(),
        email: text("email")
            .or_else(|| text("enterprise_email"))
            .map(str::to_owned),
        open_id,
    })
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
        && let Err(e) = live.engine.store.end_session(hash, now()).await
    {
        return Failure::from(e).page();
    }
    let attrs = live
        .engine
        .config
        .console
        .as_ref()
        .map_or("", cookie_attributes);
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; Max-Age=0{attrs}")) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `expediter console link [--for DUR]`: a one-time sign-in link, recorded as made by the
/// person at the shell.
pub async fn link(path: &Path, valid_for: &str) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let Some(console) = &config.console else {
        eprintln!(
            "error: {} has no [console]: add one with listen = \"127.0.0.1:9465\" (see config.example.toml)",
            path.display()
        );
        return Ok(EXIT_CONFIG);
    };
    let lifetime = humantime::parse_duration(valid_for.trim()).map_err(|e| {
        UsageError(format!(
            "--for \"{valid_for}\" is not a duration ({e}); write it like 10m"
        ))
    })?;
    if lifetime > Duration::from_secs(7 * 86_400) || lifetime < Duration::from_secs(10) {
        return Err(UsageError(format!(
            "--for \"{valid_for}\": a sign-in link lasts between 10s and 7d"
        ))
        .into());
    }
    let store = Store::open(&config.storage.database).await?;
    let token = random_token();
    let now = now();
    let expires = now + chrono::TimeDelta::from_std(lifetime).unwrap_or_default();
    store
        .add_grant(
            &digest(&token),
            "link",
            &crate::commands::silence::who_at_cli(),
            expires,
        )
        .await?;
    store.close().await;
    let base = console
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", console.listen));
    println!("{base}/login/link?t={token}");
    eprintln!(
        "valid once, until {} ({})",
        expires
            .with_timezone(&config.schedule.timezone)
            .format("%Y-%m-%d %H:%M %Z"),
        crate::domain::opinion::human_duration(lifetime)
    );
    Ok(EXIT_OK)
}

/// `expediter console sessions [--json]` lists the open sessions; with `end`, ends one (by the
/// ID the list shows) or every one (`Some(None)`): exit 1 when no session had that ID.
pub async fn sessions(path: &Path, end: Option<Option<String>>, json: bool) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    if config.console.is_none() {
        eprintln!(
            "error: {} has no [console]: there are no console sessions",
            path.display()
        );
        return Ok(EXIT_CONFIG);
    }
    let store = Store::open(&config.storage.database).await?;
    let now = now();
    let code = match end {
        Some(id) => {
            let ended = store
                .end_sessions(id.as_deref().map(str::trim), now)
                .await?;
            match id {
                Some(id) if ended == 0 => {
                    eprintln!(
                        "no open session has the ID {id:?} (see `expediter console sessions`)"
                    );
                    1
                }
                _ => {
                    eprintln!(
                        "{ended} session(s) ended; those signed in with them must sign in again"
                    );
                    EXIT_OK
                }
            }
        }
        None => {
            let list = store.sessions(now).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no open sessions");
            } else {
                let tz = config.schedule.timezone;
                let at = |t: chrono::DateTime<chrono::Utc>| {
                    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
                };
                println!(
                    "{:<12}  {:<7}  {:<16}  {:<16}  who",
                    "ID", "how", "since", "until"
                );
                for s in &list {
                    println!(
                        "{:<12}  {:<7}  {:<16}  {:<16}  {}",
                        s.id,
                        s.kind,
                        at(s.created_at),
                        at(s.expires_at),
                        s.who.escape_debug()
                    );
                }
            }
            EXIT_OK
        }
    };
    store.close().await;
    Ok(code)
}
