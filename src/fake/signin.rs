//! Sign in with Feishu, simulated: the accounts page (which, as inside the Feishu client, sends
//! the browser straight back with a code), the code's exchange for a user token (once, within
//! its redirect URI, with the app's secret), and who the token belongs to.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;

/// The person "signed in to Feishu" in the simulated browser.
#[derive(Clone, Debug)]
pub struct FakePerson {
    pub open_id: String,
    pub name: String,
    pub email: Option<String>,
    /// Outside the app's availability range: the exchange answers 20010.
    pub barred: bool,
}

#[derive(Default)]
pub(crate) struct SignInState {
    pub(super) person: Option<FakePerson>,
    /// Issued codes: who, the redirect URI they were issued for, used yet.
    pub(super) codes: HashMap<String, (FakePerson, String, bool)>,
    pub(super) user_tokens: HashMap<String, FakePerson>,
    /// Every exchange's body as received.
    pub(super) exchanges: Vec<Value>,
}

#[derive(Deserialize)]
pub(super) struct Authorize {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
}

pub(super) async fn authorize(State(state): State<Shared>, Query(q): Query<Authorize>) -> Response {
    let mut s = state.lock().expect("fake state");
    if q.client_id.as_deref() != Some(s.app_id.as_str()) {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    }
    let (Some(redirect), Some(st)) = (q.redirect_uri, q.state) else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri and state are required",
        )
            .into_response();
    };
    let Some(person) = s.signin.person.clone() else {
        return (
            StatusCode::OK,
            "nobody is signed in to Feishu in this browser",
        )
            .into_response();
    };
    let code = format!("code-{:016x}", fastrand::u64(..));
    s.signin
        .codes
        .insert(code.clone(), (person, redirect.clone(), false));
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let to = format!(
        "{redirect}{sep}code={code}&state={}",
        percent_encoding::utf8_percent_encode(&st, percent_encoding::NON_ALPHANUMERIC)
    );
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

pub(super) async fn token(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut s = state.lock().expect("fake state");
    s.signin.exchanges.push(body.clone());
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let refuse = |code: i64, what: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": code, "error": "invalid_grant", "error_description": what})),
        )
            .into_response()
    };
    if field("grant_type") != "authorization_code" {
        return refuse(20001, "grant_type must be authorization_code");
    }
    if field("client_id") != s.app_id || field("client_secret") != s.app_secret {
        return refuse(20002, "client authentication failed");
    }
    let code = field("code");
    let Some((person, redirect, used)) = s.signin.codes.get_mut(&code) else {
        return refuse(20003, "the code is unknown");
    };
    if *used {
        return refuse(20004, "the code was used already");
    }
    if *redirect != field("redirect_uri") {
        return refuse(
            20005,
            "redirect_uri differs from the authorization request's",
        );
    }
    *used = true;
    let person = person.clone();
    if person.barred {
        return refuse(20010, "the user may not use the app");
    }
    let token = format!("u-{:016x}", fastrand::u64(..));
    s.signin.user_tokens.insert(token.clone(), person);
    Json(json!({"code": 0, "access_token": token, "expires_in": 7200, "token_type": "Bearer", "scope": ""})).into_response()
}

pub(super) async fn user_info(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let s = state.lock().expect("fake state");
    let person = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| s.signin.user_tokens.get(t));
    match person {
        Some(p) => Json(json!({"code": 0, "msg": "success", "data": {
            "name": p.name, "open_id": p.open_id, "union_id": format!("on_{}", p.open_id),
            "email": p.email,
        }}))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": 20005, "msg": "invalid access token"})),
        )
            .into_response(),
    }
}
