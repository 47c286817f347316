//! The audit trail's side in the console: each act recorded with who, from where, the teams it
//! concerns and what; the trail read back as a visitor may see it.

use chrono::{DateTime, Utc};

use super::Ground;
use super::roles::{Role, Scope};
use crate::config::Config;
use crate::store::{AuditEntry, NewAudit};

/// The teams of these watched users, each once, in order.
pub(crate) fn teams_of(config: &Config, users: &[&str]) -> Vec<String> {
    let mut teams: Vec<String> = config
        .users
        .iter()
        .filter(|u| users.contains(&u.id.as_str()))
        .filter_map(|u| u.team.clone())
        .collect();
    teams.sort();
    teams.dedup();
    teams
}

/// The teams a role reads (a lead's sign-in shows in their teams' trail).
pub(crate) fn teams_of_role(role: &Role) -> Vec<String> {
    match role {
        Role::Member { leads, views } => leads.union(views).cloned().collect(),
        Role::Admin | Role::Nobody => Vec::new(),
    }
}

/// Records one act. The act itself is done: a trail that cannot be written is logged, and does
/// not undo it.
pub(crate) async fn record(
    ground: &Ground,
    who: &str,
    address: Option<&str>,
    action: &str,
    teams: &[String],
    detail: &str,
) {
    let entry = NewAudit {
        who,
        address,
        action,
        teams,
        detail,
    };
    if let Err(e) = ground.store.add_audit(&entry, ground.clock.now()).await {
        tracing::error!(action, "the audit trail could not record an act: {e}");
    }
}

/// The trail since `since` as `scope` may read it: an admin everything, a lead the entries of
/// the teams they lead; `team` keeps one team's.
pub(crate) async fn read(
    ground: &Ground,
    scope: &Scope,
    since: DateTime<Utc>,
    team: Option<&str>,
) -> Result<Vec<AuditEntry>, crate::store::StoreError> {
    let mut entries = ground.store.audit_since(since).await?;
    entries.retain(|e| {
        let teams = || e.teams.iter();
        team.is_none_or(|t| teams().any(|x| x == t))
            && (scope.is_all() || teams().any(|x| scope.leads_team(x)))
    });
    Ok(entries)
}
