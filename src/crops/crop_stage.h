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
// Riding the scene build's decode: a Bayer file that the scene build
// decodes is cropped from that decoded image while the build holds it
// (CropsFromDecodes, called by the scene pipeline), so it is decoded once
// and needs no plane besides its own. RunCropStage then crops only what
// the scene build did not reach: files of up-to-date scenes (turning
// --crops on for a built dataset), X-Trans files (LibRaw's X-Trans
// demosaic unpacks the file itself, so our decode would be wasted there)
// and files whose scene stopped early.
//
// Memory: files are cropped `concurrency` at a time, each needing its own
// decoded plane plus one band of crop rows (crops/file_crops.h).
//
// Thread safety: one stage per manifest at a time (the build lock).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
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
  // Files the crop stage decoded itself: every other cropped file was cut
  // from the scene build's decode (CropsFromDecodes).
  int files_decoded = 0;
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

// Crops the planned Bayer files from images the scene build decoded anyway
// (see above). Take is called by the scene pipeline for every file it
// decodes, from several threads; the first call for a planned file crops
// it, records its target (under `manifest_mutex`, which every writer of
// `manifest` in the build holds) and later calls for it return at once.
class CropsFromDecodes {
 public:
  // `plan`, `manifest`, `fs`, `options` and `manifest_mutex` must outlive
  // this object.
  CropsFromDecodes(const CropPlan& plan, Manifest& manifest, FileSystem& fs,
                   const CropStageOptions& options, std::mutex& manifest_mutex);

  void Take(const std::string& rel_path, const RawImage& image);

  // A planned file the scene build could not decode: reported as failed
  // with that error (`why`), not decoded again by RunCropStage.
  void Refuse(const std::string& rel_path, const Status& why);

  // The plan's files this object did not take (cropped or failed): what
  // RunCropStage still has to crop.
  CropPlan Rest() const;
  // What was cropped here (decode_seconds stays 0: the scene build paid the
  // decode), and the first manifest error, if any.
  CropStageReport report() const;
  Status record_error() const;

 private:
  const CropPlan& plan_;
  Manifest& manifest_;
  FileSystem& fs_;
  const CropStageOptions& options_;
  std::mutex& manifest_mutex_;
  const std::string fingerprint_;
  mutable std::mutex mutex_;
  // rel_path -> index into plan_.to_crop, and whether it was taken.
  std::map<std::string, std::size_t> planned_;
  std::vector<bool> taken_;
  CropStageReport report_;
  Status record_error_;
};

// Runs the plan: crops, records, prunes and (unless cancelled) sweeps the
// crops directory of temporaries and files no crop target names. A file
// that cannot be decoded or cropped is reported in failures and retried by
// the next build; an unwritable manifest stops the stage with an error.
// Without options.owns_crops_dir it only crops and records.
Result<CropStageReport> RunCropStage(const CropPlan& plan, Manifest& manifest,
                                     FileSystem& fs,
                                     const CropStageOptions& options);

}  // namespace dsb
