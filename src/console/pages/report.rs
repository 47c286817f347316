//! The report, period and grouping chosen on the page.

use super::*;

#[derive(Deserialize)]
pub(in crate::console) struct ReportQuery {
    since: Option<String>,
    by: Option<String>,
}

pub(in crate::console) async fn report(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Query(q): Query<ReportQuery>,
) -> Response {
    let since_text = q
        .since
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("30d");
    let body = match s
        .report(&v, since_text, q.by.as_deref().unwrap_or("rule"))
        .await
    {
        Ok(body) => body,
        Err(f) => return f.page(),
    };
    let by_name = q.by.as_deref().unwrap_or("rule");
    let t = |key: &str| v.lang.t(key);
    page(
        &t("nav-report"),
        &v,
        html! {
            form.filters method="get" action="/report" {
                label { (t("form-over-last")) " " input type="text" name="since" value=(since_text) size="5"; }
                label { (t("form-by")) " " select name="by" {
                    @for b in ["rule", "team", "user"] {
                        option value=(b) selected[by_name == b] { (t(&format!("report-by-{b}"))) }
                    }
                } }
                button type="submit" { (t("form-show")) }
            }
            div.report { (body) }
        },
    )
}
