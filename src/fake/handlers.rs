//! The simulated token and listing endpoints, and what every endpoint shares: rate windows,
//! faults, the call record and the token check. The endpoints that act are in `acting`, the
//! custom bot in `webhook`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{CallRecord, Endpoint, FakeTask, FaultKind, Shared, Token};

pub(super) fn feishu_json(status: u16, code: i64, msg: &str, data: Option<Value>) -> Response {
    let mut body = json!({"code": code, "msg": msg});
    if let Some(d) = data {
        body["data"] = d;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

pub(super) fn param_invalid(detail: &str) -> (u16, i64, String) {
    (400, 2320001, format!("param is invalid: {detail}"))
}

pub(super) struct CallInfo {
    /// When the request arrived (what rate windows and tests measure).
    pub(super) at: Instant,
    pub(super) user: Option<String>,
    pub(super) offset: Option<u64>,
    pub(super) task_id: Option<String>,
    pub(super) api_ids: Option<Vec<String>>,
}

/// Applies rate limits and faults. `Err` is the response to send instead of a normal answer;
/// `Ok(Some(fault))` means: act on the request, then answer with that fault.
pub(super) async fn gate(
    state: &Shared,
    endpoint: Endpoint,
    info: &CallInfo,
) -> Result<Option<FaultKind>, Response> {
    let (fault, limited) = {
        let mut s = state.lock().expect("fake state");
        let now = Instant::now();
        let mut limited = None;
        if let Some(&(limit, window)) = s.rate_limits.get(&endpoint) {
            let q = s.windows.entry(endpoint).or_default();
            while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
                q.pop_front();
            }
            if q.len() >= limit {
                let reset = window
                    .saturating_sub(now.duration_since(*q.front().expect("full window")))
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64;
                limited = Some(reset);
            } else {
                q.push_back(now);
            }
        }
        let mut chosen = None;
        if limited.is_none() {
            for f in s.faults.iter_mut() {
                let matches = f.endpoint == endpoint
                    && f.user
                        .as_ref()
                        .is_none_or(|u| info.user.as_ref() == Some(u))
                    && f.offset.is_none_or(|o| info.offset == Some(o))
                    && f.task_id
                        .as_ref()
                        .is_none_or(|t| info.task_id.as_ref() == Some(t))
                    && f.times != Some(0);
                if !matches {
                    continue;
                }
                if f.skip > 0 {
                    f.skip -= 1;
                    continue;
                }
                if let Some(t) = f.times.as_mut() {
                    *t -= 1;
                }
                chosen = Some(f.kind.clone());
                break;
            }
        }
        (chosen, limited)
    };
    if let Some(reset) = limited {
        record(state, endpoint, info, 429, 99991400);
        let mut resp = feishu_json(429, 99991400, "request trigger frequency limit", None);
        let h = resp.headers_mut();
        h.insert("x-ogw-ratelimit-reset", HeaderValue::from(reset));
        return Err(resp);
    }
    match fault {
        None => Ok(None),
        Some(FaultKind::ActThenHang(d)) => Ok(Some(FaultKind::Hang(d))),
        Some(FaultKind::ActThen(then)) => Ok(Some(*then)),
        Some(kind) => match misbehave(state, endpoint, info, kind).await {
            Some(resp) => Err(resp),
            None => Ok(None),
        },
    }
}

/// What a fault does: the response to send instead of the normal one, or `None` when the
/// normal answer follows (after the fault's delay or side effect).
pub(super) async fn misbehave(
    state: &Shared,
    endpoint: Endpoint,
    info: &CallInfo,
    kind: FaultKind,
) -> Option<Response> {
    match kind {
        FaultKind::Status(status) => {
            record(state, endpoint, info, status, -1);
            Some(feishu_json(status, 1500, "internal error (injected)", None))
        }
        FaultKind::GatewayPage(status) => {
            record(state, endpoint, info, status, -1);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let page = format!(
                "<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>gateway</center></body></html>"
            );
            Some((status, [("content-type", "text/html")], page).into_response())
        }
        FaultKind::RateLimit { reset_secs } => {
            record(state, endpoint, info, 429, 99991400);
            let mut resp = feishu_json(429, 99991400, "request trigger frequency limit", None);
            if let Some(r) = reset_secs {
                resp.headers_mut()
                    .insert("x-ogw-ratelimit-reset", HeaderValue::from(r));
            }
            Some(resp)
        }
        FaultKind::Code { code, http_status } => {
            record(state, endpoint, info, http_status, code);
            Some(feishu_json(http_status, code, "injected error", None))
        }
        FaultKind::Garbage => {
            record(state, endpoint, info, 200, -1);
            Some((StatusCode::OK, "<html><body>502 Bad Gateway</body></html>").into_response())
        }
        FaultKind::Truncated => {
            record(state, endpoint, info, 200, -1);
            Some((StatusCode::OK, [("content-type", "application/json")], "{\"code\":0,\"msg\":\"success\",\"data\":{\"count\":\"3\",\"tasks\":[{\"task_id\":\"").into_response())
        }
        FaultKind::EndlessBody => {
            record(state, endpoint, info, 200, 0);
            let head = bytes::Bytes::from_static(
                b"{\"code\":0,\"msg\":\"success\",\"data\":{\"count\":\"1\",\"tasks\":[",
            );
            let blanks = bytes::Bytes::from(vec![b' '; 64 << 10]);
            let chunks = std::iter::once(head).chain(std::iter::repeat_n(blanks, 4096));
            let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::io::Error>));
            Some(
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    axum::body::Body::from_stream(stream),
                )
                    .into_response(),
            )
        }
        FaultKind::Hang(d) | FaultKind::ActThenHang(d) => {
            tokio::time::sleep(d).await;
            None
        }
        FaultKind::ActThen(then) => Box::pin(misbehave(state, endpoint, info, *then)).await,
        FaultKind::FinishTask(task_id) => {
            state
                .lock()
                .expect("fake state")
                .tasks
                .retain(|t| t.task_id != task_id);
            None
        }
        FaultKind::Shift { finish, arrive } => {
            let mut s = state.lock().expect("fake state");
            s.tasks.retain(|t| t.task_id != finish);
            s.tasks.push(*arrive);
            None
        }
    }
}

