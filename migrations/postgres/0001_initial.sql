-- The PostgreSQL schema: the same tables as SQLite's (times in epoch ms), ids compared byte-wise
-- (COLLATE "C") so keyset paging orders them as the program does, and the lease row.

CREATE TABLE tasks (
    task_id        TEXT COLLATE "C" PRIMARY KEY,
    instance_id    TEXT,
    labels         TEXT NOT NULL DEFAULT '[]',  -- JSON [[language_code, text], ...]
    status         TEXT,
    initiator_id   TEXT,
    initiator_name TEXT,
    start_time     BIGINT,                      -- epoch ms; NULL when Feishu gave none
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    finished_at    BIGINT,                      -- set once no watched user has it pending
    fingerprint    BIGINT
);
CREATE INDEX tasks_pending_by_first_seen ON tasks(first_seen) WHERE finished_at IS NULL;

CREATE TABLE assignments (
    task_id       TEXT COLLATE "C" NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    user_id       TEXT COLLATE "C" NOT NULL,
    first_seen    BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL,
    finished_at   BIGINT,
    missing_since BIGINT,                       -- a complete listing no longer held it
    PRIMARY KEY (task_id, user_id)
);
CREATE INDEX assignments_pending ON assignments(user_id, task_id) WHERE finished_at IS NULL;

CREATE TABLE task_flows (
    task_id  TEXT COLLATE "C" NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    flow_set TEXT NOT NULL,
    member   BOOLEAN NOT NULL DEFAULT true,
    PRIMARY KEY (task_id, flow_set)
);

-- The ledger of every call that acts (expedite, cc, chat), written before the call.
CREATE TABLE expedites (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     TEXT COLLATE "C" NOT NULL,
    rule        TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    opinion     TEXT NOT NULL,
    intent_at   BIGINT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('pending', 'sent', 'failed', 'unknown')),
    outcome_at  BIGINT,
    feishu_code BIGINT,
    feishu_msg  TEXT,
    kind        TEXT NOT NULL DEFAULT 'expedite',
    epoch       BIGINT NOT NULL                 -- the lease epoch of the instance that wrote it
);
CREATE INDEX expedites_by_task ON expedites(task_id);
CREATE INDEX expedites_open ON expedites(id) WHERE outcome = 'pending';
CREATE INDEX expedites_by_intent ON expedites(intent_at);

CREATE TABLE expedite_assignees (
    expedite_id BIGINT NOT NULL REFERENCES expedites(id) ON DELETE CASCADE,
    task_id     TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL,
    rule        TEXT NOT NULL,
    n           INTEGER NOT NULL,
    counts      BOOLEAN NOT NULL DEFAULT true,  -- false once the call is known to have failed
    kind        TEXT NOT NULL DEFAULT 'expedite',
    PRIMARY KEY (expedite_id, user_id)
);
-- At most once: a (task, assignee, kind, n) sent or possibly sent is never written again.
CREATE UNIQUE INDEX call_once ON expedite_assignees(task_id, user_id, kind, n) WHERE counts;

CREATE TABLE user_listings (
    user_id      TEXT COLLATE "C" PRIMARY KEY,
    listed_at    BIGINT NOT NULL,
    pages        TEXT,
    tasks        TEXT,
    oldest_start BIGINT,
    missing      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE task_chats (
    task_id    TEXT COLLATE "C" PRIMARY KEY,
    chat_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE silences (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C",                -- NULL: every assignee of the task
    until      BIGINT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX silences_active ON silences(task_id) WHERE ended_at IS NULL;

-- One active instance per app: every time here is the database's clock.
CREATE TABLE lease (
    app_id      TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL
);
