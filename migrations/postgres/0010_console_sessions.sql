-- The console's sign-ins. A session is a row (a pair of instances shares it): the browser holds
-- a random id, the row its SHA-256, so a copy of the database signs nobody in. Ended at sign-out
-- on the server, expired after [console] session.
CREATE TABLE console_sessions (
    id_hash    TEXT   PRIMARY KEY,
    who        TEXT   NOT NULL,     -- "Name (open_id)", "token", or "cli:<user>" (a sign-in link)
    csrf       TEXT   NOT NULL,     -- the token every form and cookie-authenticated write carries
    created_at BIGINT NOT NULL,     -- epoch ms
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);

-- One-time grants: sign-in links (`console link`) and Feishu sign-in states, each by its
-- SHA-256, used at most once, before it expires.
CREATE TABLE console_grants (
    hash       TEXT   PRIMARY KEY,
    kind       TEXT   NOT NULL,     -- 'link' or 'oauth_state'
    who        TEXT   NOT NULL,     -- who made it (a link: cli:<user>)
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
