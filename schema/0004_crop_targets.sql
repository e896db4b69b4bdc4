-- Migration 4: RawNIND training crops as cached targets (--crops).
--
-- One row per raw file whose crops are all in place. The row is written only
-- after every crop file of the file has been renamed into place, so a row
-- always names complete files; a file without a row (or with another key)
-- gets its crops rewritten by the next --crops build. Keyed by the file, not
-- the scene: the key is the file's content hash plus the crop parameters,
-- so adding or rebuilding a scene never rewrites another file's crops.
-- RawNIND's own best_alignment_loss of a Bayer pair (mean |gt - rgb_gain x
-- noisy| on the demosaiced frames, crops/rawnind_loss.h), exported as
-- best_alignment_loss; NULL for X-Trans pairs and pairs built before it.
ALTER TABLE pairs ADD COLUMN rawnind_loss REAL;

CREATE TABLE crop_targets (
  rel_path TEXT PRIMARY KEY NOT NULL,  -- the raw file, relative to the root
  scene TEXT NOT NULL,
  hash TEXT NOT NULL                   -- the file's XXH3-128 when cropped
    CHECK (length(hash) = 32 AND hash NOT GLOB '*[^0-9a-f]*'),
  params TEXT NOT NULL CHECK (length(params) > 0),  -- crop parameters
  is_bayer INTEGER NOT NULL CHECK (is_bayer IN (0, 1)),
  -- Where RawNIND's frame starts in the visible area (full-resolution
  -- pixels), so crop coordinates can be placed in the mask's frame.
  frame_top INTEGER NOT NULL,
  frame_left INTEGER NOT NULL,
  -- Mean of the demosaiced camera RGB (Bayer) or lin_rec2020 (X-Trans)
  -- frame: RawNIND's rgb_gain of a pair is the ratio of its files' means.
  rgb_mean REAL NOT NULL,
  -- JSON list of [x, y, bayer_path or null, lin_rec2020_path]: the crop's
  -- half-resolution position and its files (relative to the root when the
  -- crops directory is inside it).
  crops TEXT NOT NULL CHECK (json_valid(crops)),
  built_at TEXT NOT NULL
);
