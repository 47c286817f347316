//! The console's pages (maud: every value escaped; no inline script), one file per part of the
//! console. Each page works without JavaScript; `console.js` keeps the overview current. Pages
//! parse, call the data and the services, and render.

use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::PageVisitor;
use super::data::{self, TaskFilter};
use super::error::Failure;
use super::services::Services;
use super::views::{csrf_field, encode, local, page};
use crate::i18n::Lang;
use crate::store::Silence;

mod audit;
mod away;
mod digests;
mod report;
mod silences;
mod tasks;
mod teams;

pub(super) use audit::audit;
pub(super) use away::{add_away, away, remove_away};
pub(super) use digests::digest_card;
pub(super) use report::report;
pub(super) use silences::{AllQuery, CsrfForm, remove_silence, silences};
pub(super) use tasks::{silence_task, task, tasks};
pub(super) use teams::{preview_team, rollback_team, save_team, team, team_diff, teams};

pub(super) async fn not_found() -> Response {
    Failure::NotFound("no such page".into()).page()
}

pub(super) async fn overview(State(s): State<Services>, PageVisitor(v): PageVisitor) -> Response {
    let live = &s.ground;
    let o = match s.overview(&v).await {
        Ok(o) => o,
        Err(f) => return f.page(),
    };
    let count = |s: &str| o.counts.get(s).copied().unwrap_or(0);
    let scope = s.scope(&v);
    let lang = v.lang;
    let t = |key: &str| lang.t(key);
    page(
        &t("nav-overview"),
        &v,
        html! {
            @for (team, version, problem) in live.config.document_problems() {
                @if scope.sees_team(team) {
                    p.error.banner {
                        "Team " a href={ "/teams/" (encode(team)) } { (team) } "'s version "
                        (version) " is not in force — its people are listed but not reminded: "
                        (problem)
                    }
                }
            }
            section.status data-live="status" {
                p { (t("overview-instance")) " " strong { (t(&format!("role-{}", o.role))) } "."
                    @if let Some(l) = &o.lease {
                        @if o.role == "standby" && !l.expired {
                            " The active one is " strong.holder { (l.holder) } ": it lists, sends and posts; what you record here goes to the shared database."
                        }
                        " Lease: " (l.holder) ", epoch " (l.epoch) ", " @if l.expired { "expired" } @else { "until " (local(live, l.expires_at)) } "."
                    }
                }
                p { (t("overview-last-cycle")) " "
                    span data-field="last_cycle" { @match &o.last_cycle {
                        Some(c) => { (local(live, c.at)) " — " @if c.ok { "ok: " } @else { "FAILED: " } (c.summary) }
                        None => { (t("overview-no-cycle")) }
                    } }
                }
                p { (t("overview-next-tick")) " " span data-field="next_tick" {
                    (o.next_tick.map(|at| local(live, at)).unwrap_or_else(|| t("overview-never")))
                } }
                @if let Some(h) = o.quota_hold_until {
                    p.error { "Feishu's monthly API quota is used up: calls are held back until " (local(live, h)) " (or a reload)." }
                }
            }
            section.needs data-live="needs" {
                h2 { (t("overview-needs-you")) " (" (o.needs_you_total) ")" }
                @if o.needs_you.is_empty() {
                    p { (t("overview-needs-you-none")) }
                } @else {
                    table.needs {
                        thead { tr {
                            th { (t("col-task")) } th { (t("col-assignee")) }
                            th { (t("col-state")) }
                            th { (t("col-waited")) } th {}
                        } }
                        tbody { @for n in &o.needs_you {
                            tr {
                                td { a href={ "/tasks/" (encode(&n.task_id)) } { (n.label) } }
                                td title=(n.assignee_id) { (n.assignee) }
                                td {
                                    (lang.t(&format!("state-{}", n.state)))
                                    @if n.escalated { " · " (t("state-escalated")) }
                                }
                                td { (lang.age(std::time::Duration::from_secs(n.age_seconds))) }
                                td { @if scope.acts_for(&n.assignee_id) {
                                    @let to = format!("/tasks/{}/silence", encode(&n.task_id));
                                    form.inline method="post" action=(to) {
                                        (csrf_field(&v))
                                        input type="hidden" name="user_id" value=(n.assignee_id);
                                        input type="hidden" name="for" value="1d";
                                        input type="hidden" name="next" value="/";
                                        button type="submit" { (t("snooze-1d")) }
                                    }
                                } }
                            }
                        } }
                    }
                    @if o.needs_you_total > o.needs_you.len() as u64 {
                        p { a href="/tasks?state=reminders_over" {
                            @let more = o.needs_you_total - o.needs_you.len() as u64;
                            (lang.n("overview-needs-you-more", more))
                        } }
                    }
                }
            }
            section.counts {
                h2 { (lang.n("overview-pending", o.pending_pairs)) }
                ul.cards {
                    @for state in crate::plan::PlanStatus::names() {
                        li { a href={ "/tasks?state=" (state) } {
                            span.n data-count=(state) { (count(state)) } " "
                            (lang.t(&format!("state-{state}")))
                        } }
                    }
                }
                p { a href="/tasks?state=escalated" {
                    (lang.n("overview-escalated", count("escalated")))
                } }
                p.away {
                    @if o.away_now.is_empty() { (t("overview-nobody-away")) }
                    @else {
                        (lang.with("overview-away-now", &[("names", o.away_now.join(", ").into())]))
                    }
                }
            }
            section.two {
                div {
                    h2 { (t("overview-top-assignees")) }
                    table { thead { tr {
                        th { (t("col-assignee")) } th { (t("col-due")) } th { (t("col-pending")) }
                        th { (t("col-longest")) }
                    } }
                        tbody { @for a in &o.assignees {
                            tr { td { a href={ "/tasks?assignee=" (encode(&a.id)) } { (a.name) } } td { (a.due) } td { (a.pending) }
                                 td { (lang.age(std::time::Duration::from_secs(a.oldest_age_seconds))) } }
                        } }
                    }
                }
                div {
                    h2 { (t("overview-top-rules")) }
                    table { thead { tr {
                        th { (t("col-rule")) } th { (t("col-due")) } th { (t("col-pending")) }
                        th { (t("col-longest")) }
                    } }
                        tbody { @for r in &o.rules {
                            tr { td { a href={ "/tasks?rule=" (encode(&r.id)) } { (r.name) } } td { (r.due) } td { (r.pending) }
                                 td { (lang.age(std::time::Duration::from_secs(r.oldest_age_seconds))) } }
                        } }
                    }
                }
            }
            p.hint {
                (t("overview-as-of")) " " span data-field="computed_at" { (local(live, o.computed_at)) }
                (t("overview-keeps-current"))
            }
        },
    )
}

