-- Each digest post, recorded before the post: a digest is posted once per fire time. (On
-- PostgreSQL the same migration also records the app of each intent, for the lease's epochs;
-- SQLite has one instance and no lease.)
CREATE TABLE digest_posts (
    app_id    TEXT    NOT NULL DEFAULT '',  -- PostgreSQL's lease key; one instance here
    digest    TEXT    NOT NULL,
    fire_at   INTEGER NOT NULL,  -- the schedule's fire time (a whole second), epoch ms
    posted_at INTEGER NOT NULL,  -- when it was claimed, epoch ms
    epoch     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, digest, fire_at)
) WITHOUT ROWID;

-- One filtered listing that lacks a task is no proof it is of another flow (offset paging can
-- skip a task, as for finishing): member = 0 is a doubt until a complete filtered listing in a
-- later cycle lacks it too (confirmed = 1); only then is the task's flow known and that listing
-- skipped for it. doubted_in is the start of the cycle whose listing first lacked it. Rows from
-- before are doubts, so they are checked once more.
ALTER TABLE task_flows ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_flows ADD COLUMN doubted_in INTEGER;

-- Who ended a silence (`silence remove`, the console), beside who made it.
ALTER TABLE silences ADD COLUMN ended_by TEXT;
