// The crop stage of a --crops build: decides which raw files need their
// RawNIND training crops (re)written, writes them, records each file's crop
// target in the manifest once its files are in place, and prunes the crops
// of files that are gone.
//
// A crop target is one raw file; its key is the file's content hash plus
// the crop parameters (CropFingerprint). So turning --crops on crops every
// file once, adding a scene crops only its files, a changed file is
// re-cropped, and a removed file's crops are deleted. The stage runs after
// the scenes are built and independently of them: the scene build's results
// never depend on --crops.
//
// Crash safety: every crop file is written to a temporary name and renamed
// (FileSystem::WriteFileAtomically), and a file's manifest row is written
// only after all its crop files are in place, so a kill -9 leaves at most
// files that no row names: the next build rewrites that file's crops and
// sweeps temporaries and unnamed crop files.
//
// Memory: files are cropped `concurrency` at a time, each needing its own
// decoded plane plus one band of crop rows (crops/file_crops.h).
//
// Thread safety: one stage per manifest at a time (the build lock).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/result.h"
#include "crops/crop_grid.h"
#include "manifest/manifest.h"
#include "raw/raw_decoder.h"

namespace dsb {

// A raw file of the dataset as the scan and fingerprint step found it.
struct CropSource {
  std::string scene;
  std::string rel_path;
  std::string hash_hex;
};

// A file whose crops are missing or out of date, and why: "missing" (never
// cropped), "changed" (content changed since), "params" (other crop
// parameters), or a removed file whose crops are still on disk ("removed").
struct StaleCrop {
  std::string rel_path;
  std::string reason;
};

struct CropPlan {
  std::vector<CropSource> to_crop;
  std::vector<StaleCrop> stale;      // to_crop and removed, with reasons
  std::vector<std::string> removed;  // recorded files no longer present
  int up_to_date = 0;
};

CropPlan PlanCrops(const std::vector<CropSource>& files,
                   const std::vector<CropTargetRecord>& recorded,
                   const CropParams& params = CropParams());

struct CropStageOptions {
  std::string root;
  std::string crops_dir;
  int concurrency = 1;
  CropParams params;
  const RawDecoder* decoder = nullptr;  // null: decode in this process
  DecodeOptions decode_options;
  std::function<bool()> cancelled;  // checked between files
  // False in a shard task: other tasks write into the same crops directory
  // meanwhile, so the stage neither prunes nor sweeps it (the merge does).
  bool owns_crops_dir = true;
  // Called after each file (ok or not), for progress output.
  std::function<void(const std::string& rel_path, const Status&)> on_file;
};

struct CropStageReport {
  int files_cropped = 0;
  int files_failed = 0;
  int files_up_to_date = 0;
  int files_removed = 0;
  std::int64_t crops_written = 0;
  std::uint64_t bytes_written = 0;
  double decode_seconds = 0, crop_seconds = 0;
  std::vector<std::pair<std::string, std::string>> failures;  // path, why
};

// Deletes temporaries of interrupted writes in options.crops_dir and (when
// `orphans`) crop files that no crop target of `manifest` names. Only while
// no other build writes there (the build lock, held exclusively).
void SweepCropsDir(FileSystem& fs, const CropStageOptions& options,
                   Manifest& manifest, bool orphans);

// Deletes the crop files a crop target names (after its row is gone).
void RemoveCropFiles(FileSystem& fs, const std::string& root,
                     const CropTargetRecord& target);

// Runs the plan: crops, records, prunes and (unless cancelled) sweeps the
// crops directory of temporaries and files no crop target names. A file
// that cannot be decoded or cropped is reported in failures and retried by
// the next build; an unwritable manifest stops the stage with an error.
// Without options.owns_crops_dir it only crops and records.
Result<CropStageReport> RunCropStage(const CropPlan& plan, Manifest& manifest,
                                     FileSystem& fs,
                                     const CropStageOptions& options);

}  // namespace dsb
