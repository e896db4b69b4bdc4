-- Migration 1: the manifest's tables and the contract's stable views.
--
-- Paths (scene names, raw files, masks) are TEXT holding the path's bytes
-- exactly as the OS gave them, relative to the dataset root. SQLite never
-- validates or rewrites TEXT bound with an explicit length, so names with
-- quotes, newlines or non-UTF-8 bytes round-trip byte-exact and still show
-- in the views; comparisons use the BINARY collation (byte order).
--
-- Applied by src/manifest/schema_migrations.cc inside one transaction, which
-- also sets PRAGMA user_version = 1. Never edit a migration that has been
-- released: add the next numbered file instead.

-- Marks the file as a dataset-build manifest ('DSB1'), so --db pointing at
-- some other program's SQLite file is refused instead of migrated.
PRAGMA application_id = 1146307121;

-- One row per build invocation (dataset-build [ROOT]).
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  started_at TEXT NOT NULL,           -- ISO-8601 UTC with milliseconds
  ended_at TEXT,                      -- NULL while running or if it crashed
  tool_version TEXT NOT NULL,
  parameters TEXT NOT NULL CHECK (json_valid(parameters)),
  scenes_total INTEGER,
  scenes_built INTEGER,
  scenes_up_to_date INTEGER,
  scenes_failed INTEGER,
  scenes_removed INTEGER,
  pairs_ok INTEGER,
  pairs_failed INTEGER,
  exit_status INTEGER
);

-- One row per scene: the result of its latest build. (Named scene_builds
-- because `scenes` is the stable view below.)
CREATE TABLE scene_builds (
  scene TEXT PRIMARY KEY NOT NULL,    -- the scene directory, relative to root
  key TEXT NOT NULL CHECK (length(key) > 0),  -- hex; what the planner compares
  -- NULL only for a failed scene where no file could be decoded.
  cfa TEXT CHECK (cfa IN ('bayer', 'xtrans')),
  cfa_pattern TEXT,                   -- 'RGGB', 'BGGR', 'GRBG', 'GBRG', 'XTRANS'
  width INTEGER NOT NULL CHECK (width >= 0),
  height INTEGER NOT NULL CHECK (height >= 0),
  n_files INTEGER NOT NULL CHECK (n_files >= 0),
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  error TEXT,
  -- Set when a build found the scene stale but did not rebuild it (dry run,
  -- interrupted); the scenes view then reports status 'stale'. A new
  -- RecordScene clears it.
  stale_reason TEXT CHECK (stale_reason IS NULL OR length(stale_reason) > 0),
  built_at TEXT NOT NULL,             -- ISO-8601 UTC with milliseconds
  decode_s REAL,
  align_s REAL,
  mask_s REAL,
  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  CHECK (cfa IS NOT NULL OR status = 'failed'),
  CHECK (status = 'ok' OR error IS NOT NULL)
);

-- The fingerprint cache and the decoded metadata of every raw file of every
-- recorded scene. Written together with the scene, so they always agree.
CREATE TABLE files (
  scene TEXT NOT NULL REFERENCES scene_builds(scene) ON DELETE CASCADE,
  rel_path TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('gt', 'noisy')),
  size INTEGER NOT NULL CHECK (size >= 0),
  mtime_ns INTEGER NOT NULL,
  inode INTEGER NOT NULL,             -- uint64 stored as its int64 bit pattern
  hash TEXT NOT NULL                  -- XXH3-128, 32 lowercase hex digits
    CHECK (length(hash) = 32 AND hash NOT GLOB '*[^0-9a-f]*'),
  -- Decoded metadata; all NULL when the file could not be decoded.
  make TEXT,
  model TEXT,
  iso REAL,
  cfa_pattern TEXT,
  width INTEGER,
  height INTEGER,
  black_r REAL,
  black_g REAL,
  black_b REAL,
  white REAL,
  overexposure_lb REAL,
  rgb_xyz_matrix TEXT                 -- JSON, 4 rows x 3 columns
    CHECK (rgb_xyz_matrix IS NULL OR json_valid(rgb_xyz_matrix)),
  wb_r REAL,
  wb_g REAL,
  wb_b REAL,
  PRIMARY KEY (scene, rel_path)
);

-- One row per (GT, raw) pair of a scene (contract §1: every GT with every
-- raw file of the scene, itself included).
CREATE TABLE pairs (
  id INTEGER PRIMARY KEY,
  scene TEXT NOT NULL REFERENCES scene_builds(scene) ON DELETE CASCADE,
  gt_path TEXT NOT NULL,
  noisy_path TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  error TEXT,
  -- Alignment (contract §2); NULL when the pair failed before aligning.
  dy INTEGER,
  dx INTEGER,
  dy_subpx REAL,
  dx_subpx REAL,
  confidence REAL,
  loss REAL CHECK (loss IS NULL OR loss >= 0),
  raw_gain REAL,
  rgb_gain REAL,                      -- NULL when not computed
  overexposure_lb REAL,               -- the GT's
  mask_path TEXT,                     -- relative to the dataset root
  mask_mean REAL CHECK (mask_mean IS NULL OR (mask_mean >= 0 AND mask_mean <= 1)),
  UNIQUE (scene, gt_path, noisy_path),
  FOREIGN KEY (scene, gt_path) REFERENCES files(scene, rel_path)
    ON DELETE CASCADE,
  FOREIGN KEY (scene, noisy_path) REFERENCES files(scene, rel_path)
    ON DELETE CASCADE,
  CHECK (status = 'ok' OR error IS NOT NULL),
  -- An ok pair is complete: aligned, gain-matched and masked.
  CHECK (status = 'failed' OR (dy IS NOT NULL AND dx IS NOT NULL AND
         dy_subpx IS NOT NULL AND dx_subpx IS NOT NULL AND
         confidence IS NOT NULL AND loss IS NOT NULL AND
         raw_gain IS NOT NULL AND overexposure_lb IS NOT NULL AND
         mask_path IS NOT NULL AND mask_mean IS NOT NULL))
);

-- Contract §4 stable view: one row per pair.
CREATE VIEW alignments(scene, gt_path, noisy_path, dy, dx, dy_subpx, dx_subpx,
                       confidence, loss, raw_gain, overexposure_lb, mask_path,
                       mask_mean, status, error) AS
  SELECT scene, gt_path, noisy_path, dy, dx, dy_subpx, dx_subpx, confidence,
         loss, raw_gain, overexposure_lb, mask_path, mask_mean, status, error
  FROM pairs;

-- Contract §4 stable view: one row per scene; 'stale' overrides the status
-- of the last build while a stale_reason is recorded.
CREATE VIEW scenes(scene, cfa, width, height, n_files, status, built_at,
                   error) AS
  SELECT scene, cfa, width, height, n_files,
         CASE WHEN stale_reason IS NOT NULL THEN 'stale' ELSE status END,
         built_at, error
  FROM scene_builds;