pub(super) async fn rules(State(s): State<Services>, PageVisitor(v): PageVisitor) -> Response {
    let live = &s.ground;
    let o = match s.overview(&v).await {
        Ok(o) => o,
        Err(f) => return f.page(),
    };
    let now = live.clock.now();
    // The config in words names every team's people: an admin's to read.
    let scoped = !s.scope(&v).is_all();
    let words = if scoped {
        String::new()
    } else {
        crate::commands::describe_config(&live.config, now)
    };
    let lang = v.lang;
    let t = |key: &str| lang.t(key);
    page(
        &t("nav-rules"),
        &v,
        html! {
            h2 { (t("rules-held")) }
            table {
                thead { tr { th { (t("col-rule")) } th { (t("col-pending")) } th { (t("col-due")) } th { (t("col-longest")) } th {} } }
                tbody {
                    @for r in s.scope(&v).rules(&live.config) {
                        @let held = o.rules.iter().find(|x| x.id == r.name);
                        tr { td { (r.name) } td { (held.map_or(0, |h| h.pending)) } td { (held.map_or(0, |h| h.due)) }
                             td { (held.map_or("—".into(), |h| lang.age(std::time::Duration::from_secs(h.oldest_age_seconds)))) }
                             td { a href={ "/tasks?rule=" (encode(&r.name)) "&sort=oldest" } { (t("rules-its-tasks")) } } }
                    }
                }
            }
            @if !scoped {
                h2 { (t("rules-words")) }
                pre.check { (words) }
            }
        },
    )
}
