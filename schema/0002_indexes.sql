-- Migration 2: indexes for the lookups a build makes besides by scene.
--
-- Orphan-mask cleanup asks "is this mask still referenced?"; the planner
-- may look a file up by content hash (a file that moved keeps its hash);
-- and pruning old runs needs the scenes that point at a run.

CREATE INDEX pairs_by_mask_path ON pairs(mask_path) WHERE mask_path IS NOT NULL;
CREATE INDEX files_by_hash ON files(hash);
CREATE INDEX scene_builds_by_run ON scene_builds(run_id);
-- The foreign keys pairs(scene, noisy_path) -> files need an index on the
-- child side so deleting a file row does not scan every pair.
CREATE INDEX pairs_by_noisy ON pairs(scene, noisy_path);
