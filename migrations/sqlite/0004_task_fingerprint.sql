-- A hash of a task's facts as last listed, so a cycle can tell unchanged tasks from changed
-- ones without reading them back in full. NULL for rows written before it existed: those are
-- rewritten once.
ALTER TABLE tasks ADD COLUMN fingerprint INTEGER;
