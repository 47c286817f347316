//! A digest through the app's bot as its card will look: what a lead (their teams' lines) or an
//! admin (the first recipient's card) would get now, buttons and all — before it is sent.

use super::*;
use crate::console::roles::Role;

#[derive(Deserialize)]
pub(in crate::console) struct CardQuery {
    name: Option<String>,
}

pub(in crate::console) async fn digest_card(
    State(s): State<Services>,
    PageVisitor(v): PageVisitor,
    Query(q): Query<CardQuery>,
) -> Response {
    let live = &s.ground;
    let config = &live.config;
    let name = q.name.as_deref().unwrap_or("");
    let Some(digest) = config
        .digests
        .iter()
        .find(|d| d.name == name && d.bot.is_some())
    else {
        return Failure::NotFound(format!("no digest {name:?} through the app's bot")).page();
    };
    // An admin sees the first recipient's card; a lead the part of their teams.
    let to = match &v.role {
        Role::Admin => crate::bot::send::recipients(config, digest)
            .into_iter()
            .next(),
        Role::Member { leads, .. } if !leads.is_empty() => Some(crate::bot::send::Recipient {
            id_type: "open_id",
            id: String::new(),
            teams: Some(leads.iter().cloned().collect()),
            // A personal card: "needs you" first.
            lead: Some(String::new()),
        }),
        _ => None,
    };
    let Some(to) = to else {
        return Failure::NotFound(format!("no digest {name:?} through the app's bot")).page();
    };
    let cards =
        match crate::bot::send::cards_for(config, digest, &live.store, live.clock.now(), &to).await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("console: a digest's card could not be drawn: {e:#}");
                return Failure::Unavailable.page();
            }
        };
    page(
        &v.lang.with("card-preview-title", &[("name", name.into())]),
        &v,
        html! {
            p.meta { (v.lang.t("card-preview-intro")) }
            @for card in &cards { (card_html(card)) }
        },
    )
}

/// A card as HTML: its title, its lines as text, its buttons (inert here).
fn card_html(card: &serde_json::Value) -> Markup {
    let elements = card["body"]["elements"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        div.card {
            div.card-title { (card["header"]["title"]["content"].as_str().unwrap_or("")) }
            @for e in &elements {
                @match e["tag"].as_str() {
                    Some("markdown") => {
                        @let text = crate::bot::card::preview(&serde_json::json!({
                            "body": {"elements": [e]}
                        }));
                        p.card-line { (text.trim().trim_matches('*')) }
                    }
                    Some("column_set") => {
                        div.card-buttons {
                            @for c in e["columns"].as_array().into_iter().flatten() {
                                @for b in c["elements"].as_array().into_iter().flatten() {
                                    button type="button" disabled { (b["text"]["content"].as_str().unwrap_or("")) }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
