-- An assignment that left a watched user's list because we transferred the task away from them
-- is "moved away", not done; a task whose every watched assignee it left was moved away from is
-- not known to be done either. Set when the assignment (the task) finishes; read only
-- while it is finished. Rows finished before this release are marked once here.
ALTER TABLE assignments ADD COLUMN moved_away INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN moved_away INTEGER NOT NULL DEFAULT 0;
UPDATE assignments SET moved_away = 1
 WHERE finished_at IS NOT NULL
   AND EXISTS (SELECT 1 FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
                WHERE ea.task_id = assignments.task_id AND ea.user_id = assignments.user_id
                  AND ea.kind = 'transfer' AND ea.counts AND e.outcome <> 'failed');
UPDATE tasks SET moved_away = 1
 WHERE finished_at IS NOT NULL
   AND EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = tasks.task_id AND a.moved_away = 1)
   AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = tasks.task_id AND a.moved_away = 0);