pub(super) fn record(state: &Shared, endpoint: Endpoint, info: &CallInfo, status: u16, code: i64) {
    state.lock().expect("fake state").calls.push(CallRecord {
        endpoint,
        at: info.at,
        status,
        code,
        user: info.user.clone(),
        offset: info.offset,
        api_ids: info.api_ids.clone(),
    });
}

/// Checks the bearer token like the platform: missing → 99991661, unknown or expired → 99991663.
pub(super) fn check_auth(state: &Shared, headers: &HeaderMap) -> Result<(), (u16, i64, String)> {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err((
            400,
            99991661,
            "Missing access token for authorization".into(),
        ));
    };
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Err((400, 99991671, "Invalid access token format".into()));
    };
    let s = state.lock().expect("fake state");
    let now = Instant::now();
    match s.tokens.iter().find(|t| t.value == token) {
        Some(t) if t.expires > now => Ok(()),
        _ => Err((
            400,
            99991663,
            "Invalid access token for authorization".into(),
        )),
    }
}

pub(super) async fn token_handler(State(state): State<Shared>, body: Bytes) -> Response {
    let info = CallInfo {
        at: Instant::now(),
        user: None,
        offset: None,
        task_id: None,
        api_ids: None,
    };
    if let Err(resp) = gate(&state, Endpoint::Token, &info).await {
        return resp;
    }
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut s = state.lock().expect("fake state");
    let (status, code, msg) = match (field("app_id"), field("app_secret")) {
        (Some(id), Some(secret)) if id == s.app_id && secret == s.app_secret => (200, 0, "ok"),
        (Some(id), Some(_)) if id == s.app_id => (400, 10014, "app secret invalid"),
        (Some(_), Some(_)) => (400, 10003, "invalid param: app_id"),
        _ => (400, 10003, "invalid param"),
    };
    let now = Instant::now();
    let mut reply = json!({"code": code, "msg": msg});
    if code == 0 {
        s.token_serial += 1;
        let value = format!("t-fake{:08}{:016x}", s.token_serial, fastrand::u64(..));
        let ttl = s.token_ttl;
        s.tokens.push(Token {
            value: value.clone(),
            expires: now + ttl,
        });
        reply["tenant_access_token"] = json!(value);
        reply["expire"] = json!(ttl.as_secs().max(1));
    }
    drop(s);
    record(&state, Endpoint::Token, &info, status, code);
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [("content-type", "application/json; charset=utf-8")],
        reply.to_string(),
    )
        .into_response()
}

