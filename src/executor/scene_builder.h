// Builds one scene: decode → align → mask, producing everything the manifest
// records for it. The scene is the unit of work: independent of every other
// scene and identified by a deterministic key, so scenes can be sharded
// across machines and their manifests merged.
//
// Memory: the GTs of a scene are decoded once per group (as many as the
// memory budget allows, at least one) and every other capture streams
// through one at a time per worker, so a scene of 15 x 60 MP captures never
// holds them all.
//
// Thread safety: BuildScene may run for several scenes at once; it uses the
// context's counters atomically and parallelises its own files with TBB.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/status.h"
#include "core/alignment.h"
#include "core/file_record.h"
#include "core/raw_image.h"
#include "executor/build_options.h"
#include "manifest/manifest.h"
#include "raw/decoder.h"
#include "raw/raw_decoder.h"

namespace dsb {

struct BuildCounters {
  std::atomic<std::int64_t> files_decoded{0};
  std::atomic<std::int64_t> pairs_aligned{0};
  std::atomic<std::int64_t> masks_written{0};
  std::atomic<std::int64_t> bytes_decoded{0};
  // Captures decoded and not yet finished, and the most there ever were at
  // once: bounded by --jobs and by the --mem budget.
  std::atomic<std::int64_t> captures_in_flight{0};
  std::atomic<std::int64_t> max_captures_in_flight{0};
};

class BuildObserver;

struct BuildContext {
  const BuildOptions* options = nullptr;
  FileSystem* fs = nullptr;
  BuildCounters* counters = nullptr;
  BuildObserver* progress = nullptr;
  // Memory one scene may use for decoded images (the executor divides the
  // --mem budget between concurrently built scenes).
  std::size_t scene_memory_bytes = 0;
  // Decodes every raw (executor/decoding.h); null: DecodeRaw in this process.
  const RawDecoder* decoder = nullptr;
  DecodeOptions decode_options;
};

struct SceneJob {
  std::string scene;  // relative path of the scene directory
  std::string key;
  std::vector<FileRecord> gt;  // hashed; as the plan keyed them
  std::vector<FileRecord> noisy;
  // Files that could not be hashed (rel_path -> why): they fail the scene.
  std::map<std::string, std::string> hash_errors;
  std::uint64_t total_bytes = 0;
  // Entries of the scene the scan could not read ("<path>: <reason>"): the
  // file list may be incomplete, so the scene fails (its readable pairs are
  // still recorded) and is retried on the next run.
  std::vector<std::string> problems;
};

struct FileOutcome {
  FileRecord file;
  Status status;                         // decode result
  std::optional<FileMetadata> metadata;  // when it decoded
};

struct PairOutcome {
  std::string gt_path, noisy_path;
  Status status;
  Alignment alignment;
  float overexposure_lb = 1.0f;
  std::string mask_path;  // as recorded (relative to the root when inside)
  double mask_mean = 0;
};

struct SceneOutcome {
  std::string scene, key;
  Status status;  // ok, or the first failure (message names the file)
  bool cancelled = false;
  std::string cfa_kind, cfa_name;
  int width = 0, height = 0;
  std::vector<FileOutcome> files;
  std::vector<PairOutcome> pairs;
  double decode_seconds = 0, align_seconds = 0, mask_seconds = 0;
  std::vector<std::string> written_masks;  // absolute paths, for cleanup
};

SceneOutcome BuildScene(const SceneJob& job, const BuildContext& context);

// Where a pair's mask goes: the absolute path written and the path recorded
// in the manifest (relative to the root when the masks live inside it).
struct MaskLocation {
  std::string write_path;
  std::string record_path;
};
MaskLocation LocateMask(const BuildOptions& options, const std::string& scene,
                        const std::string& gt_path,
                        const std::string& noisy_path);

}  // namespace dsb
