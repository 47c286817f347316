//! A simulated Feishu for tests, benchmarks and `expediter demo`: a real HTTP server on
//! 127.0.0.1 that keeps tasks per user, pages by offset, issues tokens that expire, counts calls
//! per API in sliding windows, validates bodies like the platform, and misbehaves on request
//! (429s, 5xx, garbage, hangs, error codes).
// The simulated platform has a clock of its own, as the real one does.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::feishu::{QUERY_PATH, TOKEN_PATH};

/// The endpoints the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Token,
    Query,
    Expedite,
}

/// A task in the simulated tenant.
#[derive(Debug, Clone)]
pub struct FakeTask {
    pub task_id: String,
    pub instance_id: String,
    /// (language code, text)
    pub labels: Vec<(String, String)>,
    /// Epoch milliseconds; `None` omits `task_start_time`.
    pub start_ms: Option<i64>,
    pub initiator_id: String,
    pub initiator_name: String,
    /// Current handlers: the task is listed for each of them.
    pub assignees: Vec<String>,
    /// The flow it belongs to (matched by `api_ids` filters).
    pub api_id: String,
}

impl FakeTask {
    pub fn new(task_id: impl Into<String>, assignees: &[&str], age: Duration) -> Self {
        let task_id = task_id.into();
        let now_ms = chrono::Utc::now().timestamp_millis();
        Self {
            instance_id: format!("wf-{task_id}"),
            labels: vec![
                ("2052".into(), format!("报销审批 {task_id}")),
                ("1033".into(), format!("Expense approval {task_id}")),
            ],
            start_ms: Some(now_ms - age.as_millis() as i64),
            initiator_id: "9001".into(),
            initiator_name: "Initiator".into(),
            assignees: assignees.iter().map(|s| s.to_string()).collect(),
            api_id: "flow_default".into(),
            task_id,
        }
    }

    pub fn label(mut self, zh: &str, en: &str) -> Self {
        self.labels = vec![("2052".into(), zh.into()), ("1033".into(), en.into())];
        self
    }

    pub fn flow(mut self, api_id: &str) -> Self {
        self.api_id = api_id.into();
        self
    }

    pub fn initiator(mut self, id: &str, name: &str) -> Self {
        self.initiator_id = id.into();
        self.initiator_name = name.into();
        self
    }

    pub fn no_start_time(mut self) -> Self {
        self.start_ms = None;
        self
    }
}

/// A misbehaviour to inject.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// HTTP status with a Feishu-looking error body.
    Status(u16),
    /// HTTP 429 with code 99991400 and, when given, `x-ogw-ratelimit-reset`.
    RateLimit { reset_secs: Option<u64> },
    /// A Feishu error code with the given HTTP status.
    Code { code: i64, http_status: u16 },
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// HTTP 200 with JSON cut off in the middle.
    Truncated,
    /// Wait this long, then answer normally (the client's timeout should fire first).
    Hang(Duration),
    /// Answer normally, but process the request first (for expediting: the reminder is
    /// recorded), then hang — the platform acted, the client never hears.
    ActThenHang(Duration),
    /// Process the request (the platform acts), then answer with this fault instead: a gateway
    /// that fails the answer after the work was done.
    ActThen(Box<FaultKind>),
    /// An HTTP status with an HTML page, as a gateway sends it (`504 Gateway Time-out`).
    GatewayPage(u16),
    /// Finish this task for everyone, then answer normally (a task finishing mid-listing).
    FinishTask(String),
    /// Finish one task and let another arrive at the end of its assignees' lists (a transfer
    /// from a colleague), then answer normally: the total holds while every task after the
    /// finished one moves up a place.
    Shift {
        finish: String,
        arrive: Box<FakeTask>,
    },
}

/// Which calls a fault applies to, and how many times.
#[derive(Debug, Clone)]
pub struct Fault {
    pub endpoint: Endpoint,
    pub user: Option<String>,
    pub offset: Option<u64>,
    pub task_id: Option<String>,
    /// `None`: every matching call.
    pub times: Option<u32>,
    /// Skip this many matching calls before the fault starts.
    pub skip: u32,
    pub kind: FaultKind,
}

impl Fault {
    pub fn new(endpoint: Endpoint, kind: FaultKind) -> Self {
        Self {
            endpoint,
            user: None,
            offset: None,
            task_id: None,
            times: Some(1),
            skip: 0,
            kind,
        }
    }
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
    }
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    pub fn task(mut self, task_id: &str) -> Self {
        self.task_id = Some(task_id.into());
        self
    }
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }
    pub fn after(mut self, skip: u32) -> Self {
        self.skip = skip;
        self
    }
}

/// An expediting call the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedExpedite {
    pub task_id: String,
    pub operator_user_id: String,
    pub expediting_user_ids: Vec<String>,
    pub opinion: Option<String>,
    /// When the platform acted on it.
    pub at: Instant,
}

/// One call as the fake saw it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub endpoint: Endpoint,
    pub at: Instant,
    pub status: u16,
    pub code: i64,
    pub user: Option<String>,
    pub offset: Option<u64>,
    pub api_ids: Option<Vec<String>>,
    pub authorization: Option<String>,
}

