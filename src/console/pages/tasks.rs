//! The task list and one task, with its silence form.

use super::*;

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

/// The "why" a reader gets: in English the planner's full account; in Chinese the state's
/// plain words (the account's details are in English only, for now).
fn why(e: &crate::plan::PlanEntry, lang: crate::i18n::Lang, tz: chrono_tz::Tz) -> String {
    e.why_in(lang, tz)
}

pub(in crate::console) async fn tasks(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Query(f): Query<TaskFilter>,
) -> Response {
    let live = &s.ground;
    let config = &live.config;
    let p = match s.tasks(&v, &f).await {
        Ok(p) => p,
        Err(e) => return e.page(),
    };
    let scope = s.scope(&v);
    let mut teams: Vec<&str> = config
        .users
        .iter()
        .filter_map(|u| u.team.as_deref())
        .filter(|t| scope.sees_team(t))
        .collect();
    let people: Vec<&crate::config::User> =
        config.users.iter().filter(|u| scope.sees(&u.id)).collect();
    teams.sort();
    teams.dedup();
    let shown_to = (p.offset + p.entries.len() as i64) as u64;
    let lang = v.lang;
    let t = |key: &str| lang.t(key);
    let state = |code: &str| lang.t(&format!("state-{code}"));
    page(
        &t("nav-tasks"),
        &v,
        html! {
            form.filters method="get" action="/tasks" {
                label { (t("filter-assignee")) " " select name="assignee" {
                    option value="" { (t("filter-anyone")) }
                    @for u in &people {
                        option value=(u.id) selected[f.assignee() == Some(u.id.as_str())] {
                            (u.display_name())
                        }
                    }
                } }
                label { (t("filter-team")) " " select name="team" {
                    option value="" { (t("filter-any")) }
                    @for t in &teams { option value=(t) selected[f.team() == Some(*t)] { (t) } }
                } }
                label { (t("filter-rule")) " " select name="rule" {
                    option value="" { (t("filter-any")) }
                    @for r in scope.rules(config) {
                        option value=(r.name) selected[f.rule() == Some(r.name.as_str())] {
                            (r.name)
                        }
                    }
                } }
                label { (t("filter-state")) " " select name="state" {
                    option value="" { (t("filter-any")) }
                    @for s in data::states() {
                        option value=(s) selected[f.state() == Some(s)] { (state(s)) }
                    }
                } }
                label { (t("filter-text")) " " input type="search" name="q" value=(f.text().unwrap_or("")) placeholder="label or task id"; }
                @if let Some(s) = f.sort.as_deref() { input type="hidden" name="sort" value=(s); }
                button type="submit" { (t("filter-go")) }
                a href="/tasks" { (t("filter-clear")) }
            }
            p.meta { (lang.n("tasks-matching", p.total)) "; " @if p.total > 0 { "showing " (p.offset + 1) "–" (shown_to) "." } }
            table.tasks {
                thead { tr {
                    th { a href=(task_link(&f, &[("sort", "task".into()), ("offset", "0".into())])) { (t("col-task")) } }
                    th { (t("col-label")) }
                    th { a href=(task_link(&f, &[("sort", "assignee".into()), ("offset", "0".into())])) { (t("col-assignee")) } }
                    th { a href=(task_link(&f, &[("sort", if f.sort() == crate::store::PairSort::Oldest { "newest".into() } else { "oldest".into() }), ("offset", "0".into())])) { (t("col-age")) } }
                    th { (t("col-rule")) } th { (t("col-sent")) } th { (t("col-state")) }
                    th { (t("col-next-why")) }
                } }
                tbody {
                    @for e in &p.entries {
                        tr class=(e.status) {
                            td { a href={ "/tasks/" (encode(&e.task_id)) } { (e.task_id) } }
                            td.label { (e.label) }
                            td { (e.assignee) }
                            td { (lang.age(std::time::Duration::from_secs(e.age_seconds))) }
                            td { (e.rule.as_deref().unwrap_or("—")) }
                            td { (e.expedites_sent) }
                            td {
                                span.state title=(e.status.as_str()) { (state(e.status.as_str())) }
                                @if e.escalated_at.is_some() {
                                    " " span.state.escalated { (state("escalated")) }
                                }
                            }
                            td.why { (why(e, lang, config.schedule.timezone)) }
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

pub(in crate::console) async fn task(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(task_id): Path<String>,
) -> Response {
    let live = &s.ground;
    let view = match s.task(&v, &task_id).await {
        Ok(Some(view)) => view,
        Ok(None) => return Failure::NotFound(format!("no task {task_id} has been seen")).page(),
        Err(f) => return f.page(),
    };
    let r = &view.record;
    let config = &live.config;
    // Whom this visitor may silence here: their team's pending assignees; every assignee at
    // once only when each is theirs.
    let scope = s.scope(&v);
    let pending: Vec<&str> = r
        .assignments
        .iter()
        .filter(|a| a.finished_at.is_none())
        .map(|a| a.user_id.as_str())
        .collect();
    let theirs: Vec<&str> = pending
        .iter()
        .copied()
        .filter(|u| scope.acts_for(u))
        .collect();
    let whole = !pending.is_empty() && theirs.len() == pending.len();
    // A watched user's name, or the operator_name given beside an operator's id.
    let name = |id: &str| config.person_name(id).unwrap_or(id).to_owned();
    // A person by name where one is known, the id on hover.
    let named = |id: &str| person(Some(id), config.person_name(id));
    let lang = v.lang;
    let t = |key: &str| lang.t(key);
    page(
        &lang.with("task-title", &[("id", r.task_id.as_str().into())]),
        &v,
        html! {
            p.label { (r.label) }
            dl {
                dt { (t("task-initiator")) } dd { (person(r.initiator_id.as_deref(), r.initiator_name.as_deref())) }
                dt { (t("task-started")) } dd { (r.start_time.map(|t| local(live, t)).unwrap_or_else(|| t("task-not-given"))) }
                dt { (t("task-first-seen")) } dd { (local(live, r.first_seen)) }
                dt { (t("task-finished")) } dd { (match r.finished_at {
                    None => t("task-pending"),
                    Some(at) if r.moved_away => lang.with("task-moved-away-at", &[("at", local(live, at).into())]),
                    Some(at) => local(live, at),
                }) }
            }
            h2 { (t("task-assignees")) }
            table {
                thead { tr {
                    th { (t("col-assignee")) } th { (t("col-age")) } th { (t("col-rule")) }
                    th { (t("col-sent")) } th { (t("col-state")) } th { (t("col-next-why")) }
                } }
                tbody { @for e in &view.entries {
                    tr class=(e.status) { td { (e.assignee) } td { (lang.age(std::time::Duration::from_secs(e.age_seconds))) } td { (e.rule.as_deref().unwrap_or("—")) }
                        td { (e.expedites_sent) }
                        td { span.state title=(e.status.as_str()) { (lang.t(&format!("state-{}", e.status.as_str()))) } }
                        td.why { (why(e, lang, config.schedule.timezone)) } }
                } }
            }
            @let finished: Vec<_> = r.assignments.iter().filter(|a| a.finished_at.is_some()).collect();
            @if !finished.is_empty() {
                p.meta { (t("task-no-longer-pending")) " " @for (i, a) in finished.iter().enumerate() {
                    @if i > 0 { ", " } (named(&a.user_id)) " ("
                    (lang.with(if a.moved_away { "task-moved-since" } else { "task-since" },
                        &[("at", a.finished_at.map(|at| local(live, at)).unwrap_or_default().into())])) ")"
                } }
            }
            h2 { (t("task-history")) }
            ol.history {
                li { (local(live, r.first_seen)) " — " (t("history-first-seen")) }
                @for c in &r.calls {
                    li.call { (local(live, c.intent_at)) " — " (call_words(c, lang, &name))
                        (t("history-by")) " " (named(&c.operator_id))
                        (lang.with("history-rule", &[("rule", c.rule.as_str().into())])) ": "
                        strong { (t(&format!("outcome-{}", if c.refused { "refused" } else { c.outcome.as_str() }))) }
                        @if let Some(code) = c.feishu_code { " (" (t("history-feishu")) " " (code) @if let Some(m) = &c.feishu_msg { ": " (m) } ")" }
                    }
                }
                @for s in &view.silences {
                    li { (local(live, s.created_at)) " — "
                        (lang.with("history-silenced", &[
                            ("who", s.user_id.as_deref().map_or(t("every-assignee"), name).into()),
                            ("until", local(live, s.until).into()),
                            ("by", s.created_by.as_str().into()),
                        ]))
                        @if !s.reason.is_empty() { " (" (s.reason) ")" }
                        @if let (Some(at), Some(by)) = (s.ended_at, &s.ended_by) {
                            (lang.with("history-removed", &[("at", local(live, at).into()), ("by", by.as_str().into())]))
                        }
                    }
                }
                @if let Some(at) = r.finished_at { li { (local(live, at)) " — " (t(if r.moved_away { "history-moved-away" } else { "history-finished" })) } }
            }
            @if r.finished_at.is_none() && !theirs.is_empty() {
                h2 { (t("task-silence")) }
                form.silence method="post" action={ "/tasks/" (encode(&r.task_id)) "/silence" } {
                    (csrf_field(&v))
                    label { (t("form-who")) " " select name="user_id" {
                        @if whole { option value="" { (t("every-assignee")) } }
                        @for u in &theirs { option value=(u) { (name(u)) } }
                    } }
                    label { (t("form-for")) " " input type="text" name="for" placeholder="8h, 3d"; }
                    label { (t("form-or-until")) " " input type="text" name="until" placeholder="YYYY-MM-DD"; }
                    label { (t("form-reason")) " " input type="text" name="reason" maxlength="500"; }
                    button type="submit" { (t("form-silence")) }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub(in crate::console) struct SilenceForm {
    csrf: Option<String>,
    user_id: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    until: Option<String>,
    reason: Option<String>,
    /// `/`: back to the overview (its "needs you" list) instead of the task.
    next: Option<String>,
}

/// Records a silence on behalf of the signed-in person; back to the task (or the overview).
pub(in crate::console) async fn silence_task(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(task_id): Path<String>,
    Form(form): Form<SilenceForm>,
) -> Response {
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    let user = form
        .user_id
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    match s
        .add_silence(
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
            [(
                header::LOCATION,
                match form.next.as_deref() {
                    Some("/") => "/".to_owned(),
                    _ => format!("/tasks/{}", encode(&task_id)),
                },
            )],
        )
            .into_response(),
        Err(f) => f.page(),
    }
}

/// A person by name where one is known, with the id on hover; the id alone otherwise.
fn person(id: Option<&str>, name: Option<&str>) -> Markup {
    match (id, name) {
        (Some(id), Some(name)) if name != id => html! { span title=(id) { (name) } },
        (_, Some(name)) => html! { (name) },
        (Some(id), None) => html! { (id) },
        (None, None) => html! { "—" },
    }
}

/// A call in the task's history, in the reader's words: whom it reminded, who was copied or
/// invited about whom, where a move took the task.
fn call_words(c: &crate::store::CallRecord, lang: Lang, name: &dyn Fn(&str) -> String) -> String {
    use crate::domain::CallKind;
    let list = |ids: &mut dyn Iterator<Item = String>| {
        ids.collect::<Vec<_>>()
            .join(if lang == Lang::Zh { "、" } else { ", " })
    };
    let people = list(&mut c.people.iter().map(|p| name(p)));
    let Some(kind) = CallKind::parse(&c.kind) else {
        return c.kind.clone();
    };
    let who = match kind {
        CallKind::Expedite => list(
            &mut c
                .assignees
                .iter()
                .map(|(u, n)| format!("{} (#{n})", name(u))),
        ),
        _ => list(&mut c.assignees.iter().map(|(u, _)| name(u))),
    };
    let key = match kind {
        CallKind::Expedite => "history-reminder",
        CallKind::Cc => "history-cc",
        CallKind::Chat => "history-chat",
        CallKind::Transfer => "history-transfer",
        CallKind::AddAssignee => "history-add",
    };
    lang.with(key, &[("who", who.into()), ("people", people.into())])
}
