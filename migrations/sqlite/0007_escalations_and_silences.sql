-- One ledger for every call that acts: expediting, and the two escalations (cc: the task copied
-- to someone; chat: a group chat opened about it or someone invited into it). Each is at most
-- once per (task, assignee, kind, n) exactly as expedites are.
ALTER TABLE expedites ADD COLUMN kind TEXT NOT NULL DEFAULT 'expedite';
ALTER TABLE expedite_assignees ADD COLUMN kind TEXT NOT NULL DEFAULT 'expedite';
DROP INDEX expedite_once;
CREATE UNIQUE INDEX call_once ON expedite_assignees(task_id, user_id, kind, n) WHERE counts = 1;
-- Reminders per assignee per day, for the daily cap.
CREATE INDEX expedites_by_intent ON expedites(intent_at);

-- The one group chat about a task, once Feishu returned it: later escalations invite into it.
CREATE TABLE task_chats (
    task_id    TEXT PRIMARY KEY NOT NULL,
    chat_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- A silence holds a task (or one assignee of it) until a time: no expedite, no escalation.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY,
    task_id    TEXT NOT NULL,
    user_id    TEXT,                 -- NULL: every assignee of the task
    until      INTEGER NOT NULL,     -- epoch ms
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at   INTEGER               -- set by `silence remove`
) STRICT;
CREATE INDEX silences_active ON silences(task_id) WHERE ended_at IS NULL;
