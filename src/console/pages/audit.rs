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
    page(
        &v.lang.t("nav-audit"),
        &v,
        html! {
            form.filters method="get" action="/audit" {
                label { "Over the last "
                    input type="text" name="since" value=(since_text) size="5"; }
                label { "Team "
                    input type="text" name="team" value=(team.unwrap_or("")) size="12"; }
                button type="submit" { "Show" }
            }
            p.meta { (entries.len()) " act(s)." }
            table.audit {
                thead { tr {
                    th { "when" } th { "who" } th { "from" } th { "what" } th { "teams" }
                    th { "detail" }
                } }
                tbody { @for e in &entries {
                    tr {
                        td { (local(live, e.at)) }
                        td { (e.who) }
                        td { (e.address.as_deref().unwrap_or("command line")) }
                        td { (e.action) }
                        td { (e.teams.join(", ")) }
                        td { (e.detail) }
                    }
                } }
            }
        },
    )
}
