-- Each digest post, recorded before the post by the instance that holds the lease (the insert
-- reads the lease row as intents do): a digest is posted once per fire time by a pair, even by
-- an instance that slept through losing its lease.
CREATE TABLE digest_posts (
    app_id    TEXT   NOT NULL,  -- whose lease: two apps sharing a database post their own
    digest    TEXT   NOT NULL,
    fire_at   BIGINT NOT NULL,  -- the schedule's fire time (a whole second), epoch ms
    posted_at BIGINT NOT NULL,  -- when it was claimed, epoch ms
    epoch     BIGINT NOT NULL,  -- the lease epoch it was claimed under
    PRIMARY KEY (app_id, digest, fire_at)
);

-- Epochs are per app: an intent knows whose lease it was written under, so settling after a
-- takeover touches only the open intents of its own app. Rows from before have '' (settled by
-- any app, as before).
ALTER TABLE expedites ADD COLUMN app_id TEXT NOT NULL DEFAULT '';

-- One filtered listing that lacks a task is no proof it is of another flow (offset paging can
-- skip a task, as for finishing): member = false is a doubt until a second complete filtered
-- listing in a later cycle lacks it too (confirmed); only then is the task's flow known and that
-- listing skipped for it. doubted_in is the start of the cycle whose listing first lacked it.
-- Rows from before are doubts, so they are checked once more.
ALTER TABLE task_flows ADD COLUMN confirmed BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE task_flows ADD COLUMN doubted_in BIGINT;

-- Who ended a silence (`silence remove`, the console), beside who made it.
ALTER TABLE silences ADD COLUMN ended_by TEXT;
