// The manifest: the SQLite file that records what a build produced, keyed by
// content hashes, so a rerun rebuilds only the scenes whose key changed.
//
// Contract §4. The stable surface users query is two views, `alignments`
// (one row per pair) and `scenes` (one row per scene); the tables behind
// them (scene_builds, files, pairs, runs) are ours to change through
// numbered migrations in schema/, which Open applies to an older file and
// which are embedded in the binary. A file written by a newer dataset-build
// is refused, never touched.
//
// Every scene is written by RecordScene in one transaction that replaces the
// scene row, its files and its pairs together, so a scene is either wholly at
// its new key or still wholly at its old one, even if the process dies.
//
// Paths (scenes, raw files, masks) are byte strings relative to the dataset
// root, stored as TEXT with their exact bytes (bound with an explicit length,
// never validated or re-encoded), so quotes, newlines and non-UTF-8 names
// round-trip byte-exact and still show in the views. SQL is only ever built
// from constants; values reach it through bound parameters.
//
// Connection settings: foreign keys on, WAL journal (readers never block the
// writer; synchronous=NORMAL: a power cut may lose the last scenes recorded,
// never consistency), and a short busy timeout: a second writer fails with
// kBusy instead of waiting for a whole build.
//
// Thread safety: a Manifest wraps one SQLite connection and must be used by
// one thread at a time. Use one Manifest per thread; the build records
// scenes from a single writer thread. Several processes may read while one
// writes; a second concurrent writer gets kBusy.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "core/alignment.h"
#include "core/cfa.h"
#include "core/file_record.h"
#include "core/raw_image.h"

struct sqlite3;

namespace dsb {

enum class OpenMode {
  kReadWrite,  // creates the file if missing and migrates it to the latest
  kReadOnly,   // never writes (not even a migration); for --status, export
};

struct OpenOptions {
  // How long a write waits for another connection's write lock before it
  // fails with kBusy. Short on purpose: the build holds a process lock, so
  // a conflict means another tool is writing and waiting will not help.
  int busy_timeout_ms = 1000;
  // The wall clock for built_at / started_at / ended_at; unset means
  // std::chrono::system_clock::now. Tests pin it.
  std::function<std::chrono::system_clock::time_point()> clock;
};

enum class BuildStatus { kOk, kFailed };
// "ok" or "failed", as stored.
std::string_view BuildStatusName(BuildStatus status);

// Files are stored as FileRecords (core/file_record.h): the fingerprint
// cache the planner compares (size, mtime, inode) and the content hash.

using RgbXyzMatrix = std::array<std::array<float, 3>, 4>;

// The decoded metadata of one file, mirroring RawMetadata. Floats are stored
// as the double nearest their shortest decimal form (0.3f is stored as 0.3),
// so SQL users and exports see the numbers the camera reported.
struct FileMetadata {
  std::string make;
  std::string model;
  float iso = 0;
  std::string cfa_name;  // CfaPattern::name(): "RGGB", ..., "XTRANS"
  int width = 0;         // of the visible area
  int height = 0;
  std::array<float, 3> black{};
  float white = 0;
  float overexposure_lb = 1.0f;
  RgbXyzMatrix rgb_xyz_matrix{};
  std::array<float, 3> wb_coeffs{1, 1, 1};

