-- Each digest post, recorded before the post: a digest is posted once per fire time. (On
-- PostgreSQL the same migration also records the app of each intent, for the lease's epochs;
-- SQLite has one instance and no lease.)
CREATE TABLE digest_posts (
    digest    TEXT    NOT NULL,
    fire_at   INTEGER NOT NULL,  -- the schedule's fire time, epoch ms
    posted_at INTEGER NOT NULL,  -- when it was claimed, epoch ms
    epoch     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (digest, fire_at)
) WITHOUT ROWID;
