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

    /// Sends one reminder for `task_id` to `user_ids` (1..=20), in a slot from
    /// [`reserve`](Self::reserve). A timeout or a broken answer is returned at once, never
    /// retried: the platform may have acted.
    pub async fn expedite(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        user_ids: &[String],
        opinion: &str,
    ) -> Result<(), FeishuError> {
        debug_assert!(!user_ids.is_empty() && user_ids.len() <= MAX_EXPEDITE_IDS);
        let mut body = json!({
            "operator_user_id": operator,
            "expediting_user_ids": user_ids,
        });
        if !opinion.is_empty() {
            body["opinion"] = json!(opinion);
        }
        debug_assert_eq!(slot.api, Api::Acts(CallKind::Expedite));
        self.call(
            Api::Acts(CallKind::Expedite),
            Some(slot),
            &CallKind::Expedite.path(task_id),
            &body,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Copies `task_id` to `user_ids` (escalation), in a slot from [`reserve`](Self::reserve).
    /// Never retried after an answer that may mean it was done.
    pub async fn cc(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        user_ids: &[String],
    ) -> Result<(), FeishuError> {
        debug_assert_eq!(slot.api, Api::Acts(CallKind::Cc));
        let body = json!({"operator_user_id": operator, "cc_user_ids": user_ids});
        self.call(
            Api::Acts(CallKind::Cc),
            Some(slot),
            &CallKind::Cc.path(task_id),
            &body,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Transfers approval task `task_id` from `from` to `to`, as `operator`, in a slot from
    /// [`reserve`](Self::reserve). Never retried after an answer that may mean it was done.
    pub async fn transfer(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        from: &[String],
        to: &[String],
        opinion: &str,
    ) -> Result<(), FeishuError> {
        debug_assert_eq!(slot.api, Api::Acts(CallKind::Transfer));
        let body = json!({
            "user_id": operator,
            "from_user_ids": from,
            "to_user_ids": to,
            "opinion": opinion,
        });
        self.call(
            Api::Acts(CallKind::Transfer),
            Some(slot),
            &CallKind::Transfer.path(task_id),
            &body,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Adds `approvers` (1..=20) beside approval task `task_id`'s assignees, in parallel, as
    /// `operator`, in a slot from [`reserve`](Self::reserve). Never retried after an answer
    /// that may mean it was done.
    pub async fn add_assignee(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        approvers: &[String],
        opinion: &str,
    ) -> Result<(), FeishuError> {
        debug_assert_eq!(slot.api, Api::Acts(CallKind::AddAssignee));
        let body = json!({
            "user_id": operator,
            "approvers": approvers,
            "add_assignee_type": "currentAndAddAssign",
            "opinion": opinion,
        });
        self.call(
            Api::Acts(CallKind::AddAssignee),
            Some(slot),
            &CallKind::AddAssignee.path(task_id),
            &body,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Opens a group chat about `task_id` with `invite` (or, with `chat_id`, invites them into
    /// that chat); returns the chat's id. Never retried after an answer that may mean it was done.
    pub async fn chat_group(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        invite: &[String],
        chat_id: Option<&str>,
        chat_name: &str,
    ) -> Result<Option<String>, FeishuError> {
        debug_assert_eq!(slot.api, Api::Acts(CallKind::Chat));
        let mut body = json!({"operator_user_id": operator, "invite_user_ids": invite});
        if let Some(id) = chat_id {
            body["chat_id"] = json!(id);
        }
        if !chat_name.is_empty() {
            body["chat_name"] = json!(chat_name);
        }
        let answer = self
            .call(
                Api::Acts(CallKind::Chat),
                Some(slot),
                &CallKind::Chat.path(task_id),
                &body,
                None,
            )
            .await?;
        Ok(serde_json::from_slice::<Value>(&answer.data())
            .ok()
            .and_then(|v| v.get("chat_id").and_then(wire::as_string))
            .filter(|id| !id.is_empty()))
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
}
