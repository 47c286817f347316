//! Away windows: the list, the form, removing one.

use super::*;

pub(in crate::console) async fn away(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Query(q): Query<AllQuery>,
) -> Response {
    let live = &s.ground;
    let now = live.clock.now();
    let list = match s.away_windows(&v, q.all()).await {
        Ok(l) => l,
        Err(f) => return f.page(),
    };
    let config = &live.config;
    let scope = s.scope(&v);
    // Whom this visitor may mark away, and name as a deputy.
    let mine: Vec<&crate::config::User> = config
        .users
        .iter()
        .filter(|u| scope.acts_for(&u.id))
        .collect();
    let deputies: Vec<&crate::config::User> = config
        .users
        .iter()
        .filter(|u| scope.may_name(&u.id))
        .collect();
    let name = |id: &str| {
        config
            .users
            .iter()
            .find(|u| u.id == id)
            .map_or(id.to_owned(), |u| u.display_name().to_owned())
    };
    let t = |key: &str| v.lang.t(key);
    page(
        &t("nav-away"),
        &v,
        html! {
            p { (t("away-intro")) " "
                @match config.away.deputy_action.kind() {
                    Some(crate::domain::CallKind::AddAssignee) => { (t("away-add-deputy")) " " }
                    Some(_) => { (t("away-transfer")) " " }
                    None => {}
                }
                @if q.all() { a href="/away" { (t("away-current-link")) } } @else { a href="/away?all=true" { (t("away-past-link")) } } }
            table.away {
                thead { tr { th { (t("col-id")) } th { (t("col-who")) } th { (t("col-from")) } th { (t("col-until")) } th { (t("col-deputy")) } th { (t("col-reason")) } th { (t("col-made-by")) } th { (t("col-removed")) } th {} } }
                tbody { @for a in &list {
                    @let open = a.ended_at.is_none() && a.until > now;
                    tr {
                        td { (a.id) }
                        td { (name(&a.user_id)) }
                        td { (local(live, a.from)) }
                        td { (local(live, a.until)) }
                        td { (a.deputy.as_deref().map(name).unwrap_or_else(|| "—".into())) }
                        td { (a.reason) }
                        td { (a.created_by) }
                        td { @if let Some(at) = a.ended_at { (super::silences::removed_by(v.lang, local(live, at), a.ended_by.as_deref())) } @else if !open { (t("away-over")) } }
                        td { @if open && scope.acts_for(&a.user_id) {
                            form method="post" action={ "/away/" (a.id) "/remove" } {
                                (csrf_field(&v))
                                button type="submit" { (t("form-remove")) }
                            }
                        } }
                    }
                } }
            }
            @if !mine.is_empty() {
            h2 { (t("away-mark")) }
            form.silence method="post" action="/away" {
                (csrf_field(&v))
                label { (t("form-who")) " " select name="user_id" {
                    @for u in &mine { option value=(u.id) { (u.display_name()) } }
                } }
                label { (t("form-from")) " " input type="text" name="from" placeholder="now, or YYYY-MM-DD"; }
                label { (t("form-for")) " " input type="text" name="for" placeholder="3d, 2w"; }
                label { (t("form-or-until")) " " input type="text" name="until" placeholder="YYYY-MM-DD"; }
                label { (t("form-deputy")) " " select name="deputy" {
                    option value="" { (t("form-none")) }
                    @for u in &deputies { option value=(u.id) { (u.display_name()) } }
                } }
                label { (t("form-reason")) " " input type="text" name="reason" maxlength="500"; }
                button type="submit" { (t("form-save")) }
            }
            }
        },
    )
}

#[derive(Deserialize)]
pub(in crate::console) struct AwayForm {
    csrf: Option<String>,
    user_id: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    until: Option<String>,
    from: Option<String>,
    deputy: Option<String>,
    reason: Option<String>,
}

pub(in crate::console) async fn add_away(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Form(form): Form<AwayForm>,
) -> Response {
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    match s
        .add_away_window(
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

pub(in crate::console) async fn remove_away(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(f) = v.check_csrf(form.csrf.as_deref()) {
        return f.page();
    }
    match s.end_away_window(&v, id).await {
        Ok(true) => Redirect::to("/away").into_response(),
        Ok(false) => Redirect::to("/away?all=true").into_response(),
        Err(f) => f.page(),
    }
}
