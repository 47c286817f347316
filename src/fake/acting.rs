//! The endpoints that act — expediting, cc, chat_group — validated like the platform, with
//! act-then-fail faults: the platform acted, the answer says otherwise.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::domain::CallKind;

use super::handlers::{
    CallInfo, check_auth, feishu_json, gate, misbehave, param_invalid, record, str_field,
};
use super::{
    Endpoint, NOT_APPROVAL_TASK_CODE, ReceivedCc, ReceivedChat, ReceivedExpedite, ReceivedMove,
    Shared, UNKNOWN_USER_CODE,
};

/// The handler of one kind's route.
pub(super) async fn handler(
    kind: CallKind,
    State(state): State<Shared>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let act: Act = match kind {
        CallKind::Expedite => answer_expedite,
        CallKind::Cc => answer_cc,
        CallKind::Chat => answer_chat_group,
        CallKind::Transfer => answer_transfer,
        CallKind::AddAssignee => answer_add_assignee,
    };
    acting(state, Endpoint::Acts(kind), task_id, headers, body, act).await
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

/// A list of 1..=max user id strings at `key` of a move's body.
fn ids_at(body: &Value, key: &str, max: usize) -> Result<Vec<String>, (u16, i64, String)> {
    match body.get(key) {
        Some(Value::Array(a)) if (1..=max).contains(&a.len()) && a.iter().all(Value::is_string) => {
            Ok(a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .filter(|x| !x.is_empty())
                .collect())
        }
        _ => Err(param_invalid(&format!("{key} must be 1..{max} strings"))),
    }
}

/// The checks both moves share: the operator (`user_id`), a pending approval task, people the
/// tenant has.
fn check_move(
    s: &super::FakeState,
    task_id: &str,
    body: &Value,
    people: &[String],
) -> Result<String, (u16, i64, String)> {
    let operator = str_field(body, "user_id", true)?.unwrap_or_default();
    if operator.is_empty() {
        return Err(param_invalid("user_id (the operator) is empty"));
    }
    if !s.tasks.iter().any(|t| t.task_id == task_id) {
        return Err(param_invalid("task is not pending"));
    }
    if s.fill_in.iter().any(|t| t == task_id) {
        return Err((
            400,
            NOT_APPROVAL_TASK_CODE,
            "task is not an approval task".into(),
        ));
    }
    if let Some(who) = people.iter().find(|p| s.unknown_users.contains(p)) {
        return Err((400, UNKNOWN_USER_CODE, format!("user {who} not found")));
    }
    Ok(operator)
}

/// 转交: the `from` handlers leave the task, the `to` people take it.
fn answer_transfer(
    state: &Shared,
    headers: &HeaderMap,
    task_id: &str,
    body: Option<&Value>,
) -> Result<Value, (u16, i64, String)> {
    check_auth(state, headers)?;
    let body = body.ok_or_else(|| param_invalid("body is not JSON"))?;
    let from = ids_at(body, "from_user_ids", 20)?;
    let to = ids_at(body, "to_user_ids", 20)?;
    let opinion = str_field(body, "opinion", false)?;
    let mut s = state.lock().expect("fake state");
    let operator = check_move(&s, task_id, body, &to)?;
    let task = s
        .tasks
        .iter_mut()
        .find(|t| t.task_id == task_id)
        .expect("checked above");
    if let Some(bad) = from.iter().find(|id| !task.assignees.contains(id)) {
        return Err(param_invalid(&format!("{bad} is not a current handler")));
    }
    task.assignees.retain(|a| !from.contains(a));
    for id in &to {
        if !task.assignees.contains(id) {
            task.assignees.push(id.clone());
        }
    }
    s.moves.push(ReceivedMove {
        endpoint: Endpoint::Acts(CallKind::Transfer),
        task_id: task_id.to_owned(),
        user_id: operator,
        from_user_ids: from,
        to_user_ids: to,
        add_assignee_type: None,
        opinion,
        at: Instant::now(),
    });
    Ok(json!({}))
}

/// 加签: the approvers join the task's handlers (in parallel, or after them).
fn answer_add_assignee(
    state: &Shared,
    headers: &HeaderMap,
    task_id: &str,
    body: Option<&Value>,
) -> Result<Value, (u16, i64, String)> {
    check_auth(state, headers)?;
    let body = body.ok_or_else(|| param_invalid("body is not JSON"))?;
    let approvers = ids_at(body, "approvers", 20)?;
    let kind = str_field(body, "add_assignee_type", true)?.unwrap_or_default();
    if kind != "currentAndAddAssign" && kind != "afterAndAddAssign" {
        return Err(param_invalid(&format!(
            "add_assignee_type {kind:?} is not currentAndAddAssign or afterAndAddAssign"
        )));
    }
    let opinion = str_field(body, "opinion", false)?;
    let mut s = state.lock().expect("fake state");
    let operator = check_move(&s, task_id, body, &approvers)?;
    let task = s
        .tasks
        .iter_mut()
        .find(|t| t.task_id == task_id)
        .expect("checked above");
    // Added after the current handlers: they join once those approve (not simulated).
    if kind == "currentAndAddAssign" {
        for id in &approvers {
            if !task.assignees.contains(id) {
                task.assignees.push(id.clone());
            }
        }
    }
    s.moves.push(ReceivedMove {
        endpoint: Endpoint::Acts(CallKind::AddAssignee),
        task_id: task_id.to_owned(),
        user_id: operator,
        from_user_ids: Vec::new(),
        to_user_ids: approvers,
        add_assignee_type: Some(kind),
        opinion,
        at: Instant::now(),
    });
    Ok(json!({}))
}
