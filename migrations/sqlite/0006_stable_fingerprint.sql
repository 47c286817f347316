-- Fingerprints are now a stable hash (xxh3 over a length-prefixed encoding of the task's facts);
-- the earlier ones came from a hasher that may change between builds. Clearing them makes the
-- first cycle after the upgrade rewrite each pending task once, deliberately, instead of by
-- accident on some later build.
UPDATE tasks SET fingerprint = NULL;
