#include "report/report.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "executor/build_observer.h"
#include "hash/hash.h"
#include "manifest/manifest.h"
#include "mask/png_writer.h"
#include "raw/raw_decoder.h"
#include "report/figures.h"
#include "report/html_text.h"
#include "report/jpeg_writer.h"
#include "report/pages.h"
#include "report/preview.h"

namespace dsb {

namespace {

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (name.starts_with('/')) return name;
  if (dir.empty() || dir.ends_with('/')) return dir + name;
  return dir + "/" + name;
}

std::span<const std::uint8_t> Bytes(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

Result<std::string> ReadWholeFile(FileSystem& fs, const std::string& path) {
  DSB_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file,
                       fs.OpenForRead(path));
  std::string text;
  std::uint8_t buffer[1 << 16];
  while (true) {
    DSB_ASSIGN_OR_RETURN(std::size_t n, file->Read(buffer));
    if (n == 0) break;
    text.append(reinterpret_cast<const char*>(buffer), n);
  }
  return text;
}

// A preview image's cache key and what it needs.
enum class ImageKind { kThumbnail, kDifference, kOverlay };

bool IsPreviewName(const std::string& name) {
  if (name.size() != 36) return false;
  for (std::size_t i = 0; i < 32; ++i) {
    const char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  const std::string ext = name.substr(32);
  return ext == ".jpg" || ext == ".err";
}

std::uint64_t DoubleBits(double value) {
  return std::bit_cast<std::uint64_t>(value);
}

// One scene's preview work: which images are missing.
struct SceneJob {
  std::size_t scene = 0;
  std::vector<std::string> thumb_keys;  // per file of the scene
  std::vector<std::string> diff_keys;   // per pair of the scene
  std::vector<std::string> overlay_keys;
  std::vector<bool> need_thumb, need_diff, need_overlay;
  bool any() const {
    const auto has = [](const std::vector<bool>& v) {
      return std::find(v.begin(), v.end(), true) != v.end();
    };
    return has(need_thumb) || has(need_diff) || has(need_overlay);
  }
};

class Renderer {
 public:
  Renderer(const ReportOptions& options, FileSystem& fs,
           const RawDecoder& decoder, const DecodeOptions& decode_options,
           BuildObserver& progress, const ReportModel& model,
           const std::map<std::string, FileRecord>& files)
      : options_(options),
        fs_(fs),
        decoder_(decoder),
        decode_options_(decode_options),
        progress_(progress),
        model_(model),
        files_(files),
        img_dir_(JoinPath(options.output_dir, "img")) {}

  void RenderScene(const SceneJob& job);

  Status first_error() {
    std::lock_guard lock(mutex_);
    return first_error_;
  }
  std::atomic<int> images_drawn{0}, images_failed{0}, files_decoded{0};

 private:
  Result<RawImage> Decode(const std::string& rel_path) {
    Result<RawImage> image =
        decoder_.Decode(JoinPath(options_.root, rel_path), decode_options_);
    ++files_decoded;
    const auto it = files_.find(rel_path);
    progress_.FileDone(it == files_.end() ? 0 : it->second.size);
    if (image.ok()) image->path = rel_path;
    return image;
  }
  void WriteImage(const std::string& key, const Result<RgbImage>& image,
                  const std::string& label) {
    if (!image.ok()) {
      WriteError(key, image.status().message());
      return;
    }
    Result<std::vector<std::uint8_t>> jpeg = EncodeJpeg(*image, label);
    if (!jpeg.ok()) {
      WriteError(key, jpeg.status().message());
      return;
    }
    Record(fs_.WriteFileAtomically(JoinPath(img_dir_, key + ".jpg"), *jpeg));
    ++images_drawn;
  }
  void WriteError(const std::string& key, const std::string& message) {
    Record(fs_.WriteFileAtomically(JoinPath(img_dir_, key + ".err"),
                                   Bytes(message)));
    ++images_failed;
  }
  void Record(const Status& status) {
    if (status.ok()) return;
    std::lock_guard lock(mutex_);
    if (first_error_.ok()) first_error_ = status;
  }

  const ReportOptions& options_;
  FileSystem& fs_;
  const RawDecoder& decoder_;
  const DecodeOptions& decode_options_;
  BuildObserver& progress_;
  const ReportModel& model_;
  const std::map<std::string, FileRecord>& files_;
  const std::string img_dir_;
  std::mutex mutex_;
  Status first_error_;
};

void Renderer::RenderScene(const SceneJob& job) {
  const SceneView& scene = model_.scenes[job.scene];
  std::vector<bool> need_thumb = job.need_thumb;
  const auto file_index = [&scene](const std::string& rel_path) {
    for (std::size_t f = 0; f < scene.files.size(); ++f) {
      if (scene.files[f].rel_path == rel_path) return f;
    }
    return scene.files.size();
  };
  const auto thumbnail_of = [&](std::size_t f, const RawImage& image,
                                const BlockMeans& means,
                                const std::array<float, 3>& wb) {
    if (f >= need_thumb.size() || !need_thumb[f]) return;
    WriteImage(job.thumb_keys[f], RenderThumbnail(means, wb), image.path);
    need_thumb[f] = false;
  };
  const auto decode_failed = [&](std::size_t f, const Status& status) {
    if (f < need_thumb.size() && need_thumb[f]) {
      WriteError(job.thumb_keys[f], status.message());
      need_thumb[f] = false;
    }
  };

  // GTs first: each GT with the captures of its pairs, one at a time.
  for (std::size_t g = 0; g < scene.files.size(); ++g) {
    const FileView& gt_file = scene.files[g];
    if (gt_file.role != FileRole::kGt) continue;
    std::vector<std::size_t> pairs;  // numbers within the scene
    for (std::size_t k = 0; k < scene.pairs.size(); ++k) {
      const PairRecord& pair = model_.pairs[scene.pairs[k]].pair;
      if (pair.gt_path == gt_file.rel_path &&
          (job.need_diff[k] || job.need_overlay[k])) {
        pairs.push_back(k);
      }
    }
    if (pairs.empty() && !need_thumb[g]) continue;
    Result<RawImage> gt = Decode(gt_file.rel_path);
    if (!gt.ok()) {
      decode_failed(g, gt.status());
      for (std::size_t k : pairs) {
        const std::string why = "not drawn: the GT could not be decoded";
        if (job.need_diff[k]) WriteError(job.diff_keys[k], why);
        if (job.need_overlay[k]) WriteError(job.overlay_keys[k], why);
      }
      continue;
    }
    const int block = PreviewBlock(gt->width(), gt->height(), gt->cfa.period());
    const BlockMeans gt_means = ComputeBlockMeans(*gt, block);
    const std::array<float, 3> wb = PreviewWhiteBalance(*gt, gt_means);
    const RgbImage gt_thumbnail = RenderThumbnail(gt_means, wb);
    if (need_thumb[g]) {
      WriteImage(job.thumb_keys[g], gt_thumbnail, gt->path);
      need_thumb[g] = false;
    }
    for (std::size_t k : pairs) {
      const PairRecord& pair = model_.pairs[scene.pairs[k]].pair;
      const Alignment& a = *pair.alignment;
      if (job.need_overlay[k]) {
        Result<RgbImage> overlay = Status::NotFound("the pair has no mask");
        if (pair.mask_path) {
          const std::string mask_path =
              JoinPath(options_.root, *pair.mask_path);
          Result<Plane<std::uint8_t>> mask = ReadGreyPng(fs_, mask_path);
          if (mask.ok()) {
            overlay = RenderMaskOverlay(gt_thumbnail, block, gt->height(),
                                        gt->width(), a.dy, a.dx, mask->view());
            if (!overlay.ok()) {
              overlay = overlay.status().WithContext("mask '" +
                                                     *pair.mask_path + "'");
            }
          } else {
            overlay = mask.status();
          }
        }
        WriteImage(job.overlay_keys[k], overlay, "mask overlay");
      }
      if (!job.need_diff[k]) continue;
      if (pair.noisy_path == gt_file.rel_path) {
        WriteImage(job.diff_keys[k],
                   RenderDifference(*gt, gt_means, *gt, a, wb), gt->path);
        continue;
      }
      const std::size_t n = file_index(pair.noisy_path);
      Result<RawImage> noisy = Decode(pair.noisy_path);
      if (!noisy.ok()) {
        decode_failed(n, noisy.status());
        WriteError(job.diff_keys[k],
                   "not drawn: the capture could not be decoded");
        continue;
      }
      if (n < need_thumb.size() && need_thumb[n]) {
        const int nb =
            PreviewBlock(noisy->width(), noisy->height(), noisy->cfa.period());
        const BlockMeans means = ComputeBlockMeans(*noisy, nb);
        thumbnail_of(n, *noisy, means, PreviewWhiteBalance(*noisy, means));
      }
      WriteImage(job.diff_keys[k],
                 RenderDifference(*gt, gt_means, *noisy, a, wb), noisy->path);
    }
  }
  // Files no drawn pair needed (captures of failed pairs, unchanged pairs).
  for (std::size_t f = 0; f < scene.files.size(); ++f) {
    if (!need_thumb[f]) continue;
    Result<RawImage> image = Decode(scene.files[f].rel_path);
    if (!image.ok()) {
      decode_failed(f, image.status());
      continue;
    }
    const int block =
        PreviewBlock(image->width(), image->height(), image->cfa.period());
    const BlockMeans means = ComputeBlockMeans(*image, block);
    thumbnail_of(f, *image, means, PreviewWhiteBalance(*image, means));
  }
  progress_.SceneDone();
}

std::string KeyHex(Hasher& hasher) { return hasher.Finish().ToHex(); }

std::string NowText() {
  return FormatUtcTimestamp(std::chrono::system_clock::now());
}

// Writes `text` to `path` unless the file already holds exactly it.
Result<bool> WriteIfChanged(FileSystem& fs, const std::string& path,
                            const std::string& text) {
  Result<std::string> old = ReadWholeFile(fs, path);
  if (old.ok() && *old == text) return false;
  DSB_RETURN_IF_ERROR(fs.WriteFileAtomically(path, Bytes(text)));
  return true;
}

}  // namespace

Result<ReportSummary> RunReport(const ReportOptions& given, FileSystem& fs,
                                const RawDecoder& decoder,
                                const DecodeOptions& decode_options,
                                BuildObserver& progress) {
  const auto start = std::chrono::steady_clock::now();
  ReportOptions options = given;
  if (options.db_path.empty()) {
    options.db_path = JoinPath(options.root, "dataset-build.db");
  }
  if (options.output_dir.empty()) {
    options.output_dir = JoinPath(options.root, "report");
  }
  if (options.jobs <= 0) {
    options.jobs =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }

  // The manifest, through its public API.
  DSB_ASSIGN_OR_RETURN(std::unique_ptr<Manifest> manifest,
                       Manifest::Open(options.db_path, OpenMode::kReadOnly));
  ReportModel model;
  model.root = options.root;
  model.db_path = options.db_path;
  model.generated_at = NowText();
  DSB_ASSIGN_OR_RETURN(model.scene_rows, manifest->LoadScenesView());
  DSB_ASSIGN_OR_RETURN(model.pairs, manifest->LoadPairsForExport());
  DSB_ASSIGN_OR_RETURN(std::vector<FileRecord> file_records,
                       manifest->LoadFiles());
  DSB_ASSIGN_OR_RETURN(std::vector<StoredScene> stored, manifest->LoadScenes());
  // Each pair's crops list as the export writes it; empty (the crops reason
  // unknown) when no --crops build ever ran on this manifest.
  DSB_ASSIGN_OR_RETURN(const std::vector<std::optional<int>> crops,
                       LoadPairCropCounts(*manifest, model.pairs));
  manifest.reset();

  std::map<std::string, std::string> scene_keys;
  for (const StoredScene& scene : stored) scene_keys[scene.scene] = scene.key;
  std::map<std::string, FileRecord> files;
  for (FileRecord& file : file_records) files[file.rel_path] = file;

  // Scenes, their files (GTs first) and their pairs.
  std::map<std::string, std::size_t> scene_index;
  model.scenes.resize(model.scene_rows.size());
  for (std::size_t s = 0; s < model.scene_rows.size(); ++s) {
    SceneView& view = model.scenes[s];
    view.row = &model.scene_rows[s];
    view.page_stem = ScenePageStem(view.row->scene);
    scene_index[view.row->scene] = s;
  }
  for (const FileRecord& file : file_records) {
    const auto it = scene_index.find(file.scene);
    if (it == scene_index.end()) continue;
    model.scenes[it->second].files.push_back({file.rel_path, file.role, {}});
  }
  for (SceneView& view : model.scenes) {
    std::stable_sort(view.files.begin(), view.files.end(),
                     [](const FileView& a, const FileView& b) {
                       if (a.role != b.role) return a.role == FileRole::kGt;
                       return a.rel_path < b.rel_path;
                     });
  }
  model.pair_scene.resize(model.pairs.size());
  model.pair_number.resize(model.pairs.size());
  for (std::size_t i = 0; i < model.pairs.size(); ++i) {
    const auto it = scene_index.find(model.pairs[i].scene);
    if (it == scene_index.end()) {
      return Status::Corrupt("manifest: pair of unknown scene '" +
                             model.pairs[i].scene + "'");
    }
    SceneView& view = model.scenes[it->second];
    model.pair_scene[i] = it->second;
    model.pair_number[i] = view.pairs.size();
    view.pairs.push_back(i);
  }
  model.crops_recorded = !crops.empty();
  for (std::size_t i = 0; i < model.pairs.size(); ++i) {
    model.verdicts.push_back(JudgePair(
        model.pairs[i].pair, model.crops_recorded ? crops[i] : std::nullopt));
  }
  model.overview = ComputeOverview(model.scene_rows, model.pairs, crops);

  // The cache: what is in img/ already.
  const std::string img_dir = JoinPath(options.output_dir, "img");
  const std::string scenes_dir = JoinPath(options.output_dir, "scenes");
  DSB_RETURN_IF_ERROR(fs.CreateDirectories(img_dir));
  DSB_RETURN_IF_ERROR(fs.CreateDirectories(scenes_dir));
  std::set<std::string> existing;
  for (const std::string& dir : {img_dir, scenes_dir}) {
    DSB_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, fs.ListDirectory(dir));
    for (const DirEntry& entry : entries) {
      if (entry.name.ends_with(kTempSuffix)) {  // left by a killed run
        DSB_RETURN_IF_ERROR(fs.RemoveFile(JoinPath(dir, entry.name)));
      } else if (dir == img_dir) {
        existing.insert(entry.name);
      }
    }
  }
  const auto cached = [&](const std::string& key) {
    return !options.force &&
           (existing.contains(key + ".jpg") || existing.contains(key + ".err"));
  };

