-- What each user's last complete listing said, so that a listing byte-for-byte the same can be
-- recognised without taking it apart. Written after everything the listing changed; cleared by
-- any write that changes the user's tasks, so a digest always describes what is stored.
ALTER TABLE user_listings ADD COLUMN pages TEXT;          -- xxh3 of each page's answer body, 16 hex digits each, in order; NULL: none
ALTER TABLE user_listings ADD COLUMN tasks TEXT;          -- xxh3 of each task id the listing held, the same way (to count tasks seen)
ALTER TABLE user_listings ADD COLUMN oldest_start INTEGER; -- earliest start (or first sight) among the user's pending tasks, epoch ms
ALTER TABLE user_listings ADD COLUMN missing INTEGER NOT NULL DEFAULT 0; -- how many of them the listing lacked (marked missing)

-- Every read of a user's assignments wants the pending ones, which assignments_pending serves;
-- this index only cost a write per listed assignment.
DROP INDEX assignments_by_user;
