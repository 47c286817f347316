//! Silences: the list, and removing one.

use super::*;

#[derive(Deserialize)]
pub(in crate::console) struct AllQuery {
    all: Option<String>,
}

impl AllQuery {
    pub(in crate::console) fn all(&self) -> bool {
        matches!(self.all.as_deref(), Some("true" | "1" | "yes" | "on"))
    }
}

pub(in crate::console) async fn silences(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Query(q): Query<AllQuery>,
) -> Response {
    let live = &s.ground;
    let now = live.clock.now();
    let list: Vec<Silence> = match s.silences(&v, q.all()).await {
        Ok(l) => l,
        Err(f) => return f.page(),
    };
    let config = &live.config;
    let scope = s.scope(&v);
    let name = |id: &str| {
        config
            .users
            .iter()
            .find(|u| u.id == id)
            .map_or(id.to_owned(), |u| u.display_name().to_owned())
    };
    let t = |key: &str| v.lang.t(key);
    page(
        &t("nav-silences"),
        &v,
        html! {
            p { @if q.all() { (t("silences-every")) " " a href="/silences" { (t("silences-active-link")) } } @else { (t("silences-active")) " " a href="/silences?all=true" { (t("silences-all-link")) } } }
            table.silences {
                thead { tr { th { (t("col-id")) } th { (t("col-task")) } th { (t("col-who")) } th { (t("col-until")) } th { (t("col-reason")) } th { (t("col-made-by")) } th { (t("col-removed")) } th {} } }
                tbody { @for s in &list {
                    @let active = s.ended_at.is_none() && s.until > now;
                    tr {
                        td { (s.id) }
                        td { a href={ "/tasks/" (encode(&s.task_id)) } { (s.task_id) } " " span.label { (s.label.as_deref().unwrap_or("")) } }
                        td { (s.user_id.as_deref().map_or(t("every-assignee"), name)) }
                        td { (local(live, s.until)) }
                        td { (s.reason) }
                        td { (s.created_by) ", " (local(live, s.created_at)) }
                        td { @if let Some(at) = s.ended_at { (removed_by(v.lang, local(live, at), s.ended_by.as_deref())) } @else if !active { (t("ran-out")) } }
                        td { @if active && s.user_id.as_deref().map_or(scope.is_all(), |u| scope.acts_for(u)) {
                            form method="post" action={ "/silences/" (s.id) "/remove" } {
                                (csrf_field(&v))
                                button type="submit" { (t("form-remove")) }
                            }
                        } }
                    }
                } }
            }
        },
    )
}

#[derive(Deserialize)]
pub(in crate::console) struct CsrfForm {
    pub(super) csrf: Option<String>,
}

pub(in crate::console) async fn remove_silence(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    match s.end_silence(&v, id).await {
        Ok(true) => Redirect::to("/silences").into_response(),
        // Removed by someone else meanwhile, or run out: the whole list says so.
        Ok(false) => Redirect::to("/silences?all=true").into_response(),
        Err(f) => f.page(),
    }
}

/// "2026-12-08 10:00 CST by Liu Yang": when and by whom a silence or away window was removed.
pub(super) fn removed_by(lang: Lang, at: String, by: Option<&str>) -> String {
    let by = by.map_or_else(|| lang.t("who-unknown"), str::to_owned);
    lang.with("removed-by", &[("at", at.into()), ("by", by.into())])
}
