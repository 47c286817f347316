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
    let t = |key: &str| v.lang.t(key);
    page(
        &t("nav-teams"),
        &v,
        html! {
            p { (t("teams-intro")) }
            table {
                thead { tr { th { (t("col-team")) } th { (t("col-version")) } th { (t("col-saved")) } th { (t("col-by")) } th {} } }
                tbody { @for team in live.config.teams.iter().filter(|team| scope.sees_team(&team.name)) {
                    @let l = latest.iter().find(|l| l.team == team.name);
                    tr {
                        td { a href={ "/teams/" (encode(&team.name)) } { (team.name) } }
                        td { (l.map_or(t("teams-none-yet"), |l| l.version.to_string())) }
                        td { (l.map(|l| local(live, l.saved_at)).unwrap_or_default()) }
                        td { (l.map(|l| l.author.clone()).unwrap_or_default()) }
                        td { @if scope.leads_team(&team.name) {
                            a href={ "/teams/" (encode(&team.name)) } { (t("teams-edit")) }
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
            &v.lang.with(
                "team-diff-title",
                &[
                    ("team", team.as_str().into()),
                    ("from", from.into()),
                    ("to", to.into()),
                ],
            ),
            &v,
            html! {
                p { a href={ "/teams/" (encode(&team)) } { (v.lang.t("team-back")) } }
                @if diff.is_empty() { p { (v.lang.t("team-same")) } }
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
    let lang = v.lang;
    let w = |key: &str| lang.t(key);
    page(
        &lang.with("team-title", &[("team", team.as_str().into())]),
        v,
        html! {
            @if let Some(p) = &t.problem {
                p.error.banner { (w("team-not-in-force")) " " (p) }
            }
            p {
                @if t.version == 0 { (w("team-no-document")) " " }
                @else {
                    strong { (lang.with("team-version", &[("version", t.version.into())])) }
                    @if t.version != latest { " " (lang.with("team-latest-is", &[("latest", latest.into())])) }
                    (lang.with("team-saved-by", &[
                        ("at", t.saved_at.map(|at| local(live, at)).unwrap_or_default().into()),
                        ("by", t.author.as_deref().unwrap_or("").into()),
                    ]))
                    " " (t.comment.as_deref().unwrap_or(""))
                }
            }
            p.hint { (w("team-keys")) }
            @if let Some(e) = refused {
                @match e {
                    SaveError::Stale { current, diff, .. } => {
                        p.error { (lang.with("team-stale", &[("current", (*current).into())])) }
                        pre.diff { (diff) }
                    }
                    other => { p.error data-refused="document" { (w("team-not-saved")) " " (other) } }
                }
            }
            @if let Some(p) = preview {
                section.preview {
                    h2 { (w("team-preview")) }
                    p { (lang.with("team-preview-pairs", &[("pairs", p.pairs.into()), ("changed", p.changed.len().into())])) }
                    @if let Some(tick) = &p.next_tick.as_ref().map(|t| minutes(&Some(t.clone()))) {
                        p { (lang.with("team-preview-tick", &[
                            ("tick", tick.as_str().into()),
                            ("rb", p.reminders_before.into()), ("ra", p.reminders_after.into()),
                            ("eb", p.escalations_before.into()), ("ea", p.escalations_after.into()),
                        ])) }
                    }
                    @for w in &p.warnings { p.warning { (w) } }
                    @if !p.changed.is_empty() {
                        table.preview {
                            thead { tr {
                                th { (w("col-task")) } th { (w("col-assignee")) } th { (w("col-rule")) }
                                th { (w("col-state")) } th { (w("col-next-reminder")) }
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
                    label { (w("team-comment")) " " input type="text" name="comment" maxlength="500"; }
                    button type="submit" formaction=(action("/preview")) { (w("team-preview")) }
                    button type="submit" { (lang.with("team-save-as", &[("version", (latest + 1).into())])) }
                }
            } @else {
                pre.document { (draft) }
            }
            h2 { (w("task-history")) }
            table.history {
                thead { tr { th { (w("col-version")) } th { (w("col-saved")) } th { (w("col-by")) } th { (w("col-comment")) } th {} } }
                tbody { @for h in &t.history {
                    tr {
                        td { a href={ (action("")) "?version=" (h.version) } { (h.version) } }
                        td { (local(live, h.saved_at)) }
                        td { (h.author) }
                        td { @if let Some(n) = h.restores { (lang.with("team-restores", &[("version", n.into())])) " " } (h.comment) }
                        td {
                            a href={ (action("/diff")) "?from=" (h.version - 1) "&to=" (h.version) } {
                                (w("team-diff"))
                            }
                            @if h.version != latest {
                                " "
                                a href={ (action("/diff")) "?from=" (h.version) "&to=" (latest) } {
                                    (w("team-against-latest"))
                                }
                            }
                            @if t.editable && h.version != latest {
                                form.inline method="post" action=(action("/rollback")) {
                                    (csrf_field(v))
                                    input type="hidden" name="based_on" value=(latest);
                                    input type="hidden" name="to" value=(h.version);
                                    button type="submit" { (w("team-roll-back")) }
                                }
                            }
                        }
                    }
                } }
            }
        },
    )
}
