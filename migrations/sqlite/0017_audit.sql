-- The audit trail: who did what on the console and from where — sign-ins and sign-outs,
-- sessions ended, silences and away windows made or removed — with the teams it concerns (a
-- JSON array of team names; empty: no team). Kept `[storage] audit_keep`, pruned apart from
-- the tasks.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    who     TEXT NOT NULL,
    address TEXT,
    action  TEXT NOT NULL,
    teams   TEXT NOT NULL DEFAULT '[]',
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit(at);