  // Keys.
  const auto file_hash = [&files](const std::string& rel_path) {
    const auto it = files.find(rel_path);
    return it == files.end() ? "path:" + rel_path : it->second.hash_hex;
  };
  std::vector<SceneJob> jobs;
  std::vector<SceneJob> all_jobs(model.scenes.size());
  ReportSummary summary;
  for (std::size_t s = 0; s < model.scenes.size(); ++s) {
    const SceneView& view = model.scenes[s];
    SceneJob& job = all_jobs[s];
    job.scene = s;
    for (const FileView& file : view.files) {
      Hasher hasher;
      hasher.AddString("thumbnail").AddString(kRendererVersion);
      hasher.AddString(file_hash(file.rel_path));
      job.thumb_keys.push_back(KeyHex(hasher));
      job.need_thumb.push_back(!cached(job.thumb_keys.back()));
    }
    for (std::size_t i : view.pairs) {
      const PairRecord& pair = model.pairs[i].pair;
      const bool drawable = pair.status == BuildStatus::kOk && pair.alignment;
      Hasher diff, overlay;
      diff.AddString("difference").AddString(kRendererVersion);
      overlay.AddString("overlay").AddString(kRendererVersion);
      for (Hasher* h : {&diff, &overlay}) {
        h->AddString(file_hash(pair.gt_path))
            .AddString(file_hash(pair.noisy_path));
        if (pair.alignment) {
          h->AddI64(pair.alignment->dy).AddI64(pair.alignment->dx);
        }
      }
      if (pair.alignment) diff.AddU64(DoubleBits(pair.alignment->raw_gain));
      // A mask is a function of the scene's build key (its files' hashes
      // and the mask parameters): a scene rebuilt with the same key (a
      // failed scene retried) keeps its overlays.
      overlay.AddString(pair.mask_path.value_or(""));
      overlay.AddU64(DoubleBits(pair.mask_mean.value_or(-1)));
      overlay.AddString(scene_keys[view.row->scene]);
      job.diff_keys.push_back(KeyHex(diff));
      job.overlay_keys.push_back(KeyHex(overlay));
      job.need_diff.push_back(drawable && !cached(job.diff_keys.back()));
      job.need_overlay.push_back(drawable && !cached(job.overlay_keys.back()));
    }
    if (job.any()) jobs.push_back(job);
  }

