//! Team documents as their leads and admins work with them — from the console, the API and the
//! command line alike: the current version, a save (checked, based on the version its author
//! saw, recorded with a comment and in the audit trail), history, rollback, and the preview of
//! what a draft would change.

mod preview;

use chrono::{DateTime, Utc};

pub use preview::{Preview, PreviewError, PreviewRow, Side, preview};

use crate::config::{Config, ConfigError};
use crate::store::{NewAudit, NewTeamVersion, Store, StoreError, TeamVersion};

/// Why a save was not made.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("there is no team named \"{0}\"")]
    NoTeam(String),
    /// The draft does not validate: nothing was saved.
    #[error("{0}")]
    Invalid(ConfigError),
    /// Another version was saved since the one the draft started from.
    #[error(
        "version {current} was saved since version {based_on}; start from it (the difference is \
            below)\n{diff}"
    )]
    Stale {
        based_on: i64,
        current: i64,
        diff: String,
    },
    #[error("a save needs a comment: say what changed and why")]
    NoComment,
    #[error("team \"{team}\" has no version {version}")]
    NoVersion { team: String, version: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a save is: the draft, the version it started from, who and why.
pub struct Save<'a> {
    pub team: &'a str,
    pub based_on: i64,
    pub document: &'a str,
    pub author: &'a str,
    /// Where it came from (`None`: the command line).
    pub address: Option<&'a str>,
    pub comment: &'a str,
}

/// A team's latest version (`None`: it has none yet).
pub async fn current(store: &Store, team: &str) -> Result<Option<TeamVersion>, StoreError> {
    Ok(store.team_history(team).await?.into_iter().next())
}

/// Saves a draft as the team's next version: checked against `config` first (nothing is saved
/// when it does not validate), refused as stale when another was saved since `based_on`.
pub async fn save(
    config: &Config,
    store: &Store,
    s: &Save<'_>,
    now: DateTime<Utc>,
) -> Result<i64, SaveError> {
    save_as(config, store, s, None, now).await
}

/// Saves version `to` again as the team's next version (checked against today's config).
pub async fn rollback(
    config: &Config,
    store: &Store,
    s: &Save<'_>,
    to: i64,
    now: DateTime<Utc>,
) -> Result<i64, SaveError> {
    let history = store.team_history(s.team).await?;
    let Some(old) = history.iter().find(|v| v.version == to) else {
        return Err(SaveError::NoVersion {
            team: s.team.to_owned(),
            version: to,
        });
    };
    let save = Save {
        document: &old.document,
        ..*s
    };
    save_as(config, store, &save, Some(to), now).await
}

async fn save_as(
    config: &Config,
    store: &Store,
    s: &Save<'_>,
    restores: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64, SaveError> {
    if !config.teams.iter().any(|t| t.name == s.team) {
        return Err(SaveError::NoTeam(s.team.to_owned()));
    }
    if s.comment.trim().is_empty() {
        return Err(SaveError::NoComment);
    }
    // A comment is a line of history, not a document: its first 500 characters.
    let comment: String = s.comment.trim().chars().take(500).collect();
    let s = &Save {
        comment: &comment,
        ..*s
    };
    // Against every other team's latest version (a user is owned once), not the versions the
    // caller's config was made with.
    let config = config.with_documents(&store.latest_team_versions().await?);
    config
        .check_document(s.team, s.document)
        .map_err(SaveError::Invalid)?;
    let new = NewTeamVersion {
        team: s.team,
        based_on: s.based_on,
        document: s.document,
        author: s.author,
        comment: s.comment.trim(),
        restores,
    };
    let Some(version) = store.save_team_version(&new, now).await? else {
        let latest = current(store, s.team).await?;
        let (current, text) = latest.map_or((0, String::new()), |v| (v.version, v.document));
        return Err(SaveError::Stale {
            based_on: s.based_on,
            current,
            diff: diff(&text, s.document),
        });
    };
    let (action, detail) = match restores {
        Some(to) => (
            "team_rolled_back",
            format!(
                "version {version}: version {to} again — {}",
                s.comment.trim()
            ),
        ),
        None => (
            "team_saved",
            format!("version {version}: {}", s.comment.trim()),
        ),
    };
    let teams = [s.team.to_owned()];
    let entry = NewAudit {
        who: s.author,
        address: s.address,
        action,
        teams: &teams,
        detail: &detail,
    };
    if let Err(e) = store.add_audit(&entry, now).await {
        tracing::error!(action, "the audit trail could not record an act: {e}");
    }
    tracing::info!(
        team = s.team,
        version,
        author = s.author,
        "{action}: team {}'s version {version} saved; in force from the next cycle",
        s.team
    );
    Ok(version)
}

/// A line diff of two versions, unified (`-` old, `+` new), with three lines of context.
pub fn diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header("stored", "yours")
        .to_string()
}

/// The team's users and rules the file holds, as a first document (`team import NAME
/// --from-config`): the file's `[[users]]` of the team, and its rules that select only them.
pub fn from_config(config: &Config, team: &str) -> Result<String, String> {
    preview::from_config(config, team)
}
