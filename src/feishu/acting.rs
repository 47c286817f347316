//! The calls that act on the platform — expediting, cc, a task's group chat — and what guards
//! them: a paced [`Slot`] taken *before* the intent is recorded, so that the moment between
//! "intent on disk" and "request sent" stays short, and the [`Fence`] asked right before each
//! attempt leaves. A call that acts is never repeated after an answer that may mean it was done.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Api, FeishuClient, FeishuError, MAX_EXPEDITE_IDS, wire};
use crate::domain::CallKind;

/// A paced turn to call one API, from [`FeishuClient::reserve`].
#[must_use]
pub struct Slot {
    pub(super) api: Api,
    /// Asked right before each attempt of the call: false holds it back, unsent.
    pub(super) fence: Option<Fence>,
}

/// Whether a call that acts may still go out: on PostgreSQL, whether this instance's lease
/// holds by its own monotonic clock.
pub type Fence = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slot({:?}, fenced: {})", self.api, self.fence.is_some())
    }
}

impl Slot {
    /// This slot's call (and its retries) go out only while `fence` says so.
    pub fn fenced_by(self, fence: Fence) -> Slot {
        Slot {
            fence: Some(fence),
            ..self
        }
    }
}

impl FeishuClient {
    /// Waits for the next free slot of `api`'s budget. The caller uses it for its next call to
    /// that API; the expediting path takes its slot *before* recording the intent, so the
    /// moment between "intent on disk" and "request sent" stays as short as possible.
    pub async fn reserve(&self, api: Api) -> Slot {
        self.paced(api).await;
        Slot { api, fence: None }
    }

    /// When the next call to `api` may go, without taking that turn.
    pub fn next_slot(&self, api: Api) -> Instant {
        self.pacer(api).next_free()
    }

    /// Makes one call that acts about `task_id`, as `operator`, in a slot from
    /// [`reserve`](Self::reserve) for its kind. A timeout or a broken answer is returned at
    /// once, never retried: the platform may have acted. A chat answers the chat's id.
    pub async fn act(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        act: Act<'_>,
    ) -> Result<Option<String>, FeishuError> {
        let kind = act.kind();
        debug_assert_eq!(slot.api, Api::Acts(kind));
        let body = act.body(operator);
        let answer = self
            .call(
                Api::Acts(kind),
                Some(slot),
                &kind.path(task_id),
                &body,
                None,
            )
            .await?;
        Ok(match act {
            Act::Chat { .. } => serde_json::from_slice::<Value>(&answer.data())
                .ok()
                .and_then(|v| v.get("chat_id").and_then(wire::as_string))
                .filter(|id| !id.is_empty()),
            Act::Expedite { .. }
            | Act::Cc { .. }
            | Act::Transfer { .. }
            | Act::AddAssignee { .. } => None,
        })
    }
}

/// A call that acts, with what it carries: one variant per [`CallKind`] (its discriminant).
#[derive(Debug, Clone, Copy)]
pub enum Act<'a> {
    /// A reminder to `user_ids` (1..=20).
    Expedite {
        user_ids: &'a [String],
        opinion: &'a str,
    },
    /// The task copied to `user_ids` (escalation).
    Cc { user_ids: &'a [String] },
    /// A group chat about the task with `invite` — or, with `chat_id`, `invite` asked into it.
    Chat {
        invite: &'a [String],
        chat_id: Option<&'a str>,
        chat_name: &'a str,
    },
    /// The approval task moved from `from` to `to`.
    Transfer {
        from: &'a [String],
        to: &'a [String],
        opinion: &'a str,
    },
    /// `approvers` (1..=20) added beside the task's assignees, in parallel.
    AddAssignee {
        approvers: &'a [String],
        opinion: &'a str,
    },
}