  static FileMetadata FromRaw(const RawImage& image);
};

struct SceneFile {
  FileRecord file;  // file.scene must equal the SceneRecord's scene
  std::optional<FileMetadata> metadata;  // nullopt when decoding failed
};

// One (GT, raw) pair of a scene.
struct PairRecord {
  std::string gt_path;  // both must be among the scene's files
  std::string noisy_path;
  BuildStatus status = BuildStatus::kOk;
  std::string error;  // human-readable reason; "" is stored as NULL
  std::optional<Alignment> alignment;  // nullopt: failed before aligning
  // Gain between the demosaiced images when the build computed it; the
  // rawnind-yaml export falls back to the alignment's raw_gain.
  std::optional<double> rgb_gain;
  // RawNIND's best_alignment_loss (crops/rawnind_loss.h) when computed; the
  // rawnind-yaml export falls back to the alignment's loss.
  std::optional<double> rawnind_loss;
  std::optional<double> overexposure_lb;  // the GT's
  // Relative to the dataset root (or absolute when the masks directory is
  // outside it); nullopt when the pair failed.
  std::optional<std::string> mask_path;
  std::optional<double> mask_mean;  // fraction of usable pixels, in [0, 1]
};

// The loss RawNIND's loader tests against 0.035 (its best_alignment_loss):
// RawNIND's own computation when the build made it, else our mosaic loss.
// The export writes it and the QA report judges pairs by it. Needs
// pair.alignment.
inline double BestAlignmentLoss(const PairRecord& pair) {
  return pair.rawnind_loss.value_or(pair.alignment->loss);
}

struct SceneTimings {
  double decode_s = 0;
  double align_s = 0;
  double mask_s = 0;     // the masks and their PNGs
  double figures_s = 0;  // RawNIND's figures (crops/rawnind_loss.h)
};

// Everything a build learned about one scene. An ok pair must be complete
// (alignment, overexposure_lb, mask_path, mask_mean); a failed scene or pair
// must say why (error). The schema's CHECK constraints enforce this.
struct SceneRecord {
  std::string scene;
  std::string key;                // hex; the planner's cache key for the scene
  std::optional<CfaPattern> cfa;  // nullopt only if no file could be decoded
  int width = 0;
  int height = 0;
  BuildStatus status = BuildStatus::kOk;
  std::string error;  // "" is stored as NULL
  SceneTimings timings;
  std::optional<std::int64_t> run_id;  // from BeginRun
  std::vector<SceneFile> files;
  std::vector<PairRecord> pairs;
};

// A scene as the planner needs it back.
struct StoredScene {
  std::string scene;
  std::string key;
  BuildStatus status = BuildStatus::kOk;
  std::string error;     // "" when NULL
  std::string built_at;  // ISO-8601 UTC with milliseconds
  std::optional<std::string> stale_reason;
};

// A row of the `scenes` view.
struct SceneRow {
  std::string scene;
  std::optional<std::string> cfa;  // "bayer", "xtrans"; NULL: nothing decoded
  int width = 0;
  int height = 0;
  int n_files = 0;
  std::string status;  // "ok", "failed" or "stale"
  std::string built_at;
  std::optional<std::string> error;
};

// A row of the `alignments` view with what the RawNIND export adds from
// the scene and the GT file.
struct PairRow {
  std::string scene;
  PairRecord pair;
  std::optional<std::string> cfa;             // the scene's "bayer"/"xtrans"
  std::optional<std::string> gt_cfa_pattern;  // the GT file's pattern name
  std::optional<std::array<std::array<double, 3>, 4>> gt_rgb_xyz_matrix;
};

// A raw file's RawNIND training crops (--crops), as recorded once all its
// crop files are in place (schema/0004_crop_targets.sql).
struct CropTargetRecord {
  std::string rel_path;  // the raw file, relative to the root
  std::string scene;
  std::string hash_hex;  // the file's content hash when cropped
  std::string params;    // crop parameters (crops/crop_grid.h)
  bool is_bayer = true;
  int frame_top = 0, frame_left = 0;
  double rgb_mean = 0;
  struct Crop {
    int x = 0, y = 0;         // half-resolution units of RawNIND's frame
    std::string bayer_path;   // "" for X-Trans
    std::string linrec_path;  // relative to the root when inside it
  };
  std::vector<Crop> crops;
};

struct RunCounts {
  std::int64_t scenes_total = 0;
  std::int64_t scenes_built = 0;
  std::int64_t scenes_up_to_date = 0;
  std::int64_t scenes_failed = 0;
  std::int64_t scenes_removed = 0;
  std::int64_t pairs_ok = 0;
  std::int64_t pairs_failed = 0;
};

// A row of the `runs` table: one build, shard task or merge.
struct RunRecord {
  std::int64_t id = 0;
  std::string started_at;
  std::optional<std::string> ended_at;  // nullopt: still running, or killed
  std::string parameters;               // JSON
  RunCounts counts;
  std::optional<std::int64_t> exit_status;
};

class Manifest {
 public:
  // Opens (kReadWrite: creates and migrates) the manifest at `db_path`.
  // Errors: kNotFound (kReadOnly and no file), kUnsupported (written by a
  // newer dataset-build; or kReadOnly on an older schema, which only a
  // read-write open migrates), kInvalidArgument (an SQLite file of another
  // program), kCorrupt (not an SQLite file), kBusy, kIoError.
  static Result<std::unique_ptr<Manifest>> Open(
      const std::string& db_path, OpenMode mode,
      const OpenOptions& options = OpenOptions());

  ~Manifest();
  Manifest(const Manifest&) = delete;
  Manifest& operator=(const Manifest&) = delete;

