//! The teams' editor: a team's document (TOML), a preview of what a draft would change before
//! it is saved, the history with a diff of any two versions, rollback.

use super::*;
use crate::console::teams::{Refused, TeamView};
use crate::documents::{Preview, SaveError};

/// The teams this visitor sees, each with its version.
pub(in crate::console) async fn teams(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
) -> Response {
    let live = &s.ground;
    let scope = s.scope(&v);
    let latest = match live.store.latest_team_versions().await {
        Ok(l) => l,
        Err(e) => return Failure::from(e).page(),
    };
    page(
        &v.lang.t("nav-teams"),
        &v,
        html! {
            p {
                "Each team's own people, rules and digests, edited here by its leads. The \
                config file's [[teams]] entries say who leads; what a team's document says is \
                in force from the next cycle."
            }
            table {
                thead { tr { th { "team" } th { "version" } th { "saved" } th { "by" } th {} } }
                tbody { @for t in live.config.teams.iter().filter(|t| scope.sees_team(&t.name)) {
                    @let l = latest.iter().find(|l| l.team == t.name);
                    tr {
                        td { a href={ "/teams/" (encode(&t.name)) } { (t.name) } }
                        td { (l.map_or("none yet".into(), |l| l.version.to_string())) }
                        td { (l.map(|l| local(live, l.saved_at)).unwrap_or_default()) }
                        td { (l.map(|l| l.author.clone()).unwrap_or_default()) }
                        td { @if scope.leads_team(&t.name) {
                            a href={ "/teams/" (encode(&t.name)) } { "edit" }
                        } }
                    }
                } }
            }
        },
    )
}

#[derive(Deserialize)]
pub(in crate::console) struct VersionQuery {
    version: Option<i64>,
}

