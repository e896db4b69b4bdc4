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
  bool decoded = false;  // by the crop stage itself
};

// The message prefix that marks a manifest error (the stage stops) apart
// from a file's own failure (reported, retried by the next build).
constexpr const char* kRecordErrorContext = "recording crop target";

bool IsRecordError(const Status& status) {
  return !status.ok() && status.message().starts_with(kRecordErrorContext);
}

CropLocation Location(const CropSource& source,
                      const CropStageOptions& options) {
  CropLocation location;
  location.root = options.root;
  location.crops_dir = options.crops_dir;
  location.scene = source.scene;
  location.rel_path = source.rel_path;
  return location;
}

Cropped CropOne(const CropSource& source, FileSystem& fs,
                const CropStageOptions& options) {
  Cropped out;
  const CropLocation location = Location(source, options);
  const std::string path = options.root + "/" + source.rel_path;
  auto start = Clock::now();
  Result<RawImage> image =
      options.decoder != nullptr
          ? options.decoder->Decode(path, options.decode_options)
          : DecodeRaw(path, options.decode_options);
  out.decode_s = SecondsSince(start);
  out.decoded = true;
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

// Adds one file's outcome to `report` and, when it was cropped, records its
// target: the row comes after every file of the target is in place.
// Returns the file's status, or the manifest's error (IsRecordError).
Status Account(const CropSource& source, const Cropped& cropped,
               const std::string& fingerprint, Manifest& manifest,
               CropStageReport& report) {
  report.decode_seconds += cropped.decode_s;
  report.crop_seconds += cropped.crop_s;
  if (cropped.decoded) ++report.files_decoded;
  if (!cropped.written.ok()) {
    ++report.files_failed;
    report.failures.emplace_back(source.rel_path,
                                 cropped.written.status().message());
    return cropped.written.status();
  }
  CropTargetRecord record = cropped.written->record;
  record.hash_hex = source.hash_hex;
  record.params = fingerprint;
  Status recorded = manifest.RecordCropTarget(record);
  if (!recorded.ok()) {
    return recorded.WithContext(kRecordErrorContext);
  }
  report.bytes_written += cropped.written->bytes;
  report.crops_written += static_cast<std::int64_t>(record.crops.size());
  ++report.files_cropped;
  return Status::Ok();
}

}  // namespace

CropsFromDecodes::CropsFromDecodes(const CropPlan& plan, Manifest& manifest,
                                   FileSystem& fs,
                                   const CropStageOptions& options,
                                   std::mutex& manifest_mutex)
    : plan_(plan),
      manifest_(manifest),
      fs_(fs),
      options_(options),
      manifest_mutex_(manifest_mutex),
      fingerprint_(CropFingerprint(options.params)),
      taken_(plan.to_crop.size(), false) {
  for (std::size_t i = 0; i < plan.to_crop.size(); ++i) {
    planned_[plan.to_crop[i].rel_path] = i;
  }
}

void CropsFromDecodes::Take(const std::string& rel_path,
                            const RawImage& image) {
  // X-Trans files are left to RunCropStage (LibRaw decodes them itself).
  if (image.cfa.is_xtrans()) return;
  if (options_.cancelled && options_.cancelled()) return;
  std::size_t index = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = planned_.find(rel_path);
    if (it == planned_.end() || taken_[it->second] || !record_error_.ok()) {
      return;
    }
    index = it->second;
    taken_[index] = true;
  }
  const CropSource& source = plan_.to_crop[index];
  Cropped cropped;
  const auto start = Clock::now();
  cropped.written =
      WriteBayerCrops(fs_, image, Location(source, options_), options_.params);
  cropped.crop_s = SecondsSince(start);
  if (!cropped.written.ok()) {
    cropped.written = cropped.written.status().WithContext(
        "cropping " + options_.root + "/" + source.rel_path);
  }
  Status status;
  {
    std::scoped_lock lock(manifest_mutex_, mutex_);
    status = Account(source, cropped, fingerprint_, manifest_, report_);
    if (IsRecordError(status)) {
      if (record_error_.ok()) record_error_ = status;
      return;
    }
  }
  if (options_.on_file) options_.on_file(source.rel_path, status);
}

void CropsFromDecodes::Refuse(const std::string& rel_path, const Status& why) {
  {
    std::lock_guard lock(mutex_);
    auto it = planned_.find(rel_path);
    if (it == planned_.end() || taken_[it->second]) return;
    taken_[it->second] = true;
    ++report_.files_failed;
    report_.failures.emplace_back(rel_path, why.message());
  }
  if (options_.on_file) options_.on_file(rel_path, why);
}

CropPlan CropsFromDecodes::Rest() const {
  std::lock_guard lock(mutex_);
  CropPlan rest = plan_;
  rest.to_crop.clear();
  for (std::size_t i = 0; i < plan_.to_crop.size(); ++i) {
    if (!taken_[i]) rest.to_crop.push_back(plan_.to_crop[i]);
  }
  return rest;
}

CropStageReport CropsFromDecodes::report() const {
  std::lock_guard lock(mutex_);
  return report_;
}

Status CropsFromDecodes::record_error() const {
  std::lock_guard lock(mutex_);
  return record_error_;
}

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
            const Status status =
                Account(source, cropped, fingerprint, manifest, report);
            if (!record_error.ok() || IsRecordError(status)) {
              if (record_error.ok()) record_error = status;
              return;
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
