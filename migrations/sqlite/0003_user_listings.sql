-- When each watched user was last listed completely: the "last seen" time of every task still
-- pending for them, so a cycle need not rewrite unchanged task rows just to say "seen again".
CREATE TABLE user_listings (
    user_id   TEXT PRIMARY KEY NOT NULL,
    listed_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
