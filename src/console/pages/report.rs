//! The report, period and grouping chosen on the page.

use super::*;

#[derive(Deserialize)]
pub(in crate::console) struct ReportQuery {
    since: Option<String>,
    by: Option<String>,
}

pub(in crate::console) async fn report(
    State(console): State<Console>,
    PageVisitor(v): PageVisitor,
    Query(q): Query<ReportQuery>,
) -> Response {
    use crate::domain::report::GroupBy;
    let live = console.live();
    let since_text = q
        .since
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("30d");
    let Some(window) = humantime::parse_duration(since_text)
        .ok()
        .filter(|w| *w <= std::time::Duration::from_secs(400 * 86_400))
    else {
        return Failure::BadField(
            "since".into(),
            format!("since \"{since_text}\" is not a duration up to 400d; write it like 7d or 30d"),
        )
        .page();
    };
    let by = match q.by.as_deref().unwrap_or("rule") {
        "rule" => GroupBy::Rule,
        "team" => GroupBy::Team,
        "user" => GroupBy::User,
        other => {
            return Failure::BadField(
                "by".into(),
                format!("by \"{other}\" is not one of rule, team, user"),
            )
            .page();
        }
    };
    let now = live.engine.clock.now();
    let Some(since) = chrono::TimeDelta::from_std(window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
    else {
        return Failure::BadField(
            "since".into(),
            format!("since \"{since_text}\" is too long"),
        )
        .page();
    };
    // The window's calls from the database; the pending pairs from the index.
    let sent = match live.engine.store.sent_since(since).await {
        Ok(s) => s,
        Err(e) => return Failure::from(e).page(),
    };
    let pending = match data::report_pending(&console).await {
        Ok(p) => p,
        Err(f) => return f.page(),
    };
    let body =
        crate::commands::report::body_with(&live.engine.config, by, since, now, &sent, &pending);
    let by_name = q.by.as_deref().unwrap_or("rule");
    page(
        "Report",
        &v,
        html! {
            form.filters method="get" action="/report" {
                label { "Over the last " input type="text" name="since" value=(since_text) size="5"; }
                label { "by " select name="by" {
                    @for b in ["rule", "team", "user"] { option value=(b) selected[by_name == b] { (b) } }
                } }
                button type="submit" { "Show" }
            }
            div.report { (body) }
        },
    )
}
