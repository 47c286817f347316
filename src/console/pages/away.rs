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
    page(
        &v.lang.t("nav-away"),
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
                        td { (local(live, a.from)) }
                        td { (local(live, a.until)) }
                        td { (a.deputy.as_deref().map(name).unwrap_or_else(|| "—".into())) }
                        td { (a.reason) }
                        td { (a.created_by) }
                        td { @if let Some(at) = a.ended_at { (local(live, at)) " by " (a.ended_by.as_deref().unwrap_or("someone")) } @else if !open { "over" } }
                        td { @if open && scope.acts_for(&a.user_id) {
                            form method="post" action={ "/away/" (a.id) "/remove" } {
                                (csrf_field(&v))
                                button type="submit" { "Remove" }
                            }
                        } }
                    }
                } }
            }
            @if !mine.is_empty() {
            h2 { "Mark someone away" }
            form.silence method="post" action="/away" {
                (csrf_field(&v))
                label { "Who " select name="user_id" {
                    @for u in &mine { option value=(u.id) { (u.display_name()) } }
                } }
                label { "From " input type="text" name="from" placeholder="now, or YYYY-MM-DD"; }
                label { "For " input type="text" name="for" placeholder="3d, 2w"; }
                label { "or until " input type="text" name="until" placeholder="YYYY-MM-DD"; }
                label { "Deputy " select name="deputy" {
                    option value="" { "none" }
                    @for u in &deputies { option value=(u.id) { (u.display_name()) } }
                } }
                label { "Reason " input type="text" name="reason" maxlength="500"; }
                button type="submit" { "Save" }
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