struct Token {
    value: String,
    expires: Instant,
}

struct FakeState {
    app_id: String,
    app_secret: String,
    token_ttl: Duration,
    tokens: Vec<Token>,
    token_serial: u64,
    tasks: Vec<FakeTask>,
    rate_limits: HashMap<Endpoint, (usize, Duration)>,
    windows: HashMap<Endpoint, VecDeque<Instant>>,
    faults: Vec<Fault>,
    calls: Vec<CallRecord>,
    expedites: Vec<ReceivedExpedite>,
    /// Write `count` and `task_start_time` as numbers instead of strings.
    numeric_fields: bool,
}

/// A running simulated Feishu. Stops when dropped.
pub struct FakeFeishu {
    addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeFeishu {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Shared = Arc<Mutex<FakeState>>;

impl FakeFeishu {
    /// Starts the fake on 127.0.0.1 with an ephemeral port.
    pub async fn start(app_id: &str, app_secret: &str) -> std::io::Result<FakeFeishu> {
        let state = Arc::new(Mutex::new(FakeState {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            token_ttl: Duration::from_secs(7200),
            tokens: Vec::new(),
            token_serial: 0,
            tasks: Vec::new(),
            rate_limits: HashMap::new(),
            windows: HashMap::new(),
            faults: Vec::new(),
            calls: Vec::new(),
            expedites: Vec::new(),
            numeric_fields: false,
        }));
        let app = Router::new()
            .route(TOKEN_PATH, post(token_handler))
            .route(QUERY_PATH, post(query_handler))
            .route(
                "/open-apis/apaas/v1/user_tasks/{task_id}/expediting",
                post(expedite_handler),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeFeishu {
            addr,
            state,
            server,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().expect("fake state"))
    }

    pub fn add_task(&self, task: FakeTask) {
        self.with(|s| s.tasks.push(task));
    }

    /// The task is no longer pending for anyone.
    pub fn finish_task(&self, task_id: &str) {
        self.with(|s| s.tasks.retain(|t| t.task_id != task_id));
    }

    pub fn set_token_ttl(&self, ttl: Duration) {
        self.with(|s| s.token_ttl = ttl);
    }

    /// At most `limit` accepted calls to `endpoint` in any sliding `window`.
    pub fn set_rate_limit(&self, endpoint: Endpoint, limit: usize, window: Duration) {
        self.with(|s| s.rate_limits.insert(endpoint, (limit, window)));
    }

    pub fn set_numeric_fields(&self, on: bool) {
        self.with(|s| s.numeric_fields = on);
    }

    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }

    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }

    pub fn expedites(&self) -> Vec<ReceivedExpedite> {
        self.with(|s| s.expedites.clone())
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        self.with(|s| s.calls.clone())
    }

    pub fn calls_to(&self, endpoint: Endpoint) -> Vec<CallRecord> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.endpoint == endpoint)
                .cloned()
                .collect()
        })
    }

    /// Tokens the fake has issued (for checking they never leak into output).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.with(|s| s.tokens.iter().map(|t| t.value.clone()).collect())
    }
}

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
    authorization: Option<String>,
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
        authorization: info.authorization.clone(),
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

fn auth_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn token_handler(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let info = CallInfo {
        at: Instant::now(),
        user: None,
        offset: None,
        task_id: None,
        api_ids: None,
        authorization: auth_header(&headers),
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

async fn query_handler(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
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
        authorization: auth_header(&headers),
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

async fn expedite_handler(
    State(state): State<Shared>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let info = CallInfo {
        at: Instant::now(),
        user: None,
        offset: None,
        task_id: Some(task_id.clone()),
        api_ids: None,
        authorization: auth_header(&headers),
    };
    let after = match gate(&state, Endpoint::Expedite, &info).await {
        Ok(after) => after,
        Err(resp) => return resp,
    };
    let result = answer_expedite(&state, &headers, &task_id, parsed.as_ref());
    if let Some(kind) = after
        && let Some(resp) = misbehave(&state, Endpoint::Expedite, &info, kind).await
    {
        return resp;
    }
    match result {
        Ok(()) => {
            record(&state, Endpoint::Expedite, &info, 200, 0);
            feishu_json(200, 0, "success", Some(json!({})))
        }
        Err((status, code, msg)) => {
            record(&state, Endpoint::Expedite, &info, status, code);
            feishu_json(status, code, &msg, None)
        }
    }
}

fn answer_expedite(
    state: &Shared,
    headers: &HeaderMap,
    task_id: &str,
    body: Option<&Value>,
) -> Result<(), (u16, i64, String)> {
    check_auth(state, headers)?;
    let body = body.ok_or_else(|| param_invalid("body is not JSON"))?;
    let operator = str_field(body, "operator_user_id", true)?.unwrap_or_default();
    if operator.is_empty() {
        return Err(param_invalid("operator_user_id is empty"));
    }
    let opinion = str_field(body, "opinion", false)?;
    let ids: Vec<String> = match body.get("expediting_user_ids") {
        Some(Value::Array(a)) if (1..=20).contains(&a.len()) && a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => return Err(param_invalid("expediting_user_ids must be 1..20 strings")),
    };
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
    Ok(())
}