  // Draw what is missing, one scene per thread.
  int files_to_decode = 0;
  std::uint64_t bytes_to_decode = 0;
  for (const SceneJob& job : jobs) {
    for (const FileView& file : model.scenes[job.scene].files) {
      ++files_to_decode;
      const auto it = files.find(file.rel_path);
      if (it != files.end()) bytes_to_decode += it->second.size;
    }
  }
  progress.SetTotals(static_cast<int>(jobs.size()), files_to_decode,
                     bytes_to_decode);
  Renderer renderer(options, fs, decoder, decode_options, progress, model,
                    files);
  if (!jobs.empty()) {
    tbb::task_arena arena(options.jobs);
    arena.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, jobs.size(), 1),
          [&](const tbb::blocked_range<std::size_t>& range) {
            for (std::size_t j = range.begin(); j != range.end(); ++j) {
              renderer.RenderScene(jobs[j]);
            }
          },
          tbb::simple_partitioner());
    });
  }
  DSB_RETURN_IF_ERROR(renderer.first_error());
  summary.scenes_drawn = static_cast<int>(jobs.size());
  summary.images_drawn = renderer.images_drawn;
  summary.images_failed = renderer.images_failed;
  summary.files_decoded = renderer.files_decoded;

  // What each page shows: the image, or the reason recorded for it.
  std::set<std::string> live;
  const auto resolve = [&](const std::string& key, bool drawable,
                           ImageRef& ref) -> Status {
    if (!drawable) return Status::Ok();
    if (live.insert(key + ".jpg").second && cached(key)) {
      ++summary.images_cached;
    }
    live.insert(key + ".err");
    Result<FileInfo> jpg = fs.Stat(JoinPath(img_dir, key + ".jpg"));
    if (jpg.ok()) {
      ref.file = "img/" + key + ".jpg";
      return Status::Ok();
    }
    Result<std::string> err =
        ReadWholeFile(fs, JoinPath(img_dir, key + ".err"));
    ref.error = err.ok() ? *err : "not drawn";
    return Status::Ok();
  };
  for (std::size_t s = 0; s < model.scenes.size(); ++s) {
    SceneView& view = model.scenes[s];
    const SceneJob& job = all_jobs[s];
    for (std::size_t f = 0; f < view.files.size(); ++f) {
      DSB_RETURN_IF_ERROR(
          resolve(job.thumb_keys[f], true, view.files[f].thumbnail));
      if (!view.files[f].thumbnail.error.empty()) {
        model.problems.push_back({view.row->scene, view.files[f].rel_path,
                                  view.files[f].thumbnail.error});
      }
    }
    view.diffs.resize(view.pairs.size());
    view.overlays.resize(view.pairs.size());
    for (std::size_t k = 0; k < view.pairs.size(); ++k) {
      const PairRecord& pair = model.pairs[view.pairs[k]].pair;
      const bool drawable = pair.status == BuildStatus::kOk && pair.alignment;
      DSB_RETURN_IF_ERROR(resolve(job.diff_keys[k], drawable, view.diffs[k]));
      DSB_RETURN_IF_ERROR(
          resolve(job.overlay_keys[k], drawable, view.overlays[k]));
      if (!view.overlays[k].error.empty() &&
          !view.overlays[k].error.starts_with("not drawn")) {
        model.problems.push_back({view.row->scene,
                                  pair.mask_path.value_or(pair.noisy_path),
                                  view.overlays[k].error});
      }
    }
  }

  // Pages.
  std::set<std::string> live_pages;
  for (const SceneView& view : model.scenes) {
    const std::string name = view.page_stem + ".html";
    live_pages.insert(name);
    DSB_ASSIGN_OR_RETURN(bool written,
                         WriteIfChanged(fs, JoinPath(scenes_dir, name),
                                        RenderScenePage(model, view)));
    summary.pages_written += written;
  }
  summary.index_path = JoinPath(options.output_dir, "index.html");
  DSB_ASSIGN_OR_RETURN(
      bool index_written,
      WriteIfChanged(fs, summary.index_path, RenderOverviewPage(model)));
  summary.pages_written += index_written;

  // Previews and pages nothing references any more (only our own names).
  for (const std::string& name : existing) {
    if (IsPreviewName(name) && !live.contains(name)) {
      DSB_RETURN_IF_ERROR(fs.RemoveFile(JoinPath(img_dir, name)));
      ++summary.files_removed;
    }
  }
  DSB_ASSIGN_OR_RETURN(std::vector<DirEntry> pages,
                       fs.ListDirectory(scenes_dir));
  for (const DirEntry& entry : pages) {
    if (entry.name.ends_with(".html") && !live_pages.contains(entry.name)) {
      DSB_RETURN_IF_ERROR(fs.RemoveFile(JoinPath(scenes_dir, entry.name)));
      ++summary.files_removed;
    }
  }

  summary.scenes = static_cast<int>(model.scenes.size());
  summary.pairs = static_cast<int>(model.pairs.size());
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return summary;
}

}  // namespace dsb
