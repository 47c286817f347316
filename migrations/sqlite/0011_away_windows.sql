-- Away windows: while one holds, nothing reminds or escalates to its user (leave, a trip). Made
-- by `away add` or the console, which record who; a window may start in the future.
CREATE TABLE away (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,     -- epoch ms
    until      INTEGER NOT NULL,     -- epoch ms
    deputy     TEXT,                 -- who takes their work, when named
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at   INTEGER,              -- `away remove`, the console
    ended_by   TEXT
) STRICT;
CREATE INDEX away_open ON away(user_id) WHERE ended_at IS NULL;
