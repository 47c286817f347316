//! `expediter audit`: the console's audit trail from the database — who signed in and out,
//! which sessions were ended, which silences and away windows were made or removed — with who,
//! when, from where and what.

use std::path::Path;

use crate::clock::Clock;
use crate::startup::{EXIT_OK, UsageError, load_config};
use crate::store::Store;

pub async fn run(path: &Path, since: &str, team: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let now = Clock::system().now();
    let window = humantime::parse_duration(since.trim()).map_err(|e| {
        UsageError(format!(
            "--since \"{since}\" is not a duration ({e}); write it like 7d or 30d"
        ))
    })?;
    let start = chrono::TimeDelta::from_std(window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
        .ok_or_else(|| UsageError(format!("--since \"{since}\" is too long")))?;
    let team = team.map(str::trim).filter(|t| !t.is_empty());
    let db = &config.storage.database;
    let Some(store) = Store::open_read_only(db).await? else {
        eprintln!("{}", super::nothing_recorded(db));
        if json {
            println!("[]");
        }
        return Ok(EXIT_OK);
    };
    let entries = store.audit_since(start).await;
    store.close().await;
    let mut entries = entries?;
    entries.retain(|e| team.is_none_or(|t| e.teams.iter().any(|x| x == t)));
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(EXIT_OK);
    }
    if entries.is_empty() {
        println!("nothing in the audit trail since {}", since.trim());
        return Ok(EXIT_OK);
    }
    let tz = config.schedule.timezone;
    println!(
        "{:<16}  {:<15}  {:<15}  {:<24}  {:<12}  detail",
        "when", "action", "from", "who", "teams"
    );
    for e in &entries {
        println!(
            "{:<16}  {:<15}  {:<15}  {:<24}  {:<12}  {}",
            e.at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            e.action,
            e.address.as_deref().unwrap_or("command line"),
            e.who.escape_debug(),
            e.teams.join(","),
            e.detail.escape_debug()
        );
    }
    Ok(EXIT_OK)
}
