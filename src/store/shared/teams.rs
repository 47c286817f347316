//! Team documents: each saved version, kept whole.

use super::*;
use crate::store::model::{NewTeamVersion, TeamVersion};

const COLUMNS: &str = "team, version, document, author, comment, saved_at, restores";

type Row = (String, i64, String, String, String, i64, Option<i64>);

fn version((team, version, document, author, comment, saved_at, restores): Row) -> TeamVersion {
    TeamVersion {
        team,
        version,
        document,
        author,
        comment,
        saved_at: from_ms(saved_at),
        restores,
    }
}

in_both! {
    /// Saves version `based_on + 1` of a team's document, unless another was saved since
    /// `based_on` (`None`: stale).
    pub(in crate::store) async fn save_team_version(
        &self,
        v: &NewTeamVersion<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        // A version number no save could have reached: nothing is based on it.
        let Some(next) = v.based_on.checked_add(1).filter(|_| v.based_on >= 0) else {
            return Ok(None);
        };
        let done = sqlx::query(
            "INSERT INTO team_versions (team, version, document, author, comment, saved_at, \
                restores)
             SELECT $1, $2, $3, $4, $5, $6, $7
             WHERE (SELECT COALESCE(MAX(version), 0) FROM team_versions WHERE team = $1) = $8",
        )
        .bind(v.team)
        .bind(next)
        .bind(v.document)
        .bind(v.author)
        .bind(v.comment)
        .bind(ms(now))
        .bind(v.restores)
        .bind(v.based_on)
        .execute(&self.pool)
        .await;
        match done {
            Ok(d) if d.rows_affected() == 1 => Ok(Some(next)),
            Ok(_) => Ok(None),
            // Two saves from the same version at once: the second loses, as stale.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(self.err("save a team's document")(e)),
        }
    }

    /// Every team's latest version.
    pub(in crate::store) async fn latest_team_versions(
        &self,
    ) -> Result<Vec<TeamVersion>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM team_versions v
             WHERE version = (SELECT MAX(version) FROM team_versions w WHERE w.team = v.team)
             ORDER BY team"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read the teams' documents"))?;
        Ok(rows.into_iter().map(version).collect())
    }

    /// Every version of a team's document, newest first.
    pub(in crate::store) async fn team_history(
        &self,
        team: &str,
    ) -> Result<Vec<TeamVersion>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM team_versions WHERE team = $1 ORDER BY version DESC"
        )))
        .bind(team)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a team's versions"))?;
        Ok(rows.into_iter().map(version).collect())
    }
}
