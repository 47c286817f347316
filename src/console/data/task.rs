//! One task: its record, its assignees as `plan` sees them, its silences.

use super::*;

/// One task: as stored, its pending assignees as `plan` sees them, its silences.
#[derive(Debug, Serialize)]
pub(crate) struct TaskView {
    #[serde(flatten)]
    pub record: crate::store::TaskRecord,
    /// Its pending assignees, as `plan --json` shows them.
    pub entries: Vec<PlanEntry>,
    pub silences: Vec<crate::store::Silence>,
}

pub(crate) async fn task_view(live: &Ground, task_id: &str) -> Result<Option<TaskView>, Failure> {
    let store = &live.store;
    let Some(record) = store.task_record(task_id).await? else {
        return Ok(None);
    };
    let cx = Context::read(live).await?;
    let now = cx.now;
    let keys: Vec<(String, String)> = record
        .assignments
        .iter()
        .filter(|a| a.finished_at.is_none())
        .map(|a| (record.task_id.clone(), a.user_id.clone()))
        .collect();
    let entries = entries_for(live, &keys, &cx).await?;
    let silences = store
        .silences(true, now)
        .await?
        .into_iter()
        .filter(|s| s.task_id == record.task_id)
        .collect();
    Ok(Some(TaskView {
        record,
        entries,
        silences,
    }))
}
