//! The console's pages (maud: every value escaped; no inline script). Each page works without
//! JavaScript; `console.js` keeps the overview current.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::Console;
use super::auth;
use super::data::{self, TaskFilter};
use super::error::Failure;
use super::views::{csrf_field, encode, local, page};
use super::visitor::Visitor;
use crate::commands::silence::{Names, SilenceRequest, check_new};
use crate::domain::opinion::human_duration;
use crate::store::{NewSilence, Silence};

/// The visitor, or the way to `/login` (back here afterwards).
pub(super) async fn signed_in(
    console: &Console,
    headers: &HeaderMap,
    peer: SocketAddr,
    uri: &Uri,
) -> Result<Visitor, Response> {
    match auth::visitor(console, headers, peer).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => {
            let next = uri.path_and_query().map_or("/", |p| p.as_str());
            Err(Redirect::to(&format!("/login?next={}", encode(next))).into_response())
        }
        Err(f) => Err(f.page()),
    }
}

pub(super) async fn not_found() -> Response {
    Failure::NotFound("no such page".into()).page()
}

pub(super) async fn overview(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let live = console.live();
    let o = match data::overview(&console).await {
        Ok(o) => o,
        Err(f) => return f.page(),
    };
    let count = |s: &str| o.counts.get(s).copied().unwrap_or(0);
    page(
        "Overview",
        &v,
        html! {
            section.status data-live="status" {
                p { "This instance is " strong data-field="role" { (o.role) } "."
                    @if let Some(l) = &o.lease {
                        @if o.role == "standby" && !l.expired {
                            " The active one is " strong.holder { (l.holder) } ": it lists, sends and posts; what you record here goes to the shared database."
                        }
                        " Lease: " (l.holder) ", epoch " (l.epoch) ", " @if l.expired { "expired" } @else { "until " (local(&live, l.expires_at)) } "."
                    }
                }
                p { "Last cycle: "
                    span data-field="last_cycle" { @match &o.last_cycle {
                        Some(c) => { (local(&live, c.at)) " — " @if c.ok { "ok: " } @else { "FAILED: " } (c.summary) }
                        None => { "none since this instance started" }
                    } }
                }
                p { "Next tick: " span data-field="next_tick" { (o.next_tick.map(|t| local(&live, t)).unwrap_or_else(|| "never".into())) } }
                @if let Some(h) = o.quota_hold_until {
                    p.error { "Feishu's monthly API quota is used up: calls are held back until " (local(&live, h)) " (or a reload)." }
                }
            }
            section.counts {
                h2 { "Pending: " span data-field="pending" { (o.pending_pairs) } " task assignments" }
                ul.cards {
                    @for (state, label) in [("waiting", "waiting"), ("due", "due now"), ("escalated", "escalated"), ("silenced", "silenced"), ("away", "away"), ("capped", "capped")] {
                        li { a href={ "/tasks?state=" (state) } { span.n data-count=(state) { (count(state)) } " " (label) } }
                    }
                }
            }
            section.two {
                div {
                    h2 { "Most overdue assignees" }
                    table { thead { tr { th { "assignee" } th { "due" } th { "pending" } th { "longest wait" } } }
                        tbody { @for a in &o.assignees {
                            tr { td { a href={ "/tasks?assignee=" (encode(&a.id)) } { (a.name) } } td { (a.due) } td { (a.pending) }
                                 td { (human_duration(std::time::Duration::from_secs(a.oldest_age_seconds))) } }
                        } }
                    }
                }
                div {
                    h2 { "Most overdue rules (flows)" }
                    table { thead { tr { th { "rule" } th { "due" } th { "pending" } th { "longest wait" } } }
                        tbody { @for r in &o.rules {
                            tr { td { a href={ "/tasks?rule=" (encode(&r.id)) } { (r.name) } } td { (r.due) } td { (r.pending) }
                                 td { (human_duration(std::time::Duration::from_secs(r.oldest_age_seconds))) } }
                        } }
                    }
                }
            }
            p.hint { "As of " span data-field="computed_at" { (local(&live, o.computed_at)) } "; this page keeps itself current." }
        },
    )
}

