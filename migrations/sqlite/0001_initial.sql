-- Every task ever listed for a watched user.
CREATE TABLE tasks (
    task_id        TEXT PRIMARY KEY NOT NULL,
    instance_id    TEXT,
    labels         TEXT NOT NULL DEFAULT '[]',  -- JSON [[language_code, text], ...]
    status         TEXT,
    initiator_id   TEXT,
    initiator_name TEXT,
    start_time     INTEGER,                     -- epoch ms; NULL when Feishu gave none
    first_seen     INTEGER NOT NULL,            -- epoch ms
    last_seen      INTEGER NOT NULL,
    finished_at    INTEGER                      -- set once no watched user has it pending
) STRICT;

-- Which watched users a task is (or was) pending for.
CREATE TABLE assignments (
    task_id     TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    finished_at INTEGER,                        -- a complete listing no longer held it
    PRIMARY KEY (task_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX assignments_by_user ON assignments(user_id, finished_at);

-- Which flow filters (sorted api_ids joined by ',') returned the task: a task carries no flow
-- id, so this is the only knowledge of its flow.
CREATE TABLE task_flows (
    task_id  TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    flow_set TEXT NOT NULL,
    PRIMARY KEY (task_id, flow_set)
) STRICT, WITHOUT ROWID;

-- Every expediting call: the intent is written before the call, the outcome after.
CREATE TABLE expedites (
    id          INTEGER PRIMARY KEY,
    task_id     TEXT NOT NULL,
    rule        TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    opinion     TEXT NOT NULL,
    intent_at   INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('pending', 'sent', 'failed', 'unknown')),
    outcome_at  INTEGER,
    feishu_code INTEGER,
    feishu_msg  TEXT
) STRICT;
CREATE INDEX expedites_by_task ON expedites(task_id);

-- The assignees one call named, with each one's rule and expedite number.
CREATE TABLE expedite_assignees (
    expedite_id INTEGER NOT NULL REFERENCES expedites(id) ON DELETE CASCADE,
    task_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    rule        TEXT NOT NULL,
    n           INTEGER NOT NULL,
    counts      INTEGER NOT NULL DEFAULT 1,     -- 0 once the call is known to have failed
    PRIMARY KEY (expedite_id, user_id)
) STRICT;
-- At most once: the same (task, assignee, n) can be sent, or possibly sent, only once.
CREATE UNIQUE INDEX expedite_once ON expedite_assignees(task_id, user_id, n) WHERE counts = 1;
