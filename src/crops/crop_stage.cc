#include "crops/crop_stage.h"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>

#include "crops/file_crops.h"
#include "crops/xtrans_rgb.h"

namespace dsb {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Absolute(const std::string& root, const std::string& recorded) {
  return recorded.starts_with("/") ? recorded : root + "/" + recorded;
}

void CollectFiles(FileSystem& fs, const std::string& dir,
                  std::vector<std::string>& out) {
  Result<std::vector<DirEntry>> entries = fs.ListDirectory(dir);
  if (!entries.ok()) return;
  for (const DirEntry& entry : *entries) {
    const std::string path = dir + "/" + entry.name;
    if (entry.type == FileType::kDirectory) {
      CollectFiles(fs, path, out);
    } else if (entry.type == FileType::kRegular) {
      out.push_back(path);
    }
  }
}

bool IsCropFileName(const std::string& path) {
  return path.ends_with(".npy") || path.ends_with(".tif");
}

}  // namespace

void SweepCropsDir(FileSystem& fs, const CropStageOptions& options,
                   Manifest& manifest, bool orphans) {
  std::vector<std::string> files;
  CollectFiles(fs, options.crops_dir, files);
  std::set<std::string> referenced;
  if (orphans) {
    Result<std::vector<CropTargetRecord>> targets = manifest.LoadCropTargets();
    if (!targets.ok()) return;  // never delete what we cannot prove unused
    for (const CropTargetRecord& t : *targets) {
      for (const CropTargetRecord::Crop& c : t.crops) {
        if (!c.bayer_path.empty())
          referenced.insert(Absolute(options.root, c.bayer_path));
        referenced.insert(Absolute(options.root, c.linrec_path));
      }
    }
  }
  for (const std::string& path : files) {
    if (path.find(kTempSuffix) != std::string::npos) {
      (void)fs.RemoveFile(path);
    } else if (orphans && IsCropFileName(path) && !referenced.contains(path)) {
      (void)fs.RemoveFile(path);
    }
  }
}

void RemoveCropFiles(FileSystem& fs, const std::string& root,
                     const CropTargetRecord& target) {
  for (const CropTargetRecord::Crop& c : target.crops) {
    if (!c.bayer_path.empty())
      (void)fs.RemoveFile(Absolute(root, c.bayer_path));
    (void)fs.RemoveFile(Absolute(root, c.linrec_path));
  }
}

namespace {

struct Cropped {
  Result<FileCropsWritten> written = Status::Internal("not run");
  double decode_s = 0, crop_s = 0;
};

Cropped CropOne(const CropSource& source, FileSystem& fs,
                const CropStageOptions& options) {
  Cropped out;
  CropLocation location;
  location.root = options.root;
  location.crops_dir = options.crops_dir;
  location.scene = source.scene;
  location.rel_path = source.rel_path;
  const std::string path = options.root + "/" + source.rel_path;
  auto start = Clock::now();
  Result<RawImage> image =
      options.decoder != nullptr
          ? options.decoder->Decode(path, options.decode_options)
          : DecodeRaw(path, options.decode_options);
  out.decode_s = SecondsSince(start);
  if (!image.ok()) {
    out.written = image.status();
    return out;
  }
  start = Clock::now();
  if (image->cfa.is_xtrans()) {
    const auto matrix = image->meta.rgb_xyz_matrix;
    image = Status::Ok();  // free the mosaic before LibRaw demosaics
    Result<XTransRgb> rgb = DemosaicXTrans(path);
    if (!rgb.ok()) {
      out.written = rgb.status();
    } else {
      out.written = WriteRgbCrops(fs, rgb->image4, rgb->width, rgb->height,
                                  matrix, location, options.params);
    }
  } else {
    out.written = WriteBayerCrops(fs, *image, location, options.params);
  }
  out.crop_s = SecondsSince(start);
  if (!out.written.ok()) {
    out.written = out.written.status().WithContext("cropping " + path);
  }
  return out;
}

}  // namespace

CropPlan PlanCrops(const std::vector<CropSource>& files,
                   const std::vector<CropTargetRecord>& recorded,
                   const CropParams& params) {
  const std::string fingerprint = CropFingerprint(params);
  std::map<std::string, const CropTargetRecord*> by_path;
  for (const CropTargetRecord& target : recorded) {
    by_path[target.rel_path] = &target;
  }
  CropPlan plan;
  std::set<std::string> present;
  for (const CropSource& file : files) {
    present.insert(file.rel_path);
    auto it = by_path.find(file.rel_path);
    std::string reason;
    if (it == by_path.end()) {
      reason = "missing";
    } else if (it->second->hash_hex != file.hash_hex) {
      reason = "changed";
    } else if (it->second->params != fingerprint) {
      reason = "params";
    }
    if (reason.empty()) {
      ++plan.up_to_date;
      continue;
    }
    plan.to_crop.push_back(file);
    plan.stale.push_back({file.rel_path, reason});
  }
  for (const CropTargetRecord& target : recorded) {
    if (present.contains(target.rel_path)) continue;
    plan.removed.push_back(target.rel_path);
    plan.stale.push_back({target.rel_path, "removed"});
  }
  return plan;
}

Result<CropStageReport> RunCropStage(const CropPlan& plan, Manifest& manifest,
                                     FileSystem& fs,
                                     const CropStageOptions& options) {
  CropStageReport report;
  report.files_up_to_date = plan.up_to_date;
  DSB_RETURN_IF_ERROR(fs.CreateDirectories(options.crops_dir)
                          .WithContext("crops directory " + options.crops_dir));
  if (options.owns_crops_dir) {
    SweepCropsDir(fs, options, manifest, /*orphans=*/false);
    // Prune first: the rows go, then (after the commit) their files, in the
    // orphan sweep below.
    DSB_RETURN_IF_ERROR(manifest.RemoveCropTargets(plan.removed));
    report.files_removed = static_cast<int>(plan.removed.size());
  }

  const std::string fingerprint = CropFingerprint(options.params);
  std::mutex mutex;
  Status record_error;
  tbb::task_arena arena(std::max(1, options.concurrency));
  arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, plan.to_crop.size(), 1),
        [&](const tbb::blocked_range<std::size_t>& range) {
          for (std::size_t i = range.begin(); i != range.end(); ++i) {
            if (options.cancelled && options.cancelled()) return;
            {
              std::lock_guard lock(mutex);
              if (!record_error.ok()) return;
            }
            const CropSource& source = plan.to_crop[i];
            Cropped cropped = CropOne(source, fs, options);
            std::lock_guard lock(mutex);
            report.decode_seconds += cropped.decode_s;
            report.crop_seconds += cropped.crop_s;
            Status status = cropped.written.status();
            if (cropped.written.ok()) {
              CropTargetRecord record = cropped.written->record;
              record.hash_hex = source.hash_hex;
              record.params = fingerprint;
              report.bytes_written += cropped.written->bytes;
              report.crops_written +=
                  static_cast<std::int64_t>(record.crops.size());
              // The row comes after every file of the target is in place.
              Status recorded = manifest.RecordCropTarget(record);
              if (!recorded.ok()) {
                record_error = recorded;
                return;
              }
              ++report.files_cropped;
            } else {
              ++report.files_failed;
              report.failures.emplace_back(source.rel_path, status.message());
            }
            if (options.on_file) options.on_file(source.rel_path, status);
          }
        });
  });
  DSB_RETURN_IF_ERROR(record_error);
  if (options.owns_crops_dir && !(options.cancelled && options.cancelled())) {
    SweepCropsDir(fs, options, manifest, /*orphans=*/true);
  }
  return report;
}

}  // namespace dsb
