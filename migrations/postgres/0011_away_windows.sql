-- Away windows: while one holds, nothing reminds or escalates to its user (leave, a trip). Made
-- by `away add` or the console, which record who; a window may start in the future.
CREATE TABLE away (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL,
    starts_at  BIGINT NOT NULL,      -- epoch ms
    until      BIGINT NOT NULL,      -- epoch ms
    deputy     TEXT,                 -- who takes their work, when named
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at   BIGINT,               -- `away remove`, the console
    ended_by   TEXT
);
CREATE INDEX away_open ON away(user_id) WHERE ended_at IS NULL;