fn task_link(f: &TaskFilter, change: &[(&str, String)]) -> String {
    let mut pairs: Vec<(&str, String)> = [
        ("assignee", f.assignee()),
        ("team", f.team()),
        ("rule", f.rule()),
        ("state", f.state()),
        ("q", f.text()),
        ("sort", f.sort.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v.to_owned())))
    .collect();
    if f.limit.is_some() {
        pairs.push(("limit", f.limit().to_string()));
    }
    for (k, v) in change {
        pairs.retain(|(pk, _)| pk != k);
        pairs.push((k, v.clone()));
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("/tasks?{}", query.join("&"))
}

pub(super) async fn tasks(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Query(f): Query<TaskFilter>,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let live = console.live();
    let config = &live.engine.config;
    let p = match data::task_page(&console, &f).await {
        Ok(p) => p,
        Err(e) => return e.page(),
    };
    let mut teams: Vec<&str> = config
        .users
        .iter()
        .filter_map(|u| u.team.as_deref())
        .collect();
    teams.sort();
    teams.dedup();
    let shown_to = (p.offset + p.entries.len() as i64) as u64;
    page(
        "Tasks",
        &v,
        html! {
            form.filters method="get" action="/tasks" {
                label { "Assignee " select name="assignee" {
                    option value="" { "anyone" }
                    @for u in &config.users { option value=(u.id) selected[f.assignee() == Some(u.id.as_str())] { (u.display_name()) } }
                } }
                label { "Team " select name="team" {
                    option value="" { "any" }
                    @for t in &teams { option value=(t) selected[f.team() == Some(*t)] { (t) } }
                } }
                label { "Rule " select name="rule" {
                    option value="" { "any" }
                    @for r in &config.rules { option value=(r.name) selected[f.rule() == Some(r.name.as_str())] { (r.name) } }
                } }
                label { "State " select name="state" {
                    option value="" { "any" }
                    @for s in data::STATES { option value=(s) selected[f.state() == Some(*s)] { (s) } }
                } }
                label { "Text " input type="search" name="q" value=(f.text().unwrap_or("")) placeholder="label or task id"; }
                @if let Some(s) = f.sort.as_deref() { input type="hidden" name="sort" value=(s); }
                button type="submit" { "Filter" }
                a href="/tasks" { "clear" }
            }
            p.meta { (p.total) " matching; " @if p.total > 0 { "showing " (p.offset + 1) "–" (shown_to) "." } }
            table.tasks {
                thead { tr {
                    th { a href=(task_link(&f, &[("sort", "task".into()), ("offset", "0".into())])) { "task" } }
                    th { "label" }
                    th { a href=(task_link(&f, &[("sort", "assignee".into()), ("offset", "0".into())])) { "assignee" } }
                    th { a href=(task_link(&f, &[("sort", if f.sort() == crate::store::PairSort::Oldest { "newest".into() } else { "oldest".into() }), ("offset", "0".into())])) { "age" } }
                    th { "rule" } th { "sent" } th { "state" } th { "next / why" }
                } }
                tbody {
                    @for e in &p.entries {
                        tr class=(e.status) {
                            td { a href={ "/tasks/" (encode(&e.task_id)) } { (e.task_id) } }
                            td.label { (e.label) }
                            td { (e.assignee) }
                            td { (e.age) }
                            td { (e.rule.as_deref().unwrap_or("—")) }
                            td { (e.expedites_sent) }
                            td { span.state { (e.status) } @if e.escalated_at.is_some() { " " span.state.escalated { "escalated" } } }
                            td.why { (e.why) }
                        }
                    }
                }
            }
            nav.pages {
                @if p.offset > 0 {
                    a href=(task_link(&f, &[("offset", (p.offset - p.limit).max(0).to_string())])) { "← previous" }
                }
                @if shown_to < p.total {
                    a href=(task_link(&f, &[("offset", (p.offset + p.limit).to_string())])) { "next →" }
                }
            }
        },
    )
}