  const std::string& path() const { return db_path_; }
  OpenMode mode() const { return mode_; }

  // The fingerprint cache: every file of every recorded scene, ordered by
  // scene then path.
  Result<std::vector<FileRecord>> LoadFiles();
  // The same rows in the order they are stored: a scan of the table alone,
  // where the order above reads the primary key's index too and looks each
  // row up from it (for a caller that groups the rows itself).
  Result<std::vector<FileRecord>> LoadFilesUnordered();

  // Refreshes the stat data (size, mtime, inode, hashed_at) of files whose
  // content was re-hashed and found unchanged, in one transaction, so the
  // next build trusts them again. Rows whose hash differs are left alone.
  Status UpdateFileFingerprints(const std::vector<FileRecord>& files);

  // Every recorded scene, ordered by name.
  Result<std::vector<StoredScene>> LoadScenes();

  // Replaces everything recorded for record.scene (scene row, files, pairs)
  // in one BEGIN IMMEDIATE transaction; on any error nothing changes. Clears
  // a stale mark; built_at is now. Mask files of the old pairs that the new
  // record no longer names become orphans (see VisitMaskPaths).
  Status RecordScene(const SceneRecord& record);

  // Deletes a scene with its files and pairs and returns the mask paths its
  // pairs referenced, for the caller to delete after this has committed (so
  // a crash never leaves a manifest row pointing at a deleted mask). An
  // unknown scene is not an error: nothing to remove.
  Result<std::vector<std::string>> RemoveScene(const std::string& scene);

  // Records that a build found `scene` stale (`reason`: "changed", "params",
  // ...) but did not rebuild it (a dry run, an interrupted build); the
  // scenes view shows it as 'stale' until the next RecordScene. kNotFound
  // for a scene never recorded (new scenes have no row to mark).
  Status MarkStale(const std::string& scene, std::string_view reason);

  // Starts a row in `runs`; `params_json` must be valid JSON.
  Result<std::int64_t> BeginRun(std::string_view tool_version,
                                std::string_view params_json);
  Status EndRun(std::int64_t run_id, const RunCounts& counts, int exit_status);

  // Every run, oldest first.
  Result<std::vector<RunRecord>> LoadRuns();

  // Shard merging (docs/contract.md §7, manifest_copy.cc): replaces each of
  // `scenes` here with its record in the manifest file `source` (same
  // schema version: open it with Open first, which migrates or refuses it),
  // all in one transaction, copying every column as stored (built_at
  // included, so copying the same record again changes nothing) except
  // run_id, which becomes `run_id`, and the stale mark, which is cleared.
  // `crop_targets` (raw files' rel_paths) have their crop_targets rows
  // copied in the same transaction, replacing the main manifest's.
  Status CopyScenesFrom(const std::string& source,
                        const std::vector<std::string>& scenes,
                        std::int64_t run_id,
                        const std::vector<std::string>& crop_targets = {});

  // Every mask path the manifest references, for deleting orphans, handed
  // to `visit` one by one, in no particular order and possibly repeated
  // (without DISTINCT and ORDER BY SQLite copies no value, and nothing is
  // copied here: the view lasts until `visit` returns).
  Status VisitMaskPaths(const std::function<void(std::string_view)>& visit);

  // Crop targets (--crops), ordered by rel_path.
  Result<std::vector<CropTargetRecord>> LoadCropTargets();
  // Replaces the row of target.rel_path.
  Status RecordCropTarget(const CropTargetRecord& target);
  // Deletes the rows of these files (missing rows are not an error).
  Status RemoveCropTargets(const std::vector<std::string>& rel_paths);

  // The `scenes` view, ordered by scene.
  Result<std::vector<SceneRow>> LoadScenesView();
  // The `alignments` view (every pair, failed ones included) ordered by
  // scene, gt_path, noisy_path, with the scene's CFA and the GT's matrix.
  Result<std::vector<PairRow>> LoadPairsForExport();

 private:
  Manifest(sqlite3* db, std::string db_path, OpenMode mode,
           OpenOptions options);
  Status Configure();
  Status CheckWritable(std::string_view what) const;
  std::string Now() const;

  sqlite3* db_ = nullptr;
  std::string db_path_;
  OpenMode mode_;
  OpenOptions options_;
};

// ISO-8601 UTC with milliseconds: "2024-05-01T12:34:56.789Z".
std::string FormatUtcTimestamp(std::chrono::system_clock::time_point time);

}  // namespace dsb
