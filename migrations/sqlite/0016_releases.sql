-- Which releases of expediter opened this database for writing, so that an older one can say
-- "written by a newer expediter (release X)" instead of a migration's checksum.
CREATE TABLE releases (
    version         TEXT PRIMARY KEY,
    commit_id       TEXT,
    first_opened_at BIGINT NOT NULL
);