pub(super) async fn task(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path(task_id): Path<String>,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let live = console.live();
    let view = match data::task_view(&live, &task_id).await {
        Ok(Some(view)) => view,
        Ok(None) => return Failure::NotFound(format!("no task {task_id} has been seen")).page(),
        Err(f) => return f.page(),
    };
    let r = &view.record;
    let config = &live.engine.config;
    let name = |id: &str| {
        config
            .users
            .iter()
            .find(|u| u.id == id)
            .map_or(id.to_owned(), |u| u.display_name().to_owned())
    };
    page(
        &format!("Task {}", r.task_id),
        &v,
        html! {
            p.label { (r.label) }
            dl {
                dt { "Initiator" } dd { (r.initiator_name.clone().or(r.initiator_id.clone()).unwrap_or_else(|| "—".into())) }
                dt { "Started" } dd { (r.start_time.map(|t| local(&live, t)).unwrap_or_else(|| "not given by Feishu".into())) }
                dt { "First seen" } dd { (local(&live, r.first_seen)) }
                dt { "Finished" } dd { (match r.finished_at {
                    None => "no: pending".to_owned(),
                    Some(t) if r.moved_away => format!("moved away {} (not known to be done)", local(&live, t)),
                    Some(t) => local(&live, t),
                }) }
            }
            h2 { "Assignees" }
            table {
                thead { tr { th { "assignee" } th { "age" } th { "rule" } th { "sent" } th { "state" } th { "next / why" } } }
                tbody { @for e in &view.entries {
                    tr class=(e.status) { td { (e.assignee) } td { (e.age) } td { (e.rule.as_deref().unwrap_or("—")) }
                        td { (e.expedites_sent) } td { span.state { (e.status) } }
                        td.why { (e.why) } }
                } }
            }
            @let finished: Vec<_> = r.assignments.iter().filter(|a| a.finished_at.is_some()).collect();
            @if !finished.is_empty() {
                p.meta { "No longer pending for: " @for (i, a) in finished.iter().enumerate() {
                    @if i > 0 { ", " } (name(&a.user_id)) @if a.moved_away { " (moved away" } @else { " (since" } " " (a.finished_at.map(|t| local(&live, t)).unwrap_or_default()) ")"
                } }
            }
            h2 { "History" }
            ol.history {
                li { (local(&live, r.first_seen)) " — first seen by a listing" }
                @for c in &r.calls {
                    @let moved = matches!(c.kind.as_str(), "transfer" | "add_assignee");
                    @let refused = c.refused;
                    li.call { (local(&live, c.intent_at)) " — "
                        (match c.kind.as_str() { "expedite" => "reminder", "cc" => "escalated by cc", "chat" => "escalated to a task chat", "transfer" => "transferred", "add_assignee" => "assignee added", k => k })
                        (if moved { " from " } else { " to " }) (c.assignees.iter().map(|(u, n)| if c.kind == "expedite" { format!("{} (#{n})", name(u)) } else { name(u) }).collect::<Vec<_>>().join(", "))
                        @if moved && !c.people.is_empty() { " to " (c.people.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ")) }
                        " by " (name(&c.operator_id)) ", rule " (c.rule) ": " strong { (if refused { "refused" } else { c.outcome.as_str() }) }
                        @if let Some(code) = c.feishu_code { " (Feishu " (code) @if let Some(m) = &c.feishu_msg { ": " (m) } ")" }
                    }
                }
                @for s in &view.silences {
                    li { (local(&live, s.created_at)) " — silenced "
                        (s.user_id.as_deref().map_or("every assignee".to_owned(), name)) " until " (local(&live, s.until))
                        " by " (s.created_by) @if !s.reason.is_empty() { " (" (s.reason) ")" }
                        @if let (Some(at), Some(by)) = (s.ended_at, &s.ended_by) { "; removed " (local(&live, at)) " by " (by) }
                    }
                }
                @if let Some(t) = r.finished_at { li { (local(&live, t)) @if r.moved_away { " — moved away (no watched user has it; not known to be done)" } @else { " — finished" } } }
            }
            @if r.finished_at.is_none() {
                h2 { "Silence it" }
                form.silence method="post" action={ "/tasks/" (encode(&r.task_id)) "/silence" } {
                    (csrf_field(&v))
                    label { "Who " select name="user_id" {
                        option value="" { "every assignee" }
                        @for a in r.assignments.iter().filter(|a| a.finished_at.is_none()) { option value=(a.user_id) { (name(&a.user_id)) } }
                    } }
                    label { "For " input type="text" name="for" placeholder="8h, 3d"; }
                    label { "or until " input type="text" name="until" placeholder="YYYY-MM-DD"; }
                    label { "Reason " input type="text" name="reason" maxlength="500"; }
                    button type="submit" { "Silence" }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub(super) struct SilenceForm {
    csrf: Option<String>,
    user_id: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    until: Option<String>,
    reason: Option<String>,
}

/// Records a silence on behalf of the signed-in person; back to the task.
pub(super) async fn silence_task(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path(task_id): Path<String>,
    Form(form): Form<SilenceForm>,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    let user = form
        .user_id
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    match add_silence(
        &console,
        &v,
        &task_id,
        user,
        form.duration.as_deref(),
        form.until.as_deref(),
        form.reason.as_deref().unwrap_or(""),
    )
    .await
    {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/tasks/{}", encode(&task_id)))],
        )
            .into_response(),
        Err(f) => f.page(),
    }
}

/// The checks of `silence add`, then the silence, recorded as made by `v`.
pub(super) async fn add_silence(
    console: &Console,
    v: &Visitor,
    task_id: &str,
    user: Option<&str>,
    duration: Option<&str>,
    until: Option<&str>,
    reason: &str,
) -> Result<(i64, Option<String>), Failure> {
    let live = console.live();
    let store = &live.engine.store;
    let now = live.engine.clock.now();
    let request = SilenceRequest {
        task: task_id,
        user,
        duration,
        until,
    };
    let checked = check_new(&live.engine.config, store, &request, Names::Api, now)
        .await?
        .map_err(|r| Failure::BadField(r.field.into(), r.message))?;
    let reason: String = reason.trim().chars().take(500).collect();
    let id = store
        .add_silence(
            &NewSilence {
                task_id: &checked.task,
                user_id: checked.user.as_deref(),
                until: checked.until,
                reason: &reason,
                created_by: &v.who,
            },
            now,
        )
        .await?;
    tracing::info!(silence = id, task = %checked.task, by = %v.who, "console: silence added");
    data::invalidate(console);
    Ok((id, checked.warning))
}

#[derive(Deserialize)]
pub(super) struct AllQuery {
    all: Option<String>,
}

impl AllQuery {
    pub(super) fn all(&self) -> bool {
        matches!(self.all.as_deref(), Some("true" | "1" | "yes" | "on"))
    }
}

pub(super) async fn silences(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<AllQuery>,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let live = console.live();
    let now = live.engine.clock.now();
    let list: Vec<Silence> = match live.engine.store.silences(q.all(), now).await {
        Ok(l) => l,
        Err(e) => return Failure::from(e).page(),
    };
    let config = &live.engine.config;
    let name = |id: &str| {
        config
            .users
            .iter()
            .find(|u| u.id == id)
            .map_or(id.to_owned(), |u| u.display_name().to_owned())
    };
    page(
        "Silences",
        &v,
        html! {
            p { @if q.all() { "Every silence. " a href="/silences" { "Only the active ones" } } @else { "The active silences. " a href="/silences?all=true" { "Every silence, past ones too" } } }
            table.silences {
                thead { tr { th { "id" } th { "task" } th { "who" } th { "until" } th { "reason" } th { "made by" } th { "removed" } th {} } }
                tbody { @for s in &list {
                    @let active = s.ended_at.is_none() && s.until > now;
                    tr {
                        td { (s.id) }
                        td { a href={ "/tasks/" (encode(&s.task_id)) } { (s.task_id) } " " span.label { (s.label.as_deref().unwrap_or("")) } }
                        td { (s.user_id.as_deref().map_or("every assignee".to_owned(), name)) }
                        td { (local(&live, s.until)) }
                        td { (s.reason) }
                        td { (s.created_by) ", " (local(&live, s.created_at)) }
                        td { @if let Some(at) = s.ended_at { (local(&live, at)) " by " (s.ended_by.as_deref().unwrap_or("someone")) } @else if !active { "ran out" } }
                        td { @if active {
                            form method="post" action={ "/silences/" (s.id) "/remove" } {
                                (csrf_field(&v))
                                button type="submit" { "Remove" }
                            }
                        } }
                    }
                } }
            }
        },
    )
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: Option<String>,
}

pub(super) async fn remove_silence(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    let live = console.live();
    let now = live.engine.clock.now();
    match live.engine.store.end_silence(id, &v.who, now).await {
        Ok(Some(s)) if s.ended_at.is_none() && s.until > now => {
            tracing::info!(silence = id, by = %v.who, "console: silence removed");
            data::invalidate(&console);
            Redirect::to("/silences").into_response()
        }
        // Removed by someone else meanwhile, or run out: the whole list says so.
        Ok(Some(_)) => Redirect::to("/silences?all=true").into_response(),
        Ok(None) => Failure::NotFound(format!("no silence {id}")).page(),
        Err(e) => Failure::from(e).page(),
    }
}

#[derive(Deserialize)]
pub(super) struct ReportQuery {
    since: Option<String>,
    by: Option<String>,
}

pub(super) async fn report(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ReportQuery>,
) -> Response {
    use crate::domain::report::GroupBy;
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let live = console.live();
    let since_text = q
        .since
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("30d");
    let Some(window) = humantime::parse_duration(since_text)
        .ok()
        .filter(|w| *w <= std::time::Duration::from_secs(400 * 86_400))
    else {
        return Failure::BadField(
            "since".into(),
            format!("since \"{since_text}\" is not a duration up to 400d; write it like 7d or 30d"),
        )
        .page();
    };
    let by = match q.by.as_deref().unwrap_or("rule") {
        "rule" => GroupBy::Rule,
        "team" => GroupBy::Team,
        "user" => GroupBy::User,
        other => {
            return Failure::BadField(
                "by".into(),
                format!("by \"{other}\" is not one of rule, team, user"),
            )
            .page();
        }
    };
    let now = live.engine.clock.now();
    let Some(since) = chrono::TimeDelta::from_std(window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
    else {
        return Failure::BadField(
            "since".into(),
            format!("since \"{since_text}\" is too long"),
        )
        .page();
    };
    // The window's calls from the database; the pending pairs from the index.
    let sent = match live.engine.store.sent_since(since).await {
        Ok(s) => s,
        Err(e) => return Failure::from(e).page(),
    };
    let pending = match data::report_pending(&console).await {
        Ok(p) => p,
        Err(f) => return f.page(),
    };
    let body =
        crate::commands::report::body_with(&live.engine.config, by, since, now, &sent, &pending);
    let by_name = q.by.as_deref().unwrap_or("rule");
    page(
        "Report",
        &v,
        html! {
            form.filters method="get" action="/report" {
                label { "Over the last " input type="text" name="since" value=(since_text) size="5"; }
                label { "by " select name="by" {
                    @for b in ["rule", "team", "user"] { option value=(b) selected[by_name == b] { (b) } }
                } }
                button type="submit" { "Show" }
            }
            div.report { (body) }
        },
    )
}

pub(super) async fn rules(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let live = console.live();
    let o = match data::overview(&console).await {
        Ok(o) => o,
        Err(f) => return f.page(),
    };
    let now = live.engine.clock.now();
    let words = crate::commands::describe_config(&live.engine.config, now);
    page(
        "Rules",
        &v,
        html! {
            h2 { "What each rule holds now" }
            table {
                thead { tr { th { "rule" } th { "pending" } th { "due now" } th { "longest wait" } th {} } }
                tbody {
                    @for r in &live.engine.config.rules {
                        @let held = o.rules.iter().find(|x| x.id == r.name);
                        tr { td { (r.name) } td { (held.map_or(0, |h| h.pending)) } td { (held.map_or(0, |h| h.due)) }
                             td { (held.map_or("—".into(), |h| human_duration(std::time::Duration::from_secs(h.oldest_age_seconds)))) }
                             td { a href={ "/tasks?rule=" (encode(&r.name)) "&sort=oldest" } { "its tasks, next due first" } } }
                    }
                }
            }
            h2 { "The rules in plain words" }
            pre.check { (words) }
        },
    )
}

/// Records an away window on behalf of `v`, after the checks of `away add`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn add_away_window(
    console: &Console,
    v: &Visitor,
    user: &str,
    duration: Option<&str>,
    until: Option<&str>,
    from: Option<&str>,
    deputy: Option<&str>,
    reason: &str,
) -> Result<i64, Failure> {
    use crate::commands::away::{AwayRequest, check_new};
    let live = console.live();
    let now = live.engine.clock.now();
    let req = AwayRequest {
        user,
        duration,
        until,
        from,
        deputy,
    };
    let (user, from, until, deputy) = check_new(&live.engine.config, &req, Names::Api, now)
        .map_err(|(field, message)| Failure::BadField(field.into(), message))?;
    let reason: String = reason.trim().chars().take(500).collect();
    let id = live
        .engine
        .store
        .add_away(
            &crate::store::NewAway {
                user_id: &user,
                from,
                until,
                deputy: deputy.as_deref(),
                reason: &reason,
                created_by: &v.who,
            },
            now,
        )
        .await?;
    tracing::info!(away = id, user = %user, by = %v.who, "console: away window added");
    data::invalidate(console);
    Ok(id)
}

/// Ends an away window on behalf of `v`: `Ok(true)` if this ended it.
pub(super) async fn end_away_window(
    console: &Console,
    v: &Visitor,
    id: i64,
) -> Result<bool, Failure> {
    let live = console.live();
    let now = live.engine.clock.now();
    match live.engine.store.end_away(id, &v.who, now).await? {
        None => Err(Failure::NotFound(format!("no away window {id}"))),
        Some(a) if a.ended_at.is_none() && a.until > now => {
            tracing::info!(away = id, by = %v.who, "console: away window removed");
            data::invalidate(console);
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}

pub(super) async fn away(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<AllQuery>,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let live = console.live();
    let now = live.engine.clock.now();
    let list = match live.engine.store.away_windows(q.all(), now).await {
        Ok(l) => l,
        Err(e) => return Failure::from(e).page(),
    };
    let config = &live.engine.config;
    let name = |id: &str| {
        config
            .users
            .iter()
            .find(|u| u.id == id)
            .map_or(id.to_owned(), |u| u.display_name().to_owned())
    };
    page(
        "Away",
        &v,
        html! {
            p { "While someone is away nothing reminds or escalates to them; when the window ends, what is due goes once. "
                @match config.away.deputy_action.kind() {
                    Some(crate::domain::CallKind::AddAssignee) => "Each of their tasks that falls due meanwhile gets the deputy added beside them (add_assignee), once. ",
                    Some(_) => "Each of their tasks that falls due meanwhile is transferred to the deputy, once. ",
                    None => "",
                }
                @if q.all() { a href="/away" { "Only current and coming ones" } } @else { a href="/away?all=true" { "Past ones too" } } }
            table.away {
                thead { tr { th { "id" } th { "who" } th { "from" } th { "until" } th { "deputy" } th { "reason" } th { "made by" } th { "removed" } th {} } }
                tbody { @for a in &list {
                    @let open = a.ended_at.is_none() && a.until > now;
                    tr {
                        td { (a.id) }
                        td { (name(&a.user_id)) }
                        td { (local(&live, a.from)) }
                        td { (local(&live, a.until)) }
                        td { (a.deputy.as_deref().map(name).unwrap_or_else(|| "—".into())) }
                        td { (a.reason) }
                        td { (a.created_by) }
                        td { @if let Some(at) = a.ended_at { (local(&live, at)) " by " (a.ended_by.as_deref().unwrap_or("someone")) } @else if !open { "over" } }
                        td { @if open {
                            form method="post" action={ "/away/" (a.id) "/remove" } {
                                (csrf_field(&v))
                                button type="submit" { "Remove" }
                            }
                        } }
                    }
                } }
            }
            h2 { "Mark someone away" }
            form.silence method="post" action="/away" {
                (csrf_field(&v))
                label { "Who " select name="user_id" {
                    @for u in &config.users { option value=(u.id) { (u.display_name()) } }
                } }
                label { "From " input type="text" name="from" placeholder="now, or YYYY-MM-DD"; }
                label { "For " input type="text" name="for" placeholder="3d, 2w"; }
                label { "or until " input type="text" name="until" placeholder="YYYY-MM-DD"; }
                label { "Deputy " select name="deputy" {
                    option value="" { "none" }
                    @for u in &config.users { option value=(u.id) { (u.display_name()) } }
                } }
                label { "Reason " input type="text" name="reason" maxlength="500"; }
                button type="submit" { "Save" }
            }
        },
    )
}

#[derive(Deserialize)]
pub(super) struct AwayForm {
    csrf: Option<String>,
    user_id: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    until: Option<String>,
    from: Option<String>,
    deputy: Option<String>,
    reason: Option<String>,
}

pub(super) async fn add_away(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<AwayForm>,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    match add_away_window(
        &console,
        &v,
        form.user_id.as_deref().unwrap_or(""),
        form.duration.as_deref(),
        form.until.as_deref(),
        form.from.as_deref(),
        form.deputy.as_deref(),
        form.reason.as_deref().unwrap_or(""),
    )
    .await
    {
        Ok(_) => Redirect::to("/away").into_response(),
        Err(f) => f.page(),
    }
}

pub(super) async fn remove_away(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let v = match signed_in(&console, &headers, peer, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    match end_away_window(&console, &v, id).await {
        Ok(true) => Redirect::to("/away").into_response(),
        Ok(false) => Redirect::to("/away?all=true").into_response(),
        Err(f) => f.page(),
    }
}
