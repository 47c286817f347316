//! The simulated endpoints: token, listing, expediting — each validates its body like the
//! platform, then answers or misbehaves as a fault says.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    CallRecord, Endpoint, FakeTask, FaultKind, ReceivedCc, ReceivedChat, ReceivedExpedite, Shared,
    Token,
};

fn feishu_json(status: u16, code: i64, msg: &str, data: Option<Value>) -> Response {
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

fn param_invalid(detail: &str) -> (u16, i64, String) {
    (400, 2320001, format!("param is invalid: {detail}"))
}

struct CallInfo {
    /// When the request arrived (what rate windows and tests measure).
    at: Instant,
    user: Option<String>,
    offset: Option<u64>,
    task_id: Option<String>,
    api_ids: Option<Vec<String>>,
}

/// Applies rate limits and faults. `Err` is the response to send instead of a normal answer;
/// `Ok(Some(fault))` means: act on the request, then answer with that fault.
async fn gate(
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
async fn misbehave(
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

fn record(state: &Shared, endpoint: Endpoint, info: &CallInfo, status: u16, code: i64) {
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
fn check_auth(state: &Shared, headers: &HeaderMap) -> Result<(), (u16, i64, String)> {
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

fn str_field(
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
    let numeric = s.numeric_fields;
    let tasks: Vec<Value> = listed
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| task_json(t, numeric))
        .collect();
    let count = listed.len();
    Ok(json!({
        "count": if numeric { json!(count) } else { json!(count.to_string()) },
        "tasks": tasks,
    }))
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

pub(super) async fn expedite_handler(
    State(state): State<Shared>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    acting(
        state,
        Endpoint::Expedite,
        task_id,
        headers,
        body,
        answer_expedite,
    )
    .await
}

pub(super) async fn cc_handler(
    State(state): State<Shared>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    acting(state, Endpoint::Cc, task_id, headers, body, answer_cc).await
}

pub(super) async fn chat_group_handler(
    State(state): State<Shared>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    acting(
        state,
        Endpoint::ChatGroup,
        task_id,
        headers,
        body,
        answer_chat_group,
    )
    .await
}

/// What an acting endpoint does with a valid request: the `data` it answers, or an error.
type Act = fn(&Shared, &HeaderMap, &str, Option<&Value>) -> Result<Value, (u16, i64, String)>;

/// An endpoint that acts (expediting, cc, chat_group): faults first, then the act, then — for
/// act-then-fail faults — a failed answer although the platform acted.
async fn acting(
    state: Shared,
    endpoint: Endpoint,
    task_id: String,
    headers: HeaderMap,
    body: Bytes,
    act: Act,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let info = CallInfo {
        at: Instant::now(),
        user: None,
        offset: None,
        task_id: Some(task_id.clone()),
        api_ids: None,
    };
    let after = match gate(&state, endpoint, &info).await {
        Ok(after) => after,
        Err(resp) => return resp,
    };
    let result = act(&state, &headers, &task_id, parsed.as_ref());
    if let Some(kind) = after
        && let Some(resp) = misbehave(&state, endpoint, &info, kind).await
    {
        return resp;
    }
    match result {
        Ok(data) => {
            record(&state, endpoint, &info, 200, 0);
            feishu_json(200, 0, "success", Some(data))
        }
        Err((status, code, msg)) => {
            record(&state, endpoint, &info, status, code);
            feishu_json(status, code, &msg, None)
        }
    }
}

/// The operator and a list of user ids (1..=max) from an acting body.
fn operator_and_ids(
    body: Option<&Value>,
    key: &str,
    max: usize,
) -> Result<(String, Vec<String>), (u16, i64, String)> {
    let body = body.ok_or_else(|| param_invalid("body is not JSON"))?;
    let operator = str_field(body, "operator_user_id", true)?.unwrap_or_default();
    if operator.is_empty() {
        return Err(param_invalid("operator_user_id is empty"));
    }
    let ids: Vec<String> = match body.get(key) {
        Some(Value::Array(a)) if (1..=max).contains(&a.len()) && a.iter().all(Value::is_string) => {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        }
        _ => return Err(param_invalid(&format!("{key} must be 1..{max} strings"))),
    };
    Ok((operator, ids))
}

fn answer_expedite(
    state: &Shared,
    headers: &HeaderMap,
    task_id: &str,
    body: Option<&Value>,
) -> Result<Value, (u16, i64, String)> {
    check_auth(state, headers)?;
    let (operator, ids) = operator_and_ids(body, "expediting_user_ids", 20)?;
    let opinion = body.map_or(Ok(None), |b| str_field(b, "opinion", false))?;
    let mut s = state.lock().expect("fake state");
    let Some(task) = s.tasks.iter().find(|t| t.task_id == task_id) else {
        return Err(param_invalid("task is not pending"));
    };
    if let Some(bad) = ids.iter().find(|id| !task.assignees.contains(id)) {
        return Err(param_invalid(&format!("{bad} is not a current handler")));
    }
    s.expedites.push(ReceivedExpedite {
        task_id: task_id.to_owned(),
        operator_user_id: operator,
        expediting_user_ids: ids,
        opinion,
        at: Instant::now(),
    });
    Ok(json!({}))
}

fn answer_cc(
    state: &Shared,
    headers: &HeaderMap,
    task_id: &str,
    body: Option<&Value>,
) -> Result<Value, (u16, i64, String)> {
    check_auth(state, headers)?;
    let (operator, ids) = operator_and_ids(body, "cc_user_ids", 50)?;
    let mut s = state.lock().expect("fake state");
    if !s.tasks.iter().any(|t| t.task_id == task_id) {
        return Err(param_invalid("task is not pending"));
    }
    s.ccs.push(ReceivedCc {
        task_id: task_id.to_owned(),
        operator_user_id: operator,
        cc_user_ids: ids,
        at: Instant::now(),
    });
    Ok(json!({}))
}

fn answer_chat_group(
    state: &Shared,
    headers: &HeaderMap,
    task_id: &str,
    body: Option<&Value>,
) -> Result<Value, (u16, i64, String)> {
    check_auth(state, headers)?;
    let (operator, ids) = operator_and_ids(body, "invite_user_ids", 50)?;
    let fields = body.expect("checked above");
    let chat_id = str_field(fields, "chat_id", false)?;
    let chat_name = str_field(fields, "chat_name", false)?;
    let mut s = state.lock().expect("fake state");
    if !s.tasks.iter().any(|t| t.task_id == task_id) {
        return Err(param_invalid("task is not pending"));
    }
    let id = match &chat_id {
        // Inviting into an existing chat: it must be this task's chat.
        Some(id) => match s.chat_members.get_mut(id) {
            Some((task, members)) if task == task_id => {
                for u in &ids {
                    if !members.contains(u) {
                        members.push(u.clone());
                    }
                }
                id.clone()
            }
            _ => return Err(param_invalid(&format!("chat_id {id} is unknown"))),
        },
        None => {
            let id = format!("oc_fake{:06}", s.chat_members.len() + 1);
            s.chat_members
                .insert(id.clone(), (task_id.to_owned(), ids.clone()));
            id
        }
    };
    s.chats.push(ReceivedChat {
        task_id: task_id.to_owned(),
        operator_user_id: operator,
        invite_user_ids: ids,
        chat_id_sent: chat_id,
        chat_name,
        chat_id: id.clone(),
        at: Instant::now(),
    });
    Ok(json!({ "chat_id": id }))
}

/// A custom bot's webhook, as the platform checks it: the token, the body limit, `msg_type`, the
/// signature (key = timestamp + "\n" + secret; within an hour) and the keyword.
pub(super) async fn webhook_handler(
    State(state): State<Shared>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let info = CallInfo {
        at: Instant::now(),
        user: None,
        offset: None,
        task_id: None,
        api_ids: None,
    };
    if let Err(resp) = gate(&state, Endpoint::Webhook, &info).await {
        return resp;
    }
    let (code, msg) = check_webhook(&state, &token, &body);
    record(&state, Endpoint::Webhook, &info, 200, code);
    if code == 0 {
        feishu_json(200, 0, "success", Some(json!({})))
    } else {
        feishu_json(200, code, &msg, None)
    }
}

fn check_webhook(state: &Shared, token: &str, body: &[u8]) -> (i64, String) {
    let mut s = state.lock().expect("fake state");
    let Some(bot) = s.bots.get_mut(token) else {
        return (
            19001,
            "param invalid: incoming webhook access token invalid".into(),
        );
    };
    if body.len() > 20 * 1024 {
        return (
            9499,
            format!("Bad Request: body is {} bytes, over 20 KB", body.len()),
        );
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (9499, "Bad Request: body is not JSON".into());
    };
    match v.get("msg_type").and_then(Value::as_str) {
        Some("interactive") if v.get("card").is_some_and(Value::is_object) => {}
        Some("text" | "post" | "image" | "share_chat") => {}
        _ => return (9499, "Bad Request: msg_type".into()),
    }
    if let Some(secret) = &bot.secret {
        let ts = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<i64>().ok());
        let now = chrono::Utc::now().timestamp();
        let ok = ts.is_some_and(|ts| {
            (now - ts).abs() <= 3600
                && v.get("sign").and_then(Value::as_str)
                    == Some(crate::domain::digest::sign(ts, secret).as_str())
        });
        if !ok {
            return (
                19021,
                "sign match fail or timestamp is not within one hour from current time".into(),
            );
        }
    }
    if let Some(keyword) = &bot.keyword
        && !v.to_string().contains(keyword.as_str())
    {
        return (19024, "Key Words Not Found".into());
    }
    bot.messages.push(v);
    (0, String::new())
}
