-- What listings taught about a task's flow, both ways: member = 1 when a listing filtered by
-- flow_set returned the task, 0 when a complete unfiltered listing held it and the filtered one
-- of the same cycle did not. A task's flow never changes, so known answers are never re-asked.
ALTER TABLE task_flows ADD COLUMN member INTEGER NOT NULL DEFAULT 1;
