//! The console from the shell: `expediter console link` and `console sessions`.

use super::*;

/// `expediter console link [--for DUR]`: a one-time sign-in link, recorded as made by the
/// person at the shell.
pub async fn link(path: &Path, valid_for: &str) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let Some(console) = &config.console else {
        eprintln!(
            "error: {} has no [console]: add one with listen = \"127.0.0.1:9465\" (see config.example.toml)",
            path.display()
        );
        return Ok(EXIT_CONFIG);
    };
    let lifetime = humantime::parse_duration(valid_for.trim()).map_err(|e| {
        UsageError(format!(
            "--for \"{valid_for}\" is not a duration ({e}); write it like 10m"
        ))
    })?;
    if lifetime > Duration::from_secs(7 * 86_400) || lifetime < Duration::from_secs(10) {
        return Err(UsageError(format!(
            "--for \"{valid_for}\": a sign-in link lasts between 10s and 7d"
        ))
        .into());
    }
    let store = Store::open(&config.storage.database).await?;
    let token = random_token();
    let now = now();
    let expires = now + chrono::TimeDelta::from_std(lifetime).unwrap_or_default();
    store
        .add_grant(
            &digest(&token),
            "link",
            &crate::holds::who_at_cli(),
            expires,
        )
        .await?;
    store.close().await;
    let base = console
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", console.listen));
    println!("{base}/login/link?t={token}");
    eprintln!(
        "valid once, until {} ({})",
        expires
            .with_timezone(&config.schedule.timezone)
            .format("%Y-%m-%d %H:%M %Z"),
        crate::domain::opinion::human_duration(lifetime)
    );
    Ok(EXIT_OK)
}

/// `expediter console sessions [--json]` lists the open sessions; with `end`, ends one (by the
/// ID the list shows) or every one (`Some(None)`): exit 1 when no session had that ID.
pub async fn sessions(path: &Path, end: Option<Option<String>>, json: bool) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    if config.console.is_none() {
        eprintln!(
            "error: {} has no [console]: there are no console sessions",
            path.display()
        );
        return Ok(EXIT_CONFIG);
    }
    let store = Store::open(&config.storage.database).await?;
    let now = now();
    let code = match end {
        Some(id) => {
            let ended = store
                .end_sessions(id.as_deref().map(str::trim), now)
                .await?;
            match id {
                Some(id) if ended == 0 => {
                    eprintln!(
                        "no open session has the ID {id:?} (see `expediter console sessions`)"
                    );
                    1
                }
                _ => {
                    if ended > 0 {
                        let detail = format!(
                            "{ended} session(s) ended from the command line ({})",
                            id.as_deref()
                                .map_or("all".to_owned(), |i| format!("ID {i}"))
                        );
                        let who = crate::holds::who_at_cli();
                        let entry = crate::store::NewAudit {
                            who: &who,
                            address: None,
                            action: "session_ended",
                            teams: &[],
                            detail: &detail,
                        };
                        store.add_audit(&entry, now).await?;
                    }
                    eprintln!(
                        "{ended} session(s) ended; those signed in with them must sign in again"
                    );
                    EXIT_OK
                }
            }
        }
        None => {
            let list = store.sessions(now).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no open sessions");
            } else {
                let tz = config.schedule.timezone;
                let at = |t: chrono::DateTime<chrono::Utc>| {
                    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
                };
                println!(
                    "{:<12}  {:<7}  {:<16}  {:<16}  who",
                    "ID", "how", "since", "until"
                );
                for s in &list {
                    println!(
                        "{:<12}  {:<7}  {:<16}  {:<16}  {}",
                        s.id,
                        s.kind,
                        at(s.created_at),
                        at(s.expires_at),
                        s.who.escape_debug()
                    );
                }
            }
            EXIT_OK
        }
    };
    store.close().await;
    Ok(code)
}
