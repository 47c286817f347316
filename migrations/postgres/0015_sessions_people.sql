-- A session knows whom it is for, so every request can be checked against the current config:
-- how it was made (feishu, token, link), the person's open_id and email (Feishu), and a digest
-- of the console token it was made under (token and link sessions end when the token rotates).
-- Sessions from before this release knew only a display name: they end here.
DELETE FROM console_sessions;
ALTER TABLE console_sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'feishu';
ALTER TABLE console_sessions ADD COLUMN open_id TEXT;
ALTER TABLE console_sessions ADD COLUMN email TEXT;
ALTER TABLE console_sessions ADD COLUMN token_digest TEXT;
-- Everyone who signed in with Feishu: their open_id, name and email as their last sign-in gave
-- them (roles and card clicks match people by it).
CREATE TABLE people (
    open_id      TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    email        TEXT,
    signed_in_at BIGINT NOT NULL
);
