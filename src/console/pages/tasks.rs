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
    match lang {
        crate::i18n::Lang::En => e.why.clone(),
        crate::i18n::Lang::Zh => e.status.words(lang, tz),
    }
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
                            td { (e.age) }
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
    let lang = v.lang;
    let t = |key: &str| lang.t(key);
    page(
        &lang.with("task-title", &[("id", r.task_id.as_str().into())]),
        &v,
        html! {
            p.label { (r.label) }
            dl {
                dt { "Initiator" } dd { (r.initiator_name.clone().or(r.initiator_id.clone()).unwrap_or_else(|| "—".into())) }
                dt { "Started" } dd { (r.start_time.map(|t| local(live, t)).unwrap_or_else(|| "not given by Feishu".into())) }
                dt { "First seen" } dd { (local(live, r.first_seen)) }
                dt { "Finished" } dd { (match r.finished_at {
                    None => "no: pending".to_owned(),
                    Some(t) if r.moved_away => format!("moved away {} (not known to be done)", local(live, t)),
                    Some(t) => local(live, t),
                }) }
            }
            h2 { (t("task-assignees")) }
            table {
                thead { tr {
                    th { (t("col-assignee")) } th { (t("col-age")) } th { (t("col-rule")) }
                    th { (t("col-sent")) } th { (t("col-state")) } th { (t("col-next-why")) }
                } }
                tbody { @for e in &view.entries {
                    tr class=(e.status) { td { (e.assignee) } td { (e.age) } td { (e.rule.as_deref().unwrap_or("—")) }
                        td { (e.expedites_sent) }
                        td { span.state title=(e.status.as_str()) { (lang.t(&format!("state-{}", e.status.as_str()))) } }
                        td.why { (why(e, lang, config.schedule.timezone)) } }
                } }
            }
            @let finished: Vec<_> = r.assignments.iter().filter(|a| a.finished_at.is_some()).collect();
            @if !finished.is_empty() {
                p.meta { "No longer pending for: " @for (i, a) in finished.iter().enumerate() {
                    @if i > 0 { ", " } (name(&a.user_id)) @if a.moved_away { " (moved away" } @else { " (since" } " " (a.finished_at.map(|t| local(live, t)).unwrap_or_default()) ")"
                } }
            }
            h2 { (t("task-history")) }
            ol.history {
                li { (local(live, r.first_seen)) " — first seen by a listing" }
                @for c in &r.calls {
                    @let family = crate::domain::family_of(&c.kind);
                    @let moved = family == Some(crate::domain::Family::Move);
                    @let refused = c.refused;
                    li.call { (local(live, c.intent_at)) " — "
                        (crate::domain::CallKind::parse(&c.kind).map_or(c.kind.as_str(), |k| k.words()))
                        (if moved { " from " } else { " to " }) (c.assignees.iter().map(|(u, n)| if family == Some(crate::domain::Family::Reminder) { format!("{} (#{n})", name(u)) } else { name(u) }).collect::<Vec<_>>().join(", "))
                        @if moved && !c.people.is_empty() { " to " (c.people.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ")) }
                        " by " span title=(c.operator_id) { (name(&c.operator_id)) }
                        ", rule " (c.rule) ": " strong { (if refused { "refused" } else { c.outcome.as_str() }) }
                        @if let Some(code) = c.feishu_code { " (Feishu " (code) @if let Some(m) = &c.feishu_msg { ": " (m) } ")" }
                    }
                }
                @for s in &view.silences {
                    li { (local(live, s.created_at)) " — silenced "
                        (s.user_id.as_deref().map_or("every assignee".to_owned(), name)) " until " (local(live, s.until))
                        " by " (s.created_by) @if !s.reason.is_empty() { " (" (s.reason) ")" }
                        @if let (Some(at), Some(by)) = (s.ended_at, &s.ended_by) { "; removed " (local(live, at)) " by " (by) }
                    }
                }
                @if let Some(t) = r.finished_at { li { (local(live, t)) @if r.moved_away { " — moved away (no watched user has it; not known to be done)" } @else { " — finished" } } }
            }
            @if r.finished_at.is_none() && !theirs.is_empty() {
                h2 { (t("task-silence")) }
                form.silence method="post" action={ "/tasks/" (encode(&r.task_id)) "/silence" } {
                    (csrf_field(&v))
                    label { "Who " select name="user_id" {
                        @if whole { option value="" { "every assignee" } }
                        @for u in &theirs { option value=(u) { (name(u)) } }
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
