//! SIGHUP: the config read again; a valid one replaces the engine, an invalid one is logged
//! and the old one kept.

use std::path::Path;

use crate::config::Config;
use crate::cycle::Engine;
use crate::progress::Progress;

use crate::startup::{Role, client_for, load_config, open_store};

/// The new file's config with the teams' latest versions, unless one of them would no longer be
/// in force (it was, under the old config) or its team's entry is gone.
async fn documents_kept(config: Config, old: &Engine) -> Result<Config, String> {
    let versions = old
        .store
        .latest_team_versions()
        .await
        .map_err(|e| format!("cannot read the teams' documents to check them: {e}"))?;
    for v in &versions {
        if !config.teams.iter().any(|t| t.name == v.team) {
            return Err(format!(
                "team \"{}\" has a document (version {}); removing its [[teams]] entry would \
                drop its users and rules — move them back with `expediter team export {}` \
                first, or keep the entry",
                v.team, v.version, v.team
            ));
        }
    }
    let new = config.with_documents(&versions);
    // Fine under the file in force now (saved since the last cycle too), not under the new one.
    let before = old.config.with_documents(&versions);
    for (team, version, problem) in new.document_problems() {
        let was_fine = before
            .documents
            .iter()
            .any(|d| d.team == team && d.version == version && d.problem.is_none());
        if was_fine {
            return Err(format!(
                "team \"{team}\"'s version {version} would no longer validate: {problem}"
            ));
        }
    }
    Ok(new)
}

/// Re-reads the config. Valid: a new engine for the next cycle, with what changed logged.
/// Invalid: logged at ERROR, `None`, and the old config stays.
pub(super) async fn reload(path: &Path, old: &Engine, progress: &Progress) -> Option<Engine> {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("config reload failed, keeping the old config: {e:#}");
            return None;
        }
    };
    if let Some(e) = config.secret_errors().into_iter().next() {
        tracing::error!("config reload failed, keeping the old config: {e}");
        return None;
    }
    let same_feishu = {
        let (a, b) = (&old.config.feishu, &config.feishu);
        a.base_url == b.base_url
            && a.app_id == b.app_id
            && a.requests_per_minute == b.requests_per_minute
            && a.request_timeout == b.request_timeout
            && a.max_retries == b.max_retries
            && a.retry_backoff == b.retry_backoff
            // The secret in use, not the old config's source read again: a rotated secret
            // file reads the same through both configs.
            && b.app_secret.resolve().ok().as_ref() == Some(old.client.app_secret())
    };
    // Keeping the client keeps its token and its pacing state.
    let client = if same_feishu {
        old.client.clone()
    } else {
        match client_for(&config, progress.clone(), &old.clock) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("config reload failed, keeping the old config: {e:#}");
                return None;
            }
        }
    };
    // The same database (and on PostgreSQL the same app's lease): the store is kept, with a new
    // lease length from its next renewal. Another database or app: a store of its own, and the
    // old lease given up.
    let same_lease_row = config
        .storage
        .database
        .same_as(&old.config.storage.database)
        && (old.store.lease().is_none() || config.feishu.app_id == old.config.feishu.app_id);
    // The teams' stored versions must still validate against the new file: a reload that would
    // take a team's rules out from under it (a calendar it names removed, its entry removed) is
    // refused, naming the team, the line and the key.
    let config = if same_lease_row {
        match documents_kept(config, old).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("config reload refused, keeping the old config: {e}");
                return None;
            }
        }
    } else {
        config
    };
    let store = if same_lease_row {
        if let Some(lease) = old.store.lease()
            && config.storage.lease != lease.duration()
        {
            lease.set_duration(config.storage.lease);
            tracing::info!(
                lease = ?config.storage.lease,
                "the lease's new length applies from its next renewal"
            );
        }
        old.store.clone()
    } else {
        match open_store(&config, &old.clock, Role::Daemon).await {
            Ok(s) => {
                // The old lease is given up: a cycle still running under it stops acting, and
                // no keeper holds a lease this instance has left.
                old.store.stand_down().await;
                s
            }
            Err(e) => {
                tracing::error!("config reload failed, keeping the old config: {e:#}");
                return None;
            }
        }
    };
    let config = if same_lease_row {
        config
    } else {
        crate::startup::with_documents(config, &store).await
    };
    let changes = describe_changes(&old.config, &config);
    tracing::info!(
        users = config.users.len(),
        rules = config.rules.len(),
        "config reloaded: {}",
        if changes.is_empty() {
            "no changes".to_owned()
        } else {
            changes.join("; ")
        }
    );
    Some(Engine::new(
        config,
        client,
        store,
        old.clock.clone(),
        Some(old.stopping.clone()),
    ))
}

