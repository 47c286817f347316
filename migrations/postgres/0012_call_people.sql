-- Who a call named beyond the assignees: a move's new assignees (transfer_to, the deputy), a
-- cc's copied people, a chat's invitees; comma-separated kunlun ids, NULL for a reminder.
ALTER TABLE expedites ADD COLUMN people TEXT;
-- Moves are few among the calls: the pairs query reads a task's moves through this alone.
CREATE INDEX expedites_moves ON expedites(task_id) WHERE kind IN ('transfer', 'add_assignee');