pub(in crate::console) async fn team(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(team): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Response {
    match s.team(&v, &team, q.version).await {
        Ok(t) => {
            let draft = t.document.clone();
            editor(&s, &v, &t, &draft, None, None)
        }
        Err(f) => f.page(),
    }
}

#[derive(Deserialize)]
pub(in crate::console) struct DraftForm {
    csrf: Option<String>,
    based_on: Option<i64>,
    document: Option<String>,
    comment: Option<String>,
}

pub(in crate::console) async fn preview_team(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(team): Path<String>,
    Form(form): Form<DraftForm>,
) -> Response {
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    let draft = form.document.unwrap_or_default();
    let t = match s.team(&v, &team, None).await {
        Ok(t) => t,
        Err(f) => return f.page(),
    };
    match s.preview_team(&v, &team, &draft).await {
        Ok(p) => editor(&s, &v, &t, &draft, Some(&p), None),
        Err(Refused::Failure(f)) => f.page(),
        Err(Refused::Save(e)) => editor(&s, &v, &t, &draft, None, Some(&e)),
    }
}

pub(in crate::console) async fn save_team(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(team): Path<String>,
    Form(form): Form<DraftForm>,
) -> Response {
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    let draft = form.document.unwrap_or_default();
    let saved = s
        .save_team(
            &v,
            &team,
            form.based_on.unwrap_or(0),
            &draft,
            form.comment.as_deref().unwrap_or(""),
        )
        .await;
    match saved {
        Ok(_) => Redirect::to(&format!("/teams/{}", encode(&team))).into_response(),
        Err(Refused::Failure(f)) => f.page(),
        Err(Refused::Save(e)) => {
            let t = match s.team(&v, &team, None).await {
                Ok(t) => t,
                Err(f) => return f.page(),
            };
            let mut r = editor(&s, &v, &t, &draft, None, Some(&e));
            *r.status_mut() = match e {
                SaveError::Stale { .. } => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            r
        }
    }
}

#[derive(Deserialize)]
pub(in crate::console) struct RollbackForm {
    csrf: Option<String>,
    based_on: Option<i64>,
    to: Option<i64>,
}

pub(in crate::console) async fn rollback_team(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(team): Path<String>,
    Form(form): Form<RollbackForm>,
) -> Response {
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    let Some(to) = form.to else {
        return Failure::BadField("to".into(), "which version to save again".into()).page();
    };
    match s
        .rollback_team(&v, &team, form.based_on.unwrap_or(0), to)
        .await
    {
        Ok(_) => Redirect::to(&format!("/teams/{}", encode(&team))).into_response(),
        Err(Refused::Failure(f)) => f.page(),
        Err(Refused::Save(e)) => Failure::BadRequest(e.to_string()).page(),
    }
}

#[derive(Deserialize)]
pub(in crate::console) struct DiffQuery {
    from: Option<i64>,
    to: Option<i64>,
}

pub(in crate::console) async fn team_diff(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(team): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Response {
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Failure::BadRequest("say which two versions: ?from=N&to=M".into()).page();
    };
    match s.team_diff(&v, &team, from, to).await {
        Ok(diff) => page(
            &format!("Team {team}: version {from} → {to}"),
            &v,
            html! {
                p { a href={ "/teams/" (encode(&team)) } { "Back to the team" } }
                @if diff.is_empty() { p { "The two versions are the same." } }
                @else { pre.diff { (diff) } }
            },
        ),
        Err(f) => f.page(),
    }
}

/// An RFC 3339 time as the page shows it: to the minute, in the schedule's zone it was made in.
fn minutes(t: &Option<String>) -> String {
    match t.as_deref() {
        Some(t) => t.get(..16).unwrap_or(t).replace('T', " "),
        None => "—".to_owned(),
    }
}

/// The editor page: the version shown, the draft, what the preview found or why a save was
/// refused, the history.
fn editor(
    s: &Services,
    v: &crate::console::visitor::Visitor,
    t: &TeamView,
    draft: &str,
    preview: Option<&Preview>,
    refused: Option<&SaveError>,
) -> Response {
    let live = &s.ground;
    let team = &t.team;
    let latest = t.history.first().map_or(0, |h| h.version);
    let action = |what: &str| format!("/teams/{}{what}", encode(team));
    page(
        &format!("Team {team}"),
        v,
        html! {
            @if let Some(p) = &t.problem {
                p.error.banner { "This team's latest version is not in force — its people are \
                    listed but not reminded: " (p) }
            }
            p {
                @if t.version == 0 { "No document yet: its people and rules are the config \
                    file's. " }
                @else {
                    "Version " strong { (t.version) } @if t.version != latest { " (the latest \
                        is " (latest) ")" }
                    ", saved " (t.saved_at.map(|at| local(live, at)).unwrap_or_default())
                    " by " (t.author.as_deref().unwrap_or("")) ": \
                        " (t.comment.as_deref().unwrap_or("")) ". "
                }
                "The file's [[users]] and [[rules]] keys: users are ids, rules select this \
                team's people; operators, cc and move targets are the team's own people, \
                initiator, or those the admin allows. Digests name a webhook the admin set \
                (webhook = \"NAME\")."
            }
            @if let Some(e) = refused {
                @match e {
                    SaveError::Stale { current, diff, .. } => {
                        p.error {
                            "Not saved: version " (current) " was saved since you started from \
                            an older one. Here is what it changed against your draft; start \
                            again from it."
                        }
                        pre.diff { (diff) }
                    }
                    other => { p.error data-refused="document" { "Not saved: " (other) } }
                }
            }
            @if let Some(p) = preview {
                section.preview {
                    h2 { "Preview" }
                    p { (p.pairs) " pending task assignments of the team; \
                        " strong { (p.changed.len()) } " change." }
                    @if let Some(tick) = &p.next_tick.as_ref().map(|t| minutes(&Some(t.clone()))) {
                        p { "At the next tick (" (tick) "): reminders " (p.reminders_before) " \
                            → " (p.reminders_after)
                            ", escalations " (p.escalations_before) " → \
                                " (p.escalations_after) "." }
                    }
                    @for w in &p.warnings { p.warning { (w) } }
                    @if !p.changed.is_empty() {
                        table.preview {
                            thead { tr {
                                th { "task" } th { "assignee" } th { "rule" } th { "state" }
                                th { "next reminder" }
                            } }
                            tbody { @for r in p.changed.iter().take(500) {
                                tr {
                                    td { a href={ "/tasks/" (encode(&r.task_id)) } { (r.label) } }
                                    td title=(r.assignee_id) { (r.assignee) }
                                    td { (r.before.rule.as_deref().unwrap_or("—")) " → \
                                        " (r.after.rule.as_deref().unwrap_or("—")) }
                                    td {
                                        (v.lang.t(&format!("state-{}", r.before.state))) " → "
                                        (v.lang.t(&format!("state-{}", r.after.state)))
                                    }
                                    td { (minutes(&r.before.next_due)) " → \
                                        " (minutes(&r.after.next_due)) }
                                }
                            } }
                        }
                    }
                }
            }
            @if t.editable {
                form.editor method="post" action=(action("")) {
                    (csrf_field(v))
                    input type="hidden" name="based_on" value=(latest);
                    textarea name="document" rows="24" cols="100" spellcheck="false" { (draft) }
                    label { "Comment (required) \
                        " input type="text" name="comment" maxlength="500"; }
                    button type="submit" formaction=(action("/preview")) { "Preview" }
                    button type="submit" { "Save as version " (latest + 1) }
                }
            } @else {
                pre.document { (draft) }
            }
            h2 { "History" }
            table.history {
                thead { tr { th { "version" } th { "saved" } th { "by" } th { "comment" } th {} } }
                tbody { @for h in &t.history {
                    tr {
                        td { a href={ (action("")) "?version=" (h.version) } { (h.version) } }
                        td { (local(live, h.saved_at)) }
                        td { (h.author) }
                        td { @if let Some(n) = h.restores { "(version " (n) " again) \
                            " } (h.comment) }
                        td {
                            a href={ (action("/diff")) "?from=" (h.version - 1) "&to=" (h.version) } {
                                "diff"
                            }
                            @if h.version != latest {
                                " "
                                a href={ (action("/diff")) "?from=" (h.version) "&to=" (latest) } {
                                    "against the latest"
                                }
                            }
                            @if t.editable && h.version != latest {
                                form.inline method="post" action=(action("/rollback")) {
                                    (csrf_field(v))
                                    input type="hidden" name="based_on" value=(latest);
                                    input type="hidden" name="to" value=(h.version);
                                    button type="submit" { "Roll back to this" }
                                }
                            }
                        }
                    }
                } }
            }
        },
    )
}