impl Act<'_> {
    pub fn kind(&self) -> CallKind {
        match self {
            Act::Expedite { .. } => CallKind::Expedite,
            Act::Cc { .. } => CallKind::Cc,
            Act::Chat { .. } => CallKind::Chat,
            Act::Transfer { .. } => CallKind::Transfer,
            Act::AddAssignee { .. } => CallKind::AddAssignee,
        }
    }

    /// The request's body, as the platform wants it.
    fn body(&self, operator: &str) -> Value {
        match *self {
            Act::Expedite { user_ids, opinion } => {
                debug_assert!(!user_ids.is_empty() && user_ids.len() <= MAX_EXPEDITE_IDS);
                let mut body = json!({
                    "operator_user_id": operator,
                    "expediting_user_ids": user_ids,
                });
                if !opinion.is_empty() {
                    body["opinion"] = json!(opinion);
                }
                body
            }
            Act::Cc { user_ids } => json!({"operator_user_id": operator, "cc_user_ids": user_ids}),
            Act::Chat {
                invite,
                chat_id,
                chat_name,
            } => {
                let mut body = json!({"operator_user_id": operator, "invite_user_ids": invite});
                if let Some(id) = chat_id {
                    body["chat_id"] = json!(id);
                }
                if !chat_name.is_empty() {
                    body["chat_name"] = json!(chat_name);
                }
                body
            }
            Act::Transfer { from, to, opinion } => json!({
                "user_id": operator,
                "from_user_ids": from,
                "to_user_ids": to,
                "opinion": opinion,
            }),
            Act::AddAssignee { approvers, opinion } => json!({
                "user_id": operator,
                "approvers": approvers,
                "add_assignee_type": "currentAndAddAssign",
                "opinion": opinion,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_escaped_in_the_path() {
        assert_eq!(
            CallKind::Expedite.path("123"),
            "/open-apis/apaas/v1/user_tasks/123/expediting"
        );
        assert_eq!(
            CallKind::Expedite.path("a/b c"),
            "/open-apis/apaas/v1/user_tasks/a%2Fb%20c/expediting"
        );
    }

    /// The strings a kind gives the ledger, metrics, logs and the wire are stored or exported:
    /// each is pinned here, so that reshaping the enum cannot change one.
    #[test]
    fn every_kind_keeps_its_stored_and_exported_strings() {
        let pinned = [
            (
                CallKind::Expedite,
                "expedite",
                "user_task.expediting",
                "user_tasks/T/expediting",
            ),
            (CallKind::Cc, "cc", "user_task.cc", "user_tasks/T/cc"),
            (
                CallKind::Chat,
                "chat",
                "user_task.chat_group",
                "user_tasks/T/chat_group",
            ),
            (
                CallKind::Transfer,
                "transfer",
                "approval_task.transfer",
                "approval_tasks/T/transfer",
            ),
            (
                CallKind::AddAssignee,
                "add_assignee",
                "approval_task.add_assignee",
                "approval_tasks/T/add_assignee",
            ),
        ];
        assert_eq!(pinned.map(|p| p.0), CallKind::ALL, "every kind, in order");
        for (kind, stored, api, path) in pinned {
            assert_eq!(kind.as_str(), stored);
            assert_eq!(CallKind::parse(stored), Some(kind));
            assert_eq!(Api::Acts(kind).name(), api);
            assert_eq!(kind.path("T"), format!("/open-apis/apaas/v1/{path}"));
            assert_eq!(
                kind.route(),
                format!("/open-apis/apaas/v1/{}", path.replace("/T/", "/{task_id}/"))
            );
        }
        assert_eq!(Api::Query.name(), "user_task.query");
        for (i, api) in Api::ALL.into_iter().enumerate() {
            assert_eq!(api.index(), i, "{api:?}");
        }
    }

    /// Each kind's body, byte for byte as it went before the calls became one enum.
    #[test]
    fn every_act_sends_the_body_its_api_wants() {
        let ids = ["u1".to_owned(), "u2".to_owned()];
        let to = ["d".to_owned()];
        let cases = [
            (
                Act::Expedite {
                    user_ids: &ids,
                    opinion: "",
                },
                r#"{"expediting_user_ids":["u1","u2"],"operator_user_id":"op"}"#,
            ),
            (
                Act::Expedite {
                    user_ids: &ids[..1],
                    opinion: "please",
                },
                r#"{"expediting_user_ids":["u1"],"operator_user_id":"op","opinion":"please"}"#,
            ),
            (
                Act::Cc { user_ids: &to },
                r#"{"cc_user_ids":["d"],"operator_user_id":"op"}"#,
            ),
            (
                Act::Chat {
                    invite: &ids,
                    chat_id: Some("oc_1"),
                    chat_name: "T",
                },
                r#"{"chat_id":"oc_1","chat_name":"T","invite_user_ids":["u1","u2"],"operator_user_id":"op"}"#,
            ),
            (
                Act::Transfer {
                    from: &ids[..1],
                    to: &to,
                    opinion: "away",
                },
                r#"{"from_user_ids":["u1"],"opinion":"away","to_user_ids":["d"],"user_id":"op"}"#,
            ),
            (
                Act::AddAssignee {
                    approvers: &to,
                    opinion: "away",
                },
                r#"{"add_assignee_type":"currentAndAddAssign","approvers":["d"],"opinion":"away","user_id":"op"}"#,
            ),
        ];
        for (act, want) in cases {
            assert_eq!(act.body("op").to_string(), want, "{:?}", act.kind());
        }
    }
}
