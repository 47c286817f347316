//! The ways to sign in: the token form, a one-time link, and Sign in with Feishu (our side of
//! OAuth 2.0: the redirect with a state bound to the browser, and the callback).

use super::oauth::feishu_person;
use super::*;

#[derive(Deserialize)]
pub(in crate::console) struct LoginQuery {
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

pub(in crate::console) async fn login_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let live = console.live();
    let Some(c) = live.config.console.as_ref() else {
        return Failure::NotFound("no console".into()).page();
    };
    let next = safe_next(q.next.as_deref());
    let (token, cookie) = form_token(c);
    with_cookie(
        crate::console::views::html_response(crate::console::views::login(
            super::language(&headers),
            c,
            &next,
            &token,
            q.error.as_deref(),
        )),
        cookie,
    )
}

#[derive(Deserialize)]
pub(in crate::console) struct TokenForm {
    token: String,
    next: Option<String>,
    form: Option<String>,
}

/// `sign_in = "token"`: the form's token, compared in constant time.
pub(in crate::console) async fn login_with_token(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let live = console.live();
    let config = &live.config;
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
    let ip = client(&console, &headers, peer);
    start_session(&live, SessionFor::by("token", "token".into()), &next, ip)
        .await
        .unwrap_or_else(Failure::page)
}

#[derive(Deserialize)]
pub(in crate::console) struct LinkQuery {
    t: String,
    next: Option<String>,
}

/// A link from `expediter console link` opens a page with a button: a GET uses nothing (a
/// chat's link preview would otherwise spend the link), the button's POST signs in.
pub(in crate::console) async fn link_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Response {
    let live = console.live();
    let Some(c) = live.config.console.as_ref() else {
        return Failure::NotFound("no console".into()).page();
    };
    let next = safe_next(q.next.as_deref());
    let (token, cookie) = form_token(c);
    with_cookie(
        crate::console::views::html_response(crate::console::views::link(
            super::language(&headers),
            &q.t,
            &next,
            &token,
        )),
        cookie,
    )
}

#[derive(Deserialize)]
pub(in crate::console) struct LinkForm {
    t: String,
    next: Option<String>,
    form: Option<String>,
}

/// The link's button: valid once, until it expires.
pub(in crate::console) async fn login_with_link(
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
    match live.store.use_grant(&digest(&f.t), "link", now()).await {
        Ok(Some(who)) => start_session(
            &live,
            SessionFor::by("link", who),
            &next,
            client(&console, &headers, peer),
        )
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
pub(in crate::console) async fn login_with_feishu(
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
    let config = &live.config;
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
            .store
            .forget_console(now() - chrono::TimeDelta::days(1))
            .await
    {
        return Failure::from(e).page();
    }
    if let Err(e) = live
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
pub(in crate::console) struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// Feishu sends the browser back here: the state must be this browser's and unused, the code
/// is exchanged for the person's token, and the person must be in `allow`.
pub(in crate::console) async fn feishu_callback(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let ip = client(&console, &headers, peer);
    let live = console.live();
    let config = &live.config;
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
    let _ = allow;
    let admitted = crate::console::roles::admitted(
        &live.config,
        Some(&person.open_id),
        person.email.as_deref(),
    );
    if !admitted {
        tracing::warn!(open_id = %person.open_id.escape_debug(), "console: signed in with Feishu but not in [console] allow");
        return failed(
            &console,
            ip,
            Failure::Forbidden(format!(
                "{} ({}) may not use this console; ask its administrator to add your open_id \
                    or email to [console] allow, admins, or a team's leads or viewers",
                person.name, person.open_id
            ))
            .page(),
        );
    }
    let who = format!("{} ({})", person.name, person.open_id);
    if let Err(e) = live
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
    let mut response = start_session(&live, person, &next, ip)
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
