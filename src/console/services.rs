//! The console's writes, shared by the pages and the API: each checks what it is given once
//! (the same checks as the command line), records it with who did it, and refreshes what the
//! pages show.

use super::Console;
use super::data;
use super::error::Failure;
use super::visitor::Visitor;
use crate::holds::Names;
use crate::holds::silence::{SilenceRequest, check_new};
use crate::store::NewSilence;

/// The checks of `silence add`, then the silence, recorded as made by `v`.
pub(super) async fn add_silence(
    console: &Console,
    v: &Visitor,
    task_id: &str,
    user: Option<&str>,
    duration: Option<&str>,
    until: Option<&str>,
    reason: &str,
) -> Result<(i64, Option<String>), Failure> {
    let live = console.live();
    let store = &live.engine.store;
    let now = live.engine.clock.now();
    let request = SilenceRequest {
        task: task_id,
        user,
        duration,
        until,
    };
    let checked = check_new(&live.engine.config, store, &request, Names::Api, now)
        .await?
        .map_err(|r| Failure::BadField(r.field.into(), r.message))?;
    let reason: String = reason.trim().chars().take(500).collect();
    let id = store
        .add_silence(
            &NewSilence {
                task_id: &checked.task,
                user_id: checked.user.as_deref(),
                until: checked.until,
                reason: &reason,
                created_by: &v.who,
            },
            now,
        )
        .await?;
    tracing::info!(silence = id, task = %checked.task, by = %v.who, "console: silence added");
    data::invalidate(console);
    Ok((id, checked.warning))
}

/// Records an away window on behalf of `v`, after the checks of `away add`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn add_away_window(
    console: &Console,
    v: &Visitor,
    user: &str,
    duration: Option<&str>,
    until: Option<&str>,
    from: Option<&str>,
    deputy: Option<&str>,
    reason: &str,
) -> Result<i64, Failure> {
    use crate::holds::away::{AwayRequest, check_new};
    let live = console.live();
    let now = live.engine.clock.now();
    let req = AwayRequest {
        user,
        duration,
        until,
        from,
        deputy,
    };
    let (user, from, until, deputy) = check_new(&live.engine.config, &req, Names::Api, now)
        .map_err(|(field, message)| Failure::BadField(field.into(), message))?;
    let reason: String = reason.trim().chars().take(500).collect();
    let id = live
        .engine
        .store
        .add_away(
            &crate::store::NewAway {
                user_id: &user,
                from,
                until,
                deputy: deputy.as_deref(),
                reason: &reason,
                created_by: &v.who,
            },
            now,
        )
        .await?;
    tracing::info!(away = id, user = %user, by = %v.who, "console: away window added");
    data::invalidate(console);
    Ok(id)
}

/// Ends an away window on behalf of `v`: `Ok(true)` if this ended it.
pub(super) async fn end_away_window(
    console: &Console,
    v: &Visitor,
    id: i64,
) -> Result<bool, Failure> {
    let live = console.live();
    let now = live.engine.clock.now();
    match live.engine.store.end_away(id, &v.who, now).await? {
        None => Err(Failure::NotFound(format!("no away window {id}"))),
        Some(a) if a.ended_at.is_none() && a.until > now => {
            tracing::info!(away = id, by = %v.who, "console: away window removed");
            data::invalidate(console);
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}
