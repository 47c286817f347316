-- Each team's own document (its watched users, rules and digests, as TOML), one row per saved
-- version: who saved it, when, why, and — for a rollback — which version it restores.
CREATE TABLE team_versions (
    team        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    document    TEXT NOT NULL,
    author      TEXT NOT NULL,
    comment     TEXT NOT NULL,
    saved_at    BIGINT NOT NULL,
    restores    BIGINT,
    PRIMARY KEY (team, version)
);
