//! Team documents on the console: the services the editor page and the API share (read, save,
//! preview, history, rollback — a lead for their teams, an admin for every team; another
//! team's is as unknown).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::Failure;
use super::services::Services;
use super::visitor::Visitor;
use crate::documents::{self, Preview, PreviewError, Save, SaveError};
use crate::store::TeamVersion;

/// A team's document as the editor and `GET /api/v1/teams/{team}` give it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TeamView {
    pub team: String,
    /// The latest version's text (empty: none yet).
    pub document: String,
    /// 0: none yet.
    pub version: i64,
    pub author: Option<String>,
    pub saved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub comment: Option<String>,
    /// May this visitor save?
    pub editable: bool,
    /// Why the version is not in force, when it is not.
    pub problem: Option<String>,
    /// Every version, newest first (without their text).
    pub history: Vec<VersionLine>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct VersionLine {
    pub version: i64,
    pub author: String,
    pub saved_at: chrono::DateTime<chrono::Utc>,
    pub comment: String,
    pub restores: Option<i64>,
}

/// Why a team write was not made.
pub(crate) enum Refused {
    Failure(Failure),
    Save(SaveError),
}

impl From<Failure> for Refused {
    fn from(f: Failure) -> Refused {
        Refused::Failure(f)
    }
}

impl From<crate::store::StoreError> for Refused {
    fn from(e: crate::store::StoreError) -> Refused {
        Refused::Failure(e.into())
    }
}

impl Refused {
    /// As the API's JSON: 400 with line and column for a document that does not validate,
    /// 409 with the difference for a stale save.
    pub(crate) fn api(self) -> Response {
        let save = match self {
            Refused::Failure(f) => return f.api(),
            Refused::Save(s) => s,
        };
        let (status, body) = match &save {
            SaveError::Invalid(e) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "error": save.to_string(),
                    "field": "document",
                    "key": e.key,
                    "line": e.position.map(|p| p.0),
                    "column": e.position.map(|p| p.1),
                }),
            ),
            SaveError::Stale { current, diff, .. } => (
                StatusCode::CONFLICT,
                serde_json::json!({ "error": save.to_string(), "version": current, "diff": diff }),
            ),
            SaveError::NoComment => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": save.to_string(), "field": "comment" }),
            ),
            SaveError::NoTeam(_) | SaveError::NoVersion { .. } => (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": save.to_string() }),
            ),
            SaveError::Store(_) => return Failure::Unavailable.api(),
        };
        (status, Json(body)).into_response()
    }
}

fn line(v: &TeamVersion) -> VersionLine {
    VersionLine {
        version: v.version,
        author: v.author.clone(),
        saved_at: v.saved_at,
        comment: v.comment.clone(),
        restores: v.restores,
    }
}

impl Services {
    /// The team as `v` may read it: another team's is as unknown (404).
    fn readable(&self, v: &Visitor, team: &str) -> Result<(), Failure> {
        let known = self.ground.config.teams.iter().any(|t| t.name == team);
        if !known || !self.scope(v).sees_team(team) {
            return Err(Failure::NotFound(format!("no team {team}")));
        }
        Ok(())
    }

    /// Reading it is allowed, writing needs a lead of it (or an admin).
    fn writable(&self, v: &Visitor, team: &str) -> Result<(), Failure> {
        self.readable(v, team)?;
        if !self.scope(v).leads_team(team) {
            return Err(Failure::Forbidden(
                "only the team's leads (and admins) edit its document".into(),
            ));
        }
        Ok(())
    }

    /// The team's latest version (or one of its versions) with its history.
    pub(crate) async fn team(
        &self,
        v: &Visitor,
        team: &str,
        version: Option<i64>,
    ) -> Result<TeamView, Failure> {
        self.readable(v, team)?;
        let history = self.ground.store.team_history(team).await?;
        let shown = match version {
            Some(n) => Some(
                history
                    .iter()
                    .find(|h| h.version == n)
                    .ok_or_else(|| Failure::NotFound(format!("team {team} has no version {n}")))?,
            ),
            None => history.first(),
        };
        let problem = self
            .ground
            .config
            .documents
            .iter()
            .find(|d| d.team == team)
            .and_then(|d| d.problem.clone());
        Ok(TeamView {
            team: team.to_owned(),
            document: shown.map(|h| h.document.clone()).unwrap_or_default(),
            version: shown.map_or(0, |h| h.version),
            author: shown.map(|h| h.author.clone()),
            saved_at: shown.map(|h| h.saved_at),
            comment: shown.map(|h| h.comment.clone()),
            editable: self.scope(v).leads_team(team),
            problem,
            history: history.iter().map(line).collect(),
        })
    }

    /// A line diff of two versions of the team's document.
    pub(crate) async fn team_diff(
        &self,
        v: &Visitor,
        team: &str,
        from: i64,
        to: i64,
    ) -> Result<String, Failure> {
        self.readable(v, team)?;
        let history = self.ground.store.team_history(team).await?;
        let text = |n: i64| -> Result<&str, Failure> {
            if n == 0 {
                return Ok("");
            }
            history
                .iter()
                .find(|h| h.version == n)
                .map(|h| h.document.as_str())
                .ok_or_else(|| Failure::NotFound(format!("team {team} has no version {n}")))
        };
        Ok(documents::diff(text(from)?, text(to)?))
    }

    /// What `draft` would change (nothing is saved).
    pub(crate) async fn preview_team(
        &self,
        v: &Visitor,
        team: &str,
        draft: &str,
    ) -> Result<Preview, Refused> {
        self.writable(v, team)?;
        let g = &self.ground;
        documents::preview(&g.config, &g.store, team, draft, g.clock.now())
            .await
            .map_err(|e| match e {
                PreviewError::Invalid(e) => Refused::Save(SaveError::Invalid(e)),
                PreviewError::Store(e) => e.into(),
            })
    }

    /// Saves `draft` as the team's next version, based on `based_on`.
    pub(crate) async fn save_team(
        &self,
        v: &Visitor,
        team: &str,
        based_on: i64,
        draft: &str,
        comment: &str,
    ) -> Result<i64, Refused> {
        self.writable(v, team)?;
        let g = &self.ground;
        let save = Save {
            team,
            based_on,
            document: draft,
            author: &v.who,
            address: v.address.as_deref(),
            comment,
        };
        documents::save(&g.config, &g.store, &save, g.clock.now())
            .await
            .map_err(Refused::Save)
    }

    /// Saves version `to` again as the team's next version.
    pub(crate) async fn rollback_team(
        &self,
        v: &Visitor,
        team: &str,
        based_on: i64,
        to: i64,
    ) -> Result<i64, Refused> {
        self.writable(v, team)?;
        let g = &self.ground;
        let comment = format!("rollback to version {to}");
        let save = Save {
            team,
            based_on,
            document: "",
            author: &v.who,
            address: v.address.as_deref(),
            comment: &comment,
        };
        documents::rollback(&g.config, &g.store, &save, to, g.clock.now())
            .await
            .map_err(Refused::Save)
    }
}
