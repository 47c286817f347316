//! `expediter digest [--name NAME] [--dry-run]`: post the configured digests now (`run` posts
//! each on its own cron); `--dry-run` prints each message's JSON instead.

use std::path::Path;

use crate::clock::Clock;
use crate::startup::{EXIT_FAILED, EXIT_OK, UsageError, load_config};
use crate::store::Store;

pub async fn run(path: &Path, name: Option<String>, dry_run: bool) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let db = &config.storage.database;
    let Some(store) = Store::open_read_only(db).await? else {
        return Err(anyhow::anyhow!(super::nothing_recorded(db)));
    };
    // Teams' digests (`team/name`) are in their documents.
    let config = crate::startup::with_documents(config, &store).await;
    let chosen: Vec<_> = config
        .digests
        .iter()
        .filter(|d| name.as_deref().is_none_or(|n| d.name == n))
        .collect();
    if chosen.is_empty() {
        let known: Vec<&str> = config.digests.iter().map(|d| d.name.as_str()).collect();
        return Err(UsageError(match name {
            Some(n) => format!(
                "--name {n}: no such digest (configured: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
            None => "no [[digests]] in the config: add one (see config.example.toml)".into(),
        })
        .into());
    }
    let clock = Clock::system();
    let mut failed = false;
    for digest in chosen {
        if dry_run && digest.bot.is_some() {
            // Through the app's bot: each recipient's cards, as they would be sent.
            let read = crate::bot::send::read(&config, digest, &store, clock.now()).await?;
            for to in crate::bot::send::recipients(&config, digest) {
                let cards = crate::bot::send::cards_of(&config, digest, &read, &to);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "receive_id_type": to.id_type, "receive_id": to.id, "cards": cards,
                    }))?
                );
            }
        } else if dry_run {
            let message = crate::digest::build(&config, digest, &store, clock.now()).await?;
            println!("{}", serde_json::to_string_pretty(&message)?);
            // What the chat will show, for a person (standard output stays the JSON).
            eprintln!(
                "digest \"{}\" as the chat shows it:\n{}",
                digest.name,
                crate::domain::digest::preview(&message)
            );
        } else if digest.bot.is_some() {
            // Through the app's bot: each recipient's cards.
            let now = clock.now();
            if !crate::bot::send::run_one(&config, digest, &store, &clock, now).await {
                failed = true;
            }
        } else if !crate::digest::run_one(&config, digest, &store, &clock).await {
            failed = true;
        }
    }
    store.close().await;
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}
