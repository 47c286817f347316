//! A call about to go, looked at again: the cycle decides at its start, and people change what
//! holds a task back while it runs (a silence made, an away window begun or ended).

use super::{CycleError, CycleReport, Engine};
use crate::domain::CallKind;
use crate::domain::calls::{Call, Escalation};

impl Engine {
    /// A reminder about to go, looked at again: a silence made or an away window begun since
    /// the cycle decided holds its assignees back now (the call goes to the others, or not at
    /// all). Decisions are made at the cycle's start; people change them while it runs.
    pub(super) async fn still_free(
        &self,
        mut call: Call,
        report: &mut CycleReport,
    ) -> Result<Option<Call>, CycleError> {
        let holds = self
            .store
            .holds_now(&call.task_id, self.clock.now())
            .await?;
        let mut names = std::mem::take(&mut call.names).into_iter();
        let mut kept = Vec::new();
        let before = call.assignees.len();
        call.assignees.retain(|a| {
            let name = names.next().unwrap_or_default();
            if holds.is_away(&a.user_id) {
                report.away += 1;
                tracing::info!(task_id = %call.task_id, user = %a.user_id, "not reminded: away since the cycle decided");
                false
            } else if holds.holds(&a.user_id) {
                report.silenced += 1;
                tracing::info!(task_id = %call.task_id, user = %a.user_id, "not reminded: silenced since the cycle decided");
                false
            } else {
                kept.push(name);
                true
            }
        });
        call.names = kept;
        if call.assignees.len() != before && !call.assignees.is_empty() {
            call.render_opinion(&self.config.rules);
        }
        Ok((!call.assignees.is_empty()).then_some(call))
    }

    /// An escalation or a move about to go, looked at again as [`Self::still_free`] does: its
    /// assignees held now are left out, and so is anyone away now that it would copy, invite or
    /// move the task to. A move to the deputy goes only while the window still holds.
    pub(super) async fn escalation_still_free(
        &self,
        mut esc: Escalation,
        report: &mut CycleReport,
    ) -> Result<Option<Escalation>, CycleError> {
        let holds = self.store.holds_now(&esc.task_id, self.clock.now()).await?;
        let mut names = std::mem::take(&mut esc.names).into_iter();
        let mut kept = Vec::new();
        let deputy = esc.deputy.then(|| esc.people.first().cloned()).flatten();
        esc.assignees.retain(|a| {
            let name = names.next().unwrap_or_default();
            let silenced = holds.whole_task || holds.silenced.contains(&a.user_id);
            let away = holds.is_away(&a.user_id);
            // A deputy's move goes only while a window naming that deputy holds; anything else
            // is for someone here.
            let go = !silenced
                && match &deputy {
                    Some(d) => holds.away_with_deputy(&a.user_id, d),
                    None => !away,
                };
            if go {
                kept.push(name);
            } else {
                if silenced {
                    report.silenced += 1;
                } else if away && deputy.is_none() {
                    report.away += 1;
                }
                tracing::info!(task_id = %esc.task_id, user = %a.user_id, kind = esc.kind.as_str(),
                    silenced, away, "not sent for this assignee: a silence or an away window changed since the cycle decided");
            }
            go
        });
        esc.names = kept;
        let targets = esc.people.len();
        esc.people.retain(|p| !holds.is_away(p));
        let dropped_targets = esc.people.len() != targets;
        let nobody = esc.assignees.is_empty()
            || (esc.people.is_empty() && needs_people(esc.kind))
            || (dropped_targets && esc.kind.moves());
        if nobody {
            return Ok(None);
        }
        Ok(Some(esc))
    }
}

/// Does a call of this kind go to someone named in it (and so not at all once nobody is left)?
/// A chat may open with the assignees alone; a reminder names only them.
fn needs_people(kind: CallKind) -> bool {
    match kind {
        CallKind::Cc | CallKind::Transfer | CallKind::AddAssignee => true,
        CallKind::Expedite | CallKind::Chat => false,
    }
}
