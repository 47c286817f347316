//! The audit trail: who did what, when and from where — an admin's whole trail, a lead's teams.

use super::*;

#[derive(Deserialize)]
pub(in crate::console) struct AuditQuery {
    since: Option<String>,
    team: Option<String>,
}

pub(in crate::console) async fn audit(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Query(q): Query<AuditQuery>,
) -> Response {
    let live = &s.ground;
    let since_text = q
        .since
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or("30d");
    let team = q.team.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let since = match s.window_start(since_text) {
        Ok(t) => t,
        Err(f) => return f.page(),
    };
    let entries = match s.audit_trail(&v, since, team).await {
        Ok(e) => e,
        Err(f) => return f.page(),
    };
    let lang = v.lang;
    let t = |key: &str| lang.t(key);
    page(
        &t("nav-audit"),
        &v,
        html! {
            form.filters method="get" action="/audit" {
                label { (t("form-over-last")) " "
                    input type="text" name="since" value=(since_text) size="5"; }
                label { (t("form-team")) " "
                    input type="text" name="team" value=(team.unwrap_or("")) size="12"; }
                button type="submit" { (t("form-show")) }
            }
            p.meta { (lang.n("audit-acts", entries.len() as u64)) }
            table.audit {
                thead { tr {
                    th { (t("col-when")) } th { (t("col-who")) } th { (t("col-address")) } th { (t("col-what")) }
                    th { (t("col-teams")) } th { (t("col-detail")) }
                } }
                tbody { @for e in &entries {
                    tr {
                        td { (local(live, e.at)) }
                        td { (e.who) }
                        td { (e.address.as_deref().map_or_else(|| t("audit-command-line"), str::to_owned)) }
                        td title=(e.action) { (act_words(lang, &e.action)) }
                        td { (e.teams.join(", ")) }
                        td { (e.detail) }
                    }
                } }
            }
        },
    )
}

/// An act in the reader's words; an act this version has no words for, as recorded.
fn act_words(lang: Lang, action: &str) -> String {
    lang.try_t(&format!("act-{action}"))
        .unwrap_or_else(|| action.to_owned())
}
