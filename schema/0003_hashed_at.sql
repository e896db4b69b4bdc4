-- When each file's hash was taken (ns since the epoch, the file system's
-- clock). The fingerprint step re-hashes a file whose mtime is not safely
-- older than this ("racy" timestamps, as in git and ninja). 0 = unknown,
-- which makes the next build re-hash once.
ALTER TABLE files ADD COLUMN hashed_at_ns INTEGER NOT NULL DEFAULT 0;