pub(super) fn str_field(
    body: &Value,
    key: &str,
    required: bool,
) -> Result<Option<String>, (u16, i64, String)> {
    match body.get(key) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(param_invalid(&format!("{key} is required"))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(param_invalid(&format!("{key} must be a string"))),
    }
}

pub(super) async fn query_handler(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let user = parsed
        .as_ref()
        .and_then(|v| v.get("kunlun_user_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let offset = parsed
        .as_ref()
        .and_then(|v| v.get("offset"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok());
    let api_ids: Option<Vec<String>> = parsed
        .as_ref()
        .and_then(|v| v.get("api_ids"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        });
    let info = CallInfo {
        at: Instant::now(),
        user,
        offset,
        task_id: None,
        api_ids,
    };
    let after = match gate(&state, Endpoint::Query, &info).await {
        Ok(after) => after,
        Err(resp) => return resp,
    };
    let result = answer_query(&state, &headers, parsed.as_ref());
    if let Some(kind) = after
        && let Some(resp) = misbehave(&state, Endpoint::Query, &info, kind).await
    {
        return resp;
    }
    match result {
        Ok(data) => {
            record(&state, Endpoint::Query, &info, 200, 0);
            feishu_json(200, 0, "success", Some(data))
        }
        Err((status, code, msg)) => {
            record(&state, Endpoint::Query, &info, status, code);
            feishu_json(status, code, &msg, None)
        }
    }
}

fn answer_query(
    state: &Shared,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Result<Value, (u16, i64, String)> {
    check_auth(state, headers)?;
    let body = body.ok_or_else(|| param_invalid("body is not JSON"))?;
    let user = str_field(body, "kunlun_user_id", true)?.unwrap_or_default();
    for key in ["type", "source", "start_time", "end_time"] {
        str_field(body, key, false)?;
    }
    if str_field(body, "type", false)?.is_some_and(|t| t != "pending" && t != "archived") {
        return Err(param_invalid("type"));
    }
    if str_field(body, "source", false)?
        .is_some_and(|t| !["assignMe", "fromMe", "CCMe"].contains(&t.as_str()))
    {
        return Err(param_invalid("source"));
    }
    let limit: usize = match str_field(body, "limit", false)? {
        None => 10,
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| (1..=50).contains(l))
            .ok_or_else(|| param_invalid("limit must be \"1\"..\"50\""))?,
    };
    let offset: usize = match str_field(body, "offset", false)? {
        None => 0,
        Some(o) => o
            .parse()
            .map_err(|_| param_invalid("offset must be a numeric string"))?,
    };
    let filter: Option<Vec<String>> = match body.get("api_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if (1..=100).contains(&a.len()) && a.iter().all(Value::is_string) => {
            Some(
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
            )
        }
        Some(_) => return Err(param_invalid("api_ids must be 1..100 strings")),
    };
    let s = state.lock().expect("fake state");
    let listed: Vec<&FakeTask> = s
        .tasks
        .iter()
        .filter(|t| t.assignees.contains(&user))
        .filter(|t| filter.as_ref().is_none_or(|f| f.contains(&t.api_id)))
        .collect();
    let offset = if s.repeat_first_page { 0 } else { offset };
    let numeric = s.numeric_fields;
    let omit_count = s.omit_count;
    let tasks: Vec<Value> = listed
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| {
            if s.unreadable.contains(&t.task_id) {
                json!(format!("unreadable {}", t.task_id))
            } else {
                task_json(t, numeric)
            }
        })
        .collect();
    let count = listed.len();
    let mut data = json!({
        "count": if numeric { json!(count) } else { json!(count.to_string()) },
        "tasks": tasks,
    });
    if omit_count {
        data.as_object_mut().expect("an object").remove("count");
    }
    Ok(data)
}

fn task_json(t: &FakeTask, numeric: bool) -> Value {
    let mut v = json!({
        "task_id": t.task_id,
        "workflow_instance": {
            "id": t.instance_id,
            "label": t.labels.iter().map(|(l, x)| json!({"language_code": l, "text": x})).collect::<Vec<_>>(),
            "status": "in_process",
        },
        "initiator": {"user_id": t.initiator_id, "name": t.initiator_name},
        "summarys": [{"file_key": {"language_code": "2052", "text": "金额"}, "file_value": [{"language_code": "2052", "text": "100"}]}],
    });
    if let Some(ms) = t.start_ms {
        v["task_start_time"] = if numeric {
            json!(ms)
        } else {
            json!(ms.to_string())
        };
    }
    v
}
