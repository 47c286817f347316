//! Escalations: the task copied to the lead (cc) or a group chat about it (chat_group), when
//! reminders went unanswered. Each is at most once exactly like an expedite: intent committed
//! before the call, outcome after, an ambiguous answer counted as done and never repeated.

use super::send::api_of;
use super::{CycleError, CycleReport, Engine};
use crate::domain::CallKind;
use crate::domain::calls::Escalation;
use crate::prometheus;
use crate::store::{Intent, StoreError};

impl Engine {
    pub(super) async fn escalate(
        &self,
        esc: Escalation,
        dry_run: bool,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let rule = &self.config.rules[esc.rule].name;
        let kind = esc.kind.as_str();
        let assignees: Vec<&str> = esc.assignees.iter().map(|a| a.user_id.as_str()).collect();
        let n = esc.assignees.len() as u64;
        let what = match esc.kind {
            CallKind::Chat if esc.chat_id.is_some() => "invited into the task's chat",
            CallKind::Chat => "opened a group chat",
            _ => "copied the task",
        };
        if dry_run {
            tracing::info!(task_id = %esc.task_id, kind, assignees = ?assignees, people = ?esc.people, rule = %rule,
                "would escalate task {} for {} by {kind} (dry run, nothing sent)", esc.task_id, esc.names.join(", "));
            report.escalations_sent += n;
            return Ok(());
        }
        if let Err(e) = self.client.ready_to_call().await {
            // Nothing was written and nothing left: the escalation stays due.
            report.escalations_failed += n;
            prometheus::escalations(rule, kind, "failed", n);
            tracing::error!(task_id = %esc.task_id, kind, assignees = ?assignees, rule = %rule, code = e.code(), msg = %e.msg(),
                "escalation not sent, will try again next cycle: {e}");
            return Ok(());
        }
        let slot = self
            .client
            .reserve(api_of(esc.kind))
            .await
            .fenced_by(self.fence());
        let intent = Intent {
            kind: esc.kind,
            task_id: &esc.task_id,
            rule,
            operator: &esc.operator,
            opinion: &esc.chat_name,
            recipients: &esc.assignees,
        };
        let intent = match self.store.record_intent(&intent, self.clock.now()).await {
            Ok(id) => id,
            Err(StoreError::AlreadyRecorded {
                task_id, user_id, ..
            }) => {
                tracing::warn!(task_id = %task_id, user = %user_id, kind, "escalation already recorded; not sending it again");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let result = match esc.kind {
            CallKind::Chat => {
                self.client
                    .chat_group(
                        slot,
                        &esc.task_id,
                        &esc.operator,
                        &esc.people,
                        esc.chat_id.as_deref(),
                        &esc.chat_name,
                    )
                    .await
            }
            _ => self
                .client
                .cc(slot, &esc.task_id, &esc.operator, &esc.people)
                .await
                .map(|()| None),
        };
        let chat = match &result {
            Ok(Some(id)) if esc.chat_id.as_deref() != Some(id.as_str()) => {
                Some((esc.task_id.as_str(), id.as_str()))
            }
            _ => None,
        };
        self.record_call_outcome(intent, &result, chat).await?;
        match result {
            Ok(chat_id) => {
                report.escalations_sent += n;
                prometheus::escalations(rule, kind, "sent", n);
                tracing::info!(task_id = %esc.task_id, kind, assignees = ?assignees, people = ?esc.people, rule = %rule,
                    chat_id = chat_id.as_deref().unwrap_or(""),
                    "escalated task {} for {}: {what} ({})", esc.task_id, esc.names.join(", "), esc.people.join(", "));
            }
            Err(e) if e.outcome_unknown() => {
                report.escalations_unknown += n;
                prometheus::escalations(rule, kind, "unknown", n);
                tracing::warn!(task_id = %esc.task_id, kind, assignees = ?assignees, rule = %rule, error = %e,
                    "escalation outcome unknown; counted as done and not repeated");
            }
            Err(e) => {
                report.escalations_failed += n;
                prometheus::escalations(rule, kind, "failed", n);
                tracing::error!(task_id = %esc.task_id, kind, assignees = ?assignees, rule = %rule, code = e.code(), msg = %e.msg(),
                    "escalation failed, will try again next cycle: {e}");
            }
        }
        Ok(())
    }
}
