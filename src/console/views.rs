//! The console's page shell (maud: every value escaped; no inline script): the layout, the
//! sign-in pages, failures as pages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::Ground;
use super::error::Failure;
use super::visitor::Visitor;
use crate::config::{ConsoleConfig, SignIn};
use crate::i18n::Lang;

pub(super) fn local(live: &Ground, t: DateTime<Utc>) -> String {
    t.with_timezone(&live.config.schedule.timezone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

pub(super) fn layout(title: &str, visitor: Option<&Visitor>, body: Markup) -> Markup {
    layout_in(
        visitor.map(|v| v.lang).unwrap_or_default(),
        title,
        visitor,
        body,
    )
}

/// A page in `lang`: the visitor's, or a sign-in page's (from the request).
pub(super) fn layout_in(
    lang: Lang,
    title: &str,
    visitor: Option<&Visitor>,
    body: Markup,
) -> Markup {
    let other = match lang {
        Lang::Zh => Lang::En,
        Lang::En => Lang::Zh,
    };
    let t = |key: &str| lang.t(key);
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — expediter" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header {
                    nav {
                        a.brand href="/" { "expediter" }
                        @if let Some(v) = visitor {
                            a href="/" { (t("nav-overview")) }
                            a href="/tasks" { (t("nav-tasks")) }
                            a href="/silences" { (t("nav-silences")) }
                            a href="/away" { (t("nav-away")) }
                            a href="/report" { (t("nav-report")) }
                            a href="/rules" { (t("nav-rules")) }
                            @if v.role.has_teams() {
                                a href="/teams" { (t("nav-teams")) }
                            }
                            @if v.role.reads_audit() {
                                a href="/audit" { (t("nav-audit")) }
                            }
                        }
                    }
                    @if visitor.is_none() {
                        a.language href={ "/language/" (other.tag()) } hreflang=(other.tag()) {
                            (t("switch-language"))
                        }
                    }
                    @if let Some(v) = visitor {
                        form.signout method="post" action="/logout" {
                            a.language href={ "/language/" (other.tag()) } hreflang=(other.tag()) {
                                (t("switch-language"))
                            }
                            " "
                            span.who { (v.who) } " " span.role { "(" (v.role.words_in(lang)) ")" }
                            @if let Some(csrf) = &v.csrf { input type="hidden" name="csrf" value=(csrf); }
                            button type="submit" { (t("sign-out")) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub(super) fn csrf_field(v: &Visitor) -> Markup {
    html! { @if let Some(c) = &v.csrf { input type="hidden" name="csrf" value=(c); } }
}

/// A page as an HTML answer.
pub(super) fn html_response(m: Markup) -> Response {
    axum::response::Html(crate::domain::id::without_bidi_overrides(m.into_string())).into_response()
}

pub(super) fn failure(f: &Failure) -> Response {
    let title = match f.status() {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::BAD_REQUEST => "Not understood",
        StatusCode::UNAUTHORIZED => "Sign in first",
        _ => "Not available",
    };
    let mut response = html_response(layout(
        title,
        None,
        html! { p.error { (f.message()) } p { a href="/" { "Back to the overview" } } },
    ));
    *response.status_mut() = f.status();
    response
}

impl Failure {
    /// As a page.
    pub fn page(self) -> Response {
        failure(&self)
    }
}

pub(super) fn login(
    lang: Lang,
    c: &ConsoleConfig,
    next: &str,
    form: &str,
    error: Option<&str>,
) -> Markup {
    let t = |key: &str| lang.t(key);
    let message = error.map(|e| match e {
        "token" => t("sign-in-bad-token"),
        "link" => t("sign-in-bad-link"),
        "form" => t("sign-in-stale-form"),
        _ => t("sign-in-failed"),
    });
    layout_in(
        lang,
        &t("sign-in"),
        None,
        html! {
            @if let Some(m) = message { p.error { (m) } }
            @match &c.sign_in {
                SignIn::Feishu { .. } => {
                    p { a.button href={ "/login/feishu?next=" (encode(next)) } { (t("sign-in-feishu")) } }
                }
                SignIn::Token => {
                    form method="post" action="/login" {
                        input type="hidden" name="next" value=(next);
                        input type="hidden" name="form" value=(form);
                        label { (t("sign-in-token")) " " input type="password" name="token" autocomplete="current-password" required; }
                        button type="submit" { (t("sign-in")) }
                    }
                }
            }
            p.hint { (t("sign-in-hint")) " " code { "expediter console link" } }
        },
    )
}

/// A one-time link's page: its button signs in (a GET spends nothing).
pub(super) fn link(lang: Lang, t: &str, next: &str, form: &str) -> Markup {
    layout_in(
        lang,
        &lang.t("sign-in"),
        None,
        html! {
            p { (lang.t("sign-in-link-once")) }
            form method="post" action="/login/link" {
                input type="hidden" name="t" value=(t);
                input type="hidden" name="next" value=(next);
                input type="hidden" name="form" value=(form);
                button type="submit" { (lang.t("sign-in")) }
            }
        },
    )
}

pub(super) fn page(title: &str, v: &Visitor, body: Markup) -> Response {
    html_response(layout(title, Some(v), body))
}

/// What a URL component keeps as it is (RFC 3986's unreserved characters).
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` as one URL component (a path segment, a query value).
pub(super) fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}
