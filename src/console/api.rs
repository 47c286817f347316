//! The JSON API beside the pages, the same data: `/api/v1/…`. Signed in by a session cookie
//! (writes then carry `X-CSRF-Token`) or by the console's token as `Authorization: Bearer`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::ApiVisitor;
use super::data::TaskFilter;
use super::error::Failure;
use super::pages::AllQuery;
use super::services::Services;

fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-csrf-token").and_then(|v| v.to_str().ok())
}

pub(super) async fn status(State(s): State<Services>, ApiVisitor(v): ApiVisitor) -> Response {
    match s.overview(&v).await {
        Ok(o) => Json(o).into_response(),
        Err(f) => f.api(),
    }
}

pub(super) async fn tasks(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    query: Result<Query<TaskFilter>, QueryRejection>,
) -> Response {
    let Query(f) = match query {
        Ok(q) => q,
        Err(e) => return Failure::BadRequest(e.body_text()).api(),
    };
    match s.tasks(&v, &f).await {
        Ok(p) => Json(p).into_response(),
        Err(f) => f.api(),
    }
}

pub(super) async fn task(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    Path(task_id): Path<String>,
) -> Response {
    match s.task(&v, &task_id).await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => Failure::NotFound(format!("no task {task_id} has been seen")).api(),
        Err(f) => f.api(),
    }
}

pub(super) async fn silences(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    Query(q): Query<AllQuery>,
) -> Response {
    match s.silences(&v, q.all()).await {
        Ok(list) => Json(list).into_response(),
        Err(f) => f.api(),
    }
}

/// A write's JSON body, read the same way for every write: too large is 413; not JSON, a
/// field of the wrong type or one this call does not take is 400 naming the field.
#[allow(clippy::result_large_err)] // the answer itself, returned by the handler as it is
fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    what: &str,
    shape: &str,
) -> Result<T, Response> {
    let bytes = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(serde_json::json!({
                    "error": format!("the body is too large: {what} is a few fields ({shape})")
                })),
            )
                .into_response());
        }
        Err(e) => return Err(Failure::BadRequest(e.body_text()).api()),
    };
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    if parsed.is_ok()
        && let Err(e) = de.end()
    {
        return Err(
            Failure::BadRequest(format!("the body is not {what} ({e}); send {shape}")).api(),
        );
    }
    parsed.map_err(|e| {
        let message = e.inner().to_string();
        // An unknown field is named in the message (`unknown field `x``), not in the path.
        let field = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_owned)
            .or_else(|| {
                let path = e.path().to_string();
                (path != ".").then_some(path)
            });
        let message = format!("the body is not {what} ({message}); send {shape}");
        match field {
            Some(f) => Failure::BadField(f.into(), message).api(),
            None => Failure::BadRequest(message).api(),
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSilenceBody {
    task_id: Option<String>,
    user_id: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    until: Option<String>,
    reason: Option<String>,
}

pub(super) async fn add_silence(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(f) = v.check_csrf(csrf_header(&headers)) {
        return f.api();
    }
    let b: NewSilenceBody = match json_body(
        body,
        "a silence",
        r#"{"task_id", "user_id"?, "for"? | "until"?, "reason"?}"#,
    ) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(task_id) = b.task_id.as_deref() else {
        return Failure::BadField(
            "task_id".into(),
            "task_id is missing: the task to silence".into(),
        )
        .api();
    };
    match s
        .add_silence(
            &v,
            task_id,
            b.user_id.as_deref(),
            b.duration.as_deref(),
            b.until.as_deref(),
            b.reason.as_deref().unwrap_or(""),
        )
        .await
    {
        Ok((id, warning)) => {
            let mut answer = serde_json::json!({ "id": id });
            if let Some(w) = warning {
                answer["warning"] = serde_json::Value::from(w);
            }
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(f) => f.api(),
    }
}

pub(super) async fn remove_silence(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(f) = v.check_csrf(csrf_header(&headers)) {
        return f.api();
    }
    let Ok(id) = id.trim().parse::<i64>() else {
        return Failure::NotFound(format!("no silence {id}")).api();
    };
    match s.end_silence(&v, id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => Failure::NotFound(format!(
            "silence {id} is not active (removed or run out already)"
        ))
        .api(),
        Err(f) => f.api(),
    }
}

pub(super) async fn away(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    Query(q): Query<AllQuery>,
) -> Response {
    match s.away_windows(&v, q.all()).await {
        Ok(a) => Json(a).into_response(),
        Err(f) => f.api(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAwayBody {
    user_id: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    until: Option<String>,
    from: Option<String>,
    deputy: Option<String>,
    reason: Option<String>,
}

pub(super) async fn add_away(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(f) = v.check_csrf(csrf_header(&headers)) {
        return f.api();
    }
    let b: NewAwayBody = match json_body(
        body,
        "an away window",
        r#"{"user_id", "for"? | "until"?, "from"?, "deputy"?, "reason"?}"#,
    ) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(user) = b.user_id.as_deref() else {
        return Failure::BadField("user_id".into(), "user_id is missing: who is away".into()).api();
    };
    match s
        .add_away_window(
            &v,
            user,
            b.duration.as_deref(),
            b.until.as_deref(),
            b.from.as_deref(),
            b.deputy.as_deref(),
            b.reason.as_deref().unwrap_or(""),
        )
        .await
    {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(f) => f.api(),
    }
}

pub(super) async fn remove_away(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(f) = v.check_csrf(csrf_header(&headers)) {
        return f.api();
    }
    let Ok(id) = id.trim().parse::<i64>() else {
        return Failure::NotFound(format!("no away window {id}")).api();
    };
    match s.end_away_window(&v, id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => Failure::NotFound(format!(
            "away window {id} is over (removed or ended already)"
        ))
        .api(),
        Err(f) => f.api(),
    }
}

pub(super) async fn get_team(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    Path(team): Path<String>,
) -> Response {
    match s.team(&v, &team, None).await {
        Ok(t) => Json(t).into_response(),
        Err(f) => f.api(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutBody {
    document: String,
    comment: Option<String>,
}

/// `PUT /api/v1/teams/{team}` with `If-Match: <version>`.
pub(super) async fn put_team(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    headers: HeaderMap,
    Path(team): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(f) = v.check_csrf(csrf_header(&headers)) {
        return f.api();
    }
    let Some(based_on) = headers
        .get("if-match")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().trim_matches('"'))
        .and_then(|h| h.parse::<i64>().ok())
        .filter(|n| *n >= 0)
    else {
        return Failure::BadField(
            "If-Match".into(),
            "If-Match: <version> is required: the version your document starts from (0 for a \
                team with none yet)"
                .into(),
        )
        .api();
    };
    let b: PutBody = match json_body(body, "a team's document", r#"{"document", "comment"}"#) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match s
        .save_team(
            &v,
            &team,
            based_on,
            &b.document,
            b.comment.as_deref().unwrap_or(""),
        )
        .await
    {
        Ok(version) => {
            Json(serde_json::json!({ "team": team, "version": version })).into_response()
        }
        Err(r) => r.api(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PreviewBody {
    document: String,
}

/// `POST /api/v1/teams/{team}/preview`.
pub(super) async fn preview_team(
    State(s): State<Services>,
    ApiVisitor(v): ApiVisitor,
    headers: HeaderMap,
    Path(team): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(f) = v.check_csrf(csrf_header(&headers)) {
        return f.api();
    }
    let b: PreviewBody = match json_body(body, "a draft", r#"{"document"}"#) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match s.preview_team(&v, &team, &b.document).await {
        Ok(p) => Json(p).into_response(),
        Err(r) => r.api(),
    }
}