/// What a reload changed, in words.
pub fn describe_changes(old: &Config, new: &Config) -> Vec<String> {
    let mut changes = Vec::new();
    let ids = |c: &Config| {
        c.users
            .iter()
            .map(|u| u.id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (before, after) = (ids(old), ids(new));
    let added: Vec<_> = after.difference(&before).cloned().collect();
    let removed: Vec<_> = before.difference(&after).cloned().collect();
    if !added.is_empty() {
        changes.push(format!("users added: {}", added.join(", ")));
    }
    if !removed.is_empty() {
        changes.push(format!("users removed: {}", removed.join(", ")));
    }
    let rules = |c: &Config| {
        c.rules
            .iter()
            .map(|r| (r.name.clone(), r.describe(&c.policy())))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (before, after) = (rules(old), rules(new));
    let added: Vec<_> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let removed: Vec<_> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    // Each changed rule with what changed in its description: "r1 (once after 1h → once after 2h)".
    let changed: Vec<_> = after
        .iter()
        .filter_map(|(k, v)| {
            let b = before.get(k).filter(|b| *b != v)?;
            let (old_parts, new_parts): (Vec<&str>, Vec<&str>) =
                (b.split("; ").collect(), v.split("; ").collect());
            let what: Vec<String> = if old_parts.len() == new_parts.len() {
                old_parts
                    .iter()
                    .zip(&new_parts)
                    .filter(|(o, n)| o != n)
                    .map(|(o, n)| format!("{o} → {n}"))
                    .collect()
            } else {
                vec![format!("{b} → {v}")]
            };
            Some(format!("{k} ({})", what.join("; ")))
        })
        .collect();
    if !added.is_empty() {
        changes.push(format!("rules added: {}", added.join(", ")));
    }
    if !removed.is_empty() {
        changes.push(format!("rules removed: {}", removed.join(", ")));
    }
    if !changed.is_empty() {
        changes.push(format!("rules changed: {}", changed.join(", ")));
    }
    let order = |c: &Config| c.rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    if added.is_empty() && removed.is_empty() && order(old) != order(new) {
        changes.push("rules reordered".into());
    }
    if old.schedule.cron.expr != new.schedule.cron.expr
        || old.schedule.timezone != new.schedule.timezone
    {
        changes.push(format!(
            "schedule: \"{}\" in {}",
            new.schedule.cron.expr, new.schedule.timezone
        ));
    }
    if old.metrics != new.metrics {
        changes.push("[metrics] listen changed: takes effect at the next restart".into());
    }
    let listen = |c: &Config| c.console.as_ref().map(|c| c.listen);
    if listen(old) != listen(new) {
        changes.push(
            "[console] listen changed (or the console was added or removed): takes effect at the next restart"
                .into(),
        );
    }
    if old.expedite.dry_run != new.expedite.dry_run {
        changes.push(format!("dry_run = {}", new.expedite.dry_run));
    }
    let away = |c: &Config| {
        (
            c.away.deputy_action.kind().map(|k| k.as_str()),
            format!("{:?}", c.away.opinion),
            c.away.deputy_after,
        )
    };
    if away(old) != away(new) {
        let (action, _, after) = away(new);
        changes.push(format!(
            "[away]: deputy_action = \"{}\"{}",
            action.unwrap_or("none"),
            after.map_or(String::new(), |d| format!(
                ", deputy_after = {}",
                humantime::format_duration(d)
            ))
        ));
    }
    let digests = |c: &Config| {
        c.digests
            .iter()
            .map(|d| (d.name.clone(), d.cron.expr.clone(), d.catch_up))
            .collect::<Vec<_>>()
    };
    if digests(old) != digests(new) {
        changes.push("digests changed".into());
    }
    let console = |c: &Config| {
        c.console.as_ref().map(|c| {
            (
                format!("{:?}", c.sign_in),
                c.trusted_proxies.clone(),
                c.session,
            )
        })
    };
    if listen(old) == listen(new) && console(old) != console(new) {
        changes.push(
            "[console] sign-in changed (allow, trusted_proxies or session): from the next request"
                .into(),
        );
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_changes_are_described() {
        let base = r#"
[feishu]
app_id = "a"
app_secret = "s"
[expedite]
operator_user_id = "1"
[[users]]
id = "u1"
[[rules]]
name = "r1"
after = "1h"
"#;
        let old = Config::parse(base, Path::new("c.toml"), false).unwrap();
        let new_text = base
            .replace("[[rules]]", "[[users]]\nid = \"u2\"\n[[rules]]")
            .replace("after = \"1h\"", "after = \"2h\"");
        let new = Config::parse(&new_text, Path::new("c.toml"), false).unwrap();
        assert_eq!(
            describe_changes(&old, &new),
            vec![
                "users added: u2",
                "rules changed: r1 (once after 1h → once after 2h)"
            ]
        );
        assert!(describe_changes(&old, &old).is_empty());
        // [away] is part of what a reload changes, not "no changes".
        let away = Config::parse(
            &format!("{base}\n[away]\ndeputy_action = \"transfer\"\ndeputy_after = \"4h\"\n"),
            Path::new("c.toml"),
            false,
        )
        .unwrap();
        assert_eq!(
            describe_changes(&old, &away),
            vec!["[away]: deputy_action = \"transfer\", deputy_after = 4h"]
        );
    }
}
