-- A complete listing that lacks a task is not proof it finished: offset paging over a live
-- list can skip a task that slid back a page. The first such listing only sets missing_since;
-- the next complete listing that lacks it too finishes it (as of missing_since). A listing that
-- holds it again clears the mark.
ALTER TABLE assignments ADD COLUMN missing_since INTEGER;

-- Direct reads instead of scans of the whole history: open intents at start, tasks first seen
-- this cycle, a user's pending tasks.
CREATE INDEX expedites_open ON expedites(id) WHERE outcome = 'pending';
CREATE INDEX tasks_pending_by_first_seen ON tasks(first_seen) WHERE finished_at IS NULL;
CREATE INDEX assignments_pending ON assignments(user_id, task_id) WHERE finished_at IS NULL;
