//! Escalations — the task copied to the lead (cc) or a group chat about it (chat_group), when
//! reminders went unanswered — and moves: the task transferred to someone (or someone added
//! beside its assignee), for an away assignee's deputy or by escalation. Each is at most once
//! exactly like an expedite: intent committed before the call, outcome after, an ambiguous
//! answer counted as done and never repeated. A move Feishu refuses keeps its place in the
//! ledger (shown, not tried again for a day).

use super::send::api_of;
use super::{CycleError, CycleReport, Engine};
use crate::domain::CallKind;
use crate::domain::calls::Escalation;
use crate::feishu::error::{QUOTA_CODE, RATE_LIMIT_CODE};
use crate::feishu::{Act, ErrorClass, FeishuError};
use crate::prometheus;
use crate::store::{Intent, Outcome, StoreError};

/// How a call that acts ended, for the report and the metrics.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    Sent,
    Unknown,
    Failed,
    Refused,
}

impl Ended {
    fn as_str(self) -> &'static str {
        match self {
            Ended::Sent => "sent",
            Ended::Unknown => "unknown",
            Ended::Failed => "failed",
            Ended::Refused => "refused",
        }
    }
}

/// Feishu answered a move with a refusal that a retry in the next tick would only repeat: an
/// error code about this task, these people or the app's permission, or a 4xx page — never a
/// token, a rate limit, the monthly quota (nothing was sent: it stays due) or any 5xx (the
/// platform may have acted: unknown).
pub fn refuses_move(e: &FeishuError) -> bool {
    match e {
        FeishuError::Api {
            code, http_status, ..
        } => {
            *http_status < 500
                && *http_status != 429
                && ![QUOTA_CODE, RATE_LIMIT_CODE].contains(code)
                && e.class() == ErrorClass::Final
        }
        FeishuError::Http { status, .. } => {
            (400..500).contains(status) && !matches!(status, 408 | 429 | 499)
        }
        _ => false,
    }
}

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
            CallKind::Transfer => "transferred the task",
            CallKind::AddAssignee => "added an assignee",
            CallKind::Cc => "copied the task",
            CallKind::Expedite => "reminded",
        };
        let count = |report: &mut CycleReport, ended: Ended| {
            if esc.kind.moves() {
                let field = match ended {
                    Ended::Sent => &mut report.moves_sent,
                    Ended::Unknown => &mut report.moves_unknown,
                    Ended::Failed => &mut report.moves_failed,
                    Ended::Refused => &mut report.moves_refused,
                };
                *field += n;
                prometheus::moves(kind, ended.as_str(), n);
            } else {
                let field = match ended {
                    Ended::Sent => &mut report.escalations_sent,
                    Ended::Unknown => &mut report.escalations_unknown,
                    Ended::Failed | Ended::Refused => &mut report.escalations_failed,
                };
                *field += n;
                prometheus::escalations(rule, kind, ended.as_str(), n);
            }
        };
        if dry_run {
            if esc.kind.moves() {
                let what = if esc.kind == CallKind::Transfer {
                    format!(
                        "would transfer task {} from {} to {}",
                        esc.task_id,
                        esc.names.join(", "),
                        esc.people.join(", ")
                    )
                } else {
                    format!(
                        "would add {} beside {} on task {}",
                        esc.people.join(", "),
                        esc.names.join(", "),
                        esc.task_id
                    )
                };
                tracing::info!(task_id = %esc.task_id, kind, assignees = ?assignees, to = ?esc.people, rule = %rule, opinion = %esc.opinion,
                    "{what} (dry run, nothing sent)");
                report.moves_sent += n;
            } else {
                tracing::info!(task_id = %esc.task_id, kind, assignees = ?assignees, people = ?esc.people, rule = %rule,
                    "would escalate task {} for {} by {kind} (dry run, nothing sent)", esc.task_id, esc.names.join(", "));
                report.escalations_sent += n;
            }
            return Ok(());
        }
        if let Err(e) = self.client.ready_to_call().await {
            // Nothing was written and nothing left: the call stays due.
            count(report, Ended::Failed);
            tracing::error!(task_id = %esc.task_id, kind, assignees = ?assignees, rule = %rule, code = e.code(), msg = %e.msg(),
                "{kind} not sent, will try again next cycle: {e}");
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
            opinion: if esc.kind == CallKind::Chat {
                &esc.chat_name
            } else {
                &esc.opinion
            },
            recipients: &esc.assignees,
            people: &esc.people,
        };
        let intent = match self.store.record_intent(&intent, self.clock.now()).await {
            Ok(id) => id,
            Err(StoreError::AlreadyRecorded {
                task_id, user_id, ..
            }) => {
                tracing::warn!(task_id = %task_id, user = %user_id, kind, "{kind} already recorded; not sending it again");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let from: Vec<String> = esc.assignees.iter().map(|a| a.user_id.clone()).collect();
        let act = match esc.kind {
            CallKind::Chat => Act::Chat {
                invite: &esc.people,
                chat_id: esc.chat_id.as_deref(),
                chat_name: &esc.chat_name,
            },
            CallKind::Transfer => Act::Transfer {
                from: &from,
                to: &esc.people,
                opinion: &esc.opinion,
            },
            CallKind::AddAssignee => Act::AddAssignee {
                approvers: &esc.people,
                opinion: &esc.opinion,
            },
            CallKind::Cc => Act::Cc {
                user_ids: &esc.people,
            },
            CallKind::Expedite => Act::Expedite {
                user_ids: &esc.people,
                opinion: &esc.opinion,
            },
        };
        let result = self
            .client
            .act(slot, &esc.task_id, &esc.operator, act)
            .await;
        let chat = match &result {
            Ok(Some(id)) if esc.chat_id.as_deref() != Some(id.as_str()) => {
                Some((esc.task_id.as_str(), id.as_str()))
            }
            _ => None,
        };
        match &result {
            Err(e) if esc.kind.moves() && refuses_move(e) => {
                self.store
                    .record_outcome(
                        intent,
                        Outcome::Refused,
                        e.code(),
                        Some(&e.msg()),
                        None,
                        self.clock.now(),
                    )
                    .await?;
            }
            _ => self.record_call_outcome(intent, &result, chat).await?,
        }
        match result {
            Ok(chat_id) => {
                count(report, Ended::Sent);
                tracing::info!(task_id = %esc.task_id, kind, assignees = ?assignees, people = ?esc.people, rule = %rule,
                    chat_id = chat_id.as_deref().unwrap_or(""),
                    "{} task {} for {}: {what} ({})", if esc.kind.moves() { "moved" } else { "escalated" },
                    esc.task_id, esc.names.join(", "), esc.people.join(", "));
            }
            Err(e) if e.outcome_unknown() => {
                count(report, Ended::Unknown);
                tracing::warn!(task_id = %esc.task_id, kind, assignees = ?assignees, rule = %rule, error = %e,
                    "{kind} outcome unknown; counted as done and not repeated");
            }
            Err(e) if esc.kind.moves() && refuses_move(&e) => {
                count(report, Ended::Refused);
                tracing::error!(task_id = %esc.task_id, kind, assignees = ?assignees, to = ?esc.people, rule = %rule, code = e.code(), msg = %e.msg(),
                    "Feishu refused to move task {} from {}: {e}; recorded, tried again in a day", esc.task_id, esc.names.join(", "));
            }
            Err(e) => {
                count(report, Ended::Failed);
                tracing::error!(task_id = %esc.task_id, kind, assignees = ?assignees, rule = %rule, code = e.code(), msg = %e.msg(),
                    "{kind} failed, will try again next cycle: {e}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_an_answer_that_proves_a_refusal_rests_a_move_for_a_day() {
        let api = |code: i64, http_status: u16| FeishuError::Api {
            code,
            msg: "m".into(),
            http_status,
        };
        let http = |status: u16| FeishuError::Http {
            status,
            body: String::new(),
        };
        // (case, error, a refusal)
        let cases = [
            ("not an approval task", api(2320012, 400), true),
            ("a missing scope", api(99991672, 400), true),
            ("a 4xx page from a gateway", http(403), true),
            (
                "the monthly quota: nothing sent",
                api(QUOTA_CODE, 429),
                false,
            ),
            ("a rate limit", api(99991400, 429), false),
            ("a token refused", api(99991663, 400), false),
            (
                "a 5xx with a known code: may have acted",
                api(2320001, 500),
                false,
            ),
            ("a transient code", api(1500, 200), false),
            ("a 5xx page", http(502), false),
            ("a gateway timeout page", http(408), false),
            (
                "a timeout",
                FeishuError::Timeout(Duration::from_secs(1)),
                false,
            ),
            (
                "no connection",
                FeishuError::Connect("refused".into()),
                false,
            ),
            (
                "no token",
                FeishuError::NoToken(Box::new(api(10003, 400))),
                false,
            ),
        ];
        for (name, e, want) in cases {
            assert_eq!(refuses_move(&e), want, "{name}: {e}");
        }
    }
}
