#include "synth/generate.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "core/cfa.h"
#include "synth/dng_writer.h"
#include "synth/photo_reader.h"
#include "synth/random.h"
#include "synth/render.h"

namespace dsb {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kGeneratorName = "dataset-build synth";
constexpr int kTruthVersion = 1;
constexpr const char* kTruthFile = "truth.json";
// Gains a noisy capture is given (mean(gt) / mean(noisy)): darker and
// brighter exposures than the GT, as RawNIND's captures have.
constexpr std::array<double, 5> kGains = {0.5, 0.7, 1.0, 1.4, 2.0};
constexpr std::array<const char*, 5> kMixedCycle = {"rggb", "bggr", "grbg",
                                                    "gbrg", "xtrans"};
// Distinct tags so the random streams of scenes, names and noise never
// coincide.
enum StreamTag : std::uint64_t {
  kSceneStream = 0x5343454e45ull,
  kContentStream = 0x434f4e54ull,
  kGtNoise = 0x47544eull,
  kNoisyNoise = 0x4e4f4953ull,
  kNameHash = 0x4e414d45ull,
  kBorderStream = 0x424f5244ull,
  kPhotoStream = 0x50484f54ull,
};

struct Capture {
  std::string rel_path;  // relative to out_dir
  bool is_gt = false;
  int gt_index = 0;  // GTs only
  CaptureSpec spec;  // noisy captures only
  int noise_level = 0;
  int iso = 0;
};

struct ScenePlan {
  std::string name;     // scene-000-rggb
  std::string kind;     // Bayer or X-Trans
  std::string rel_dir;  // Bayer/scene-000-rggb
  SceneSpec spec;
  DngWriteOptions dng;  // iso is set per capture
  std::vector<Capture> gts;
  std::vector<Capture> noisy;
};

std::string Hex16(std::uint64_t v) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016" PRIx64, v);
  return buffer;
}

Status Validate(const SynthOptions& o) {
  auto bad = [](const std::string& why) {
    return Status::InvalidArgument("invalid synth options: " + why);
  };
  if (o.out_dir.empty()) return bad("no output directory given");
  if (o.scenes < 1 || o.scenes > 10000) return bad("scenes must be 1..10000");
  if (o.gts_per_scene < 1 || o.gts_per_scene > 100) {
    return bad("gts per scene must be 1..100");
  }
  if (o.noisy < 0 || o.noisy > 1000) return bad("noisy must be 0..1000");
  if (o.width < 32 || o.height < 32 || o.width > 20000 || o.height > 20000) {
    return bad("width and height must be 32..20000");
  }
  // Odd sizes would leave incomplete 2x2 blocks, which RawNIND's packing
  // (and real sensors) never have.
  if (o.width % 2 != 0 || o.height % 2 != 0) {
    return bad("width and height must be even");
  }
  if (o.bits < 8 || o.bits > 16) return bad("bits must be 8..16");
  if (o.max_shift < 0) return bad("max shift must be >= 0");
  if (!(o.exposure_ev >= -10 && o.exposure_ev <= 10)) {
    return bad("exposure must be -10..10 EV");
  }
  if (o.cfa != "mixed" && !CfaPattern::FromName(o.cfa)) {
    return bad("unknown CFA '" + o.cfa +
               "' (rggb, bggr, grbg, gbrg, xtrans or mixed)");
  }
  return Status::Ok();
}

// Per-2x2-position black levels that differ slightly, as real sensors'
// do, scaled to the bit depth: {512, 520, 516, 508} at 14 bits, {128, 130,
// 129, 127} at 12.
std::array<int, 4> BlackFor(int bits) {
  const int base = 1 << (bits - 5);
  const std::array<int, 4> delta = {0, 8, 4, -4};
  std::array<int, 4> black{};
  for (int i = 0; i < 4; ++i) black[i] = base + delta[i] * base / 512;
  return black;
}

// An odd value in [1, limit] (limit >= 1).
int RandomOdd(synth::Rng& rng, int limit) {
  return 2 * rng.UniformInt(0, (limit - 1) / 2) + 1;
}

// A shift component near the limit: "large" relative to the frame.
int RandomLarge(synth::Rng& rng, int limit) {
  return limit - rng.UniformInt(0, limit / 8);
}

// The shift of noisy capture `i`: a fixed rotation of kinds makes every
// scene with two or more captures have odd, negative, zero and large
// components, whatever the seed.
void PlanShift(synth::Rng& rng, int i, int limit, int& dy, int& dx) {
  dy = dx = 0;
  if (limit < 1) return;
  const int small = std::max(1, limit / 3);
  switch (i % 4) {
    case 0:  // small odd, one positive one negative
      dy = RandomOdd(rng, small);
      dx = -RandomOdd(rng, small);
      break;
    case 1:  // zero and large
      dy = 0;
      dx = RandomLarge(rng, limit) * (rng.Bernoulli(0.5) ? 1 : -1);
      break;
    case 2:  // large negative and anything
      dy = -RandomLarge(rng, limit);
      dx = rng.UniformInt(-limit, limit);
      break;
    default:
      dy = rng.UniformInt(-limit, limit);
      dx = rng.UniformInt(-limit, limit);
      break;
  }
}

std::vector<ScenePlan> PlanDataset(
    const SynthOptions& o, const std::shared_ptr<const Srgb8Image>& photo) {
  const int limit = EffectiveMaxShift(o);
  std::vector<ScenePlan> plans;
  plans.reserve(o.scenes);
  for (int s = 0; s < o.scenes; ++s) {
    synth::Rng rng(synth::HashMix(o.seed, kSceneStream, s));
    ScenePlan plan;
    const std::string cfa_name =
        o.cfa == "mixed" ? kMixedCycle[s % kMixedCycle.size()] : o.cfa;
    const CfaPattern cfa = *CfaPattern::FromName(cfa_name);
    std::string lower = cfa.name();
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    char name[64];
    std::snprintf(name, sizeof name, "scene-%03d-%s", s, lower.c_str());
    plan.name = name;
    plan.kind = cfa.is_xtrans() ? "X-Trans" : "Bayer";
    plan.rel_dir = plan.kind + "/" + plan.name;

    plan.spec.width = o.width;
    plan.spec.height = o.height;
    plan.spec.cfa = cfa;
    plan.spec.seed = synth::HashMix(o.seed, kContentStream, s);
    plan.spec.max_shift = limit;
    plan.spec.clipped_fraction = s % 2 == 0 ? rng.Uniform(0.03, 0.08) : 0.0;
    if (photo != nullptr) {
      // A stream of its own, so the photograph changes no other choice.
      synth::Rng framing(synth::HashMix(o.seed, kPhotoStream, s));
      plan.spec.clipped_fraction = 0.0;  // the exposure decides
      plan.spec.photo = photo;
      plan.spec.look.exposure_ev = o.exposure_ev;
      plan.spec.look.light = o.light;
      plan.spec.look.zoom = framing.Uniform(1.0, 1.3);
      plan.spec.look.offset_y = framing.Uniform();
      plan.spec.look.offset_x = framing.Uniform();
    }

    plan.dng.bits = o.bits;
    plan.dng.black = BlackFor(o.bits);
    if (o.masked_border) {
      // Real sensors have a few dozen masked columns; Bayer offsets must be
      // even (see dng_writer.h), X-Trans ones may be odd. A stream of its
      // own, so the border changes no other choice (same pixels, shifts).
      synth::Rng border(synth::HashMix(o.seed, kBorderStream, s));
      if (cfa.is_xtrans()) {
        plan.dng.masked_top = border.UniformInt(1, 15);
        plan.dng.masked_left = border.UniformInt(1, 23);
      } else {
        plan.dng.masked_top = 2 * border.UniformInt(1, 8);
        plan.dng.masked_left = 2 * border.UniformInt(1, 12);
      }
      plan.dng.masked_bottom = border.UniformInt(0, 7);
      plan.dng.masked_right = border.UniformInt(0, 15);
    }

    const std::string prefix = plan.kind + "_" + plan.name + "_";
    for (int g = 0; g < o.gts_per_scene; ++g) {
      Capture gt;
      gt.is_gt = true;
      gt.gt_index = g;
      gt.noise_level = 0;
      gt.iso = IsoForNoiseLevel(0);
      gt.spec.noise_seed = synth::HashMix(o.seed, kGtNoise, s, g);
      gt.rel_path =
          plan.rel_dir + "/gt/" + prefix + "GT_ISO" + std::to_string(gt.iso) +
          "_sha1=" + Hex16(synth::HashMix(o.seed, kNameHash, s, g)) + ".dng";
      plan.gts.push_back(gt);
    }

    const int gain_offset = rng.UniformInt(0, kGains.size() - 1);
    const int level_offset = rng.UniformInt(0, kNoiseLevelCount - 2);
    for (int i = 0; i < o.noisy; ++i) {
      Capture c;
      PlanShift(rng, i, limit, c.spec.dy, c.spec.dx);
      c.spec.gain = kGains[(i + gain_offset) % kGains.size()];
      c.noise_level = 1 + (i + level_offset) % (kNoiseLevelCount - 1);
      plan.noisy.push_back(c);
    }
    // The extreme level must be in every scene with three or more captures
    // (with four or more the rotation already covers every level).
    const int extreme = kNoiseLevelCount - 1;
    if (o.noisy >= 3 && std::none_of(plan.noisy.begin(), plan.noisy.end(),
                                     [&](const Capture& c) {
                                       return c.noise_level == extreme;
                                     })) {
      plan.noisy.back().noise_level = extreme;
    }
    for (int i = 0; i < o.noisy; ++i) {
      Capture& c = plan.noisy[i];
      c.spec.noise_level = c.noise_level;
      c.iso = IsoForNoiseLevel(c.noise_level);
      c.spec.noise_seed = synth::HashMix(o.seed, kNoisyNoise, s, i);
      if (i % 3 == 2) {
        // At most 0.3 x 0.3 = 9% of the frame.
        Box box;
        box.height =
            std::max(2, static_cast<int>(o.height * rng.Uniform(0.15, 0.30)));
        box.width =
            std::max(2, static_cast<int>(o.width * rng.Uniform(0.15, 0.30)));
        box.y0 = rng.UniformInt(0, o.height - box.height);
        box.x0 = rng.UniformInt(0, o.width - box.width);
        c.spec.moved_object = box;
      }
      c.rel_path =
          plan.rel_dir + "/" + prefix + "ISO" + std::to_string(c.iso) +
          "_sha1=" + Hex16(synth::HashMix(o.seed, kNameHash, s, 1000000 + i)) +
          ".dng";
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

Json TruthJson(const SynthOptions& o, const std::vector<ScenePlan>& plans,
               bool complete) {
  Json truth;
  truth["generator"] = kGeneratorName;
  truth["version"] = kTruthVersion;
  // False while the files are being written: a dataset whose truth.json
  // says false was interrupted (its files may be missing or partial).
  truth["complete"] = complete;
  truth["seed"] = o.seed;
  truth["options"] = {{"scenes", o.scenes},
                      {"gts_per_scene", o.gts_per_scene},
                      {"noisy", o.noisy},
                      {"width", o.width},
                      {"height", o.height},
                      {"cfa", o.cfa},
                      {"bits", o.bits},
                      {"masked_border", o.masked_border},
                      {"max_shift", o.max_shift},
                      {"effective_max_shift", EffectiveMaxShift(o)},
                      {"content", o.content},
                      {"exposure_ev", o.exposure_ev},
                      {"light", PhotoLightName(o.light)}};
  Json scenes = Json::array();
  Json files = Json::array();
  for (const ScenePlan& plan : plans) {
    Json gts = Json::array();
    for (const Capture& gt : plan.gts) gts.push_back(gt.rel_path);
    scenes.push_back({
        {"scene", plan.rel_dir},
        {"cfa", plan.spec.cfa.name()},
        {"width", plan.spec.width},
        {"height", plan.spec.height},
        {"gts", gts},
        {"gt_iso", IsoForNoiseLevel(0)},
        {"clipped_fraction", plan.spec.clipped_fraction},
        {"content", plan.spec.photo != nullptr ? o.content : ""},
        {"bits", plan.dng.bits},
        {"black", plan.dng.black},
        {"masked_border",
         {{"top", plan.dng.masked_top},
          {"left", plan.dng.masked_left},
          {"bottom", plan.dng.masked_bottom},
          {"right", plan.dng.masked_right}}},
    });
    for (const Capture& c : plan.noisy) {
      Json moved = nullptr;
      if (c.spec.moved_object) {
        const Box& b = *c.spec.moved_object;
        moved = {{"y0", b.y0},
                 {"x0", b.x0},
                 {"height", b.height},
                 {"width", b.width}};
      }
      files.push_back({
          {"path", c.rel_path},
          {"scene", plan.rel_dir},
          {"gt_path", plan.gts.front().rel_path},
          {"dy", c.spec.dy},
          {"dx", c.spec.dx},
          {"gain", c.spec.gain},
          {"noise_level", c.noise_level},
          {"iso", c.iso},
          {"snr", SnrAtMidGrey(c.noise_level)},
          {"cfa", plan.spec.cfa.name()},
          {"moved_object", moved},
      });
    }
  }
  truth["scenes"] = std::move(scenes);
  truth["files"] = std::move(files);
  return truth;
}

// A hidden temporary next to `path`: the scanner ignores hidden files, so
// an interrupted write never shows up as a broken raw.
std::string TempPathFor(const fs::path& path) {
  return (path.parent_path() / ("." + path.filename().string() + ".tmp"))
      .string();
}

Status WriteTextAtomically(const fs::path& path, const std::string& text) {
  const std::string temp = TempPathFor(path);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      return Status::IoError("cannot write '" + temp + "'");
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    return Status::IoError("cannot rename '" + temp + "' to '" + path.string() +
                           "': " + ec.message());
  }
  return Status::Ok();
}

// A relative path from a truth.json we may delete: no absolute paths and
// no "..", so a tampered truth.json cannot make us delete outside out_dir.
bool IsSafeRelative(const std::string& rel) {
  const fs::path p(rel);
  if (rel.empty() || p.is_absolute()) return false;
  for (const auto& part : p) {
    if (part == "..") return false;
  }
  return true;
}

// Makes `out` ready: creates it, or checks that it is empty or a dataset
// we generated (whose files are then removed).
Status PrepareOutDir(const fs::path& out) {
  std::error_code ec;
  const fs::file_status st = fs::status(out, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) {
      return Status::InvalidArgument("'" + out.string() +
                                     "' exists and is not a directory");
    }
    if (fs::is_empty(out, ec) && !ec) return Status::Ok();
    const fs::path truth_path = out / kTruthFile;
    const std::string refuse =
        "refusing to write into '" + out.string() +
        "': it is not empty and has no truth.json from " + kGeneratorName +
        " (use a new or empty directory)";
    std::ifstream in(truth_path);
    if (!in) return Status::InvalidArgument(refuse);
    Json old = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!old.is_object() || old.value("generator", "") != kGeneratorName) {
      return Status::InvalidArgument(refuse);
    }
    // Delete what the previous generation wrote, so scenes it had and this
    // one has not do not linger; anything else (a manifest, masks) stays.
    std::vector<std::string> dirs;
    auto remove_file = [&](const Json& rel) {
      if (!rel.is_string() || !IsSafeRelative(rel.get<std::string>())) return;
      std::error_code ignored;
      fs::remove(out / rel.get<std::string>(), ignored);
    };
    if (old.contains("files") && old["files"].is_array()) {
      for (const Json& f : old["files"]) {
        if (f.is_object() && f.contains("path")) remove_file(f["path"]);
      }
    }
    if (old.contains("scenes") && old["scenes"].is_array()) {
      for (const Json& scene : old["scenes"]) {
        if (!scene.is_object()) continue;
        if (scene.contains("gts") && scene["gts"].is_array()) {
          for (const Json& gt : scene["gts"]) remove_file(gt);
        }
        if (scene.contains("scene") && scene["scene"].is_string() &&
            IsSafeRelative(scene["scene"].get<std::string>())) {
          dirs.push_back(scene["scene"].get<std::string>());
        }
      }
    }
    // Only empty directories go (fs::remove refuses non-empty ones).
    for (const std::string& dir : dirs) {
      std::error_code ignored;
      fs::remove(out / dir / "gt", ignored);
      fs::remove(out / dir, ignored);
      fs::remove(out / fs::path(dir).parent_path(), ignored);
    }
    return Status::Ok();
  }
  fs::create_directories(out, ec);
  if (ec) {
    return Status::IoError("cannot create '" + out.string() +
                           "': " + ec.message());
  }
  return Status::Ok();
}

// Renders and writes one capture: to a hidden temporary, then renamed.
Status WriteCapture(const SyntheticScene& scene, const ScenePlan& plan,
                    const Capture& capture, const fs::path& out,
                    std::uint64_t& bytes) {
  const RawImage image = capture.is_gt
                             ? scene.RenderGt(0, capture.spec.noise_seed)
                             : scene.RenderCapture(capture.spec);
  DngWriteOptions dng = plan.dng;
  dng.iso = capture.iso;
  const fs::path path = out / capture.rel_path;
  const std::string temp = TempPathFor(path);
  Status written = WriteCfaDng(temp, image, dng);
  std::error_code ec;
  if (!written.ok()) {
    fs::remove(temp, ec);
    return written;
  }
  fs::rename(temp, path, ec);
  if (ec) {
    return Status::IoError("cannot rename '" + temp + "' to '" + path.string() +
                           "': " + ec.message());
  }
  bytes = fs::file_size(path, ec);
  return Status::Ok();
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int EffectiveMaxShift(const SynthOptions& options) {
  // |d| <= 20% of the smaller side keeps the overlap >= 0.8 * 0.8 = 64%.
  const int frame_cap = static_cast<int>(
      std::floor(0.2 * std::min(options.width, options.height)));
  return std::max(0, std::min(options.max_shift, frame_cap));
}

Status GenerateDataset(const SynthOptions& options,
                       const std::function<void(const std::string&)>& progress,
                       SynthSummary* summary) {
  const auto start = std::chrono::steady_clock::now();
  DSB_RETURN_IF_ERROR(Validate(options));
  // The photograph first: a bad one leaves the output folder untouched.
  std::shared_ptr<const Srgb8Image> photo;
  if (!options.content.empty()) {
    auto read = ReadPhoto(options.content);
    if (!read.ok()) return read.status().WithContext("--content");
    photo = std::make_shared<const Srgb8Image>(std::move(read).value());
  }
  const fs::path out(options.out_dir);
  DSB_RETURN_IF_ERROR(PrepareOutDir(out));
  const std::vector<ScenePlan> plans = PlanDataset(options, photo);
  // The planned truth goes first, marked incomplete: an interrupted run
  // leaves a directory this generator recognises (and can clean) later.
  DSB_RETURN_IF_ERROR(WriteTextAtomically(
      out / kTruthFile, TruthJson(options, plans, false).dump(1) + "\n"));

  SynthSummary totals;
  const int hw =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const ScenePlan& plan : plans) {
    const auto scene_start = std::chrono::steady_clock::now();
    std::error_code ec;
    fs::create_directories(out / plan.rel_dir / "gt", ec);
    if (ec) {
      return Status::IoError("cannot create '" +
                             (out / plan.rel_dir / "gt").string() +
                             "': " + ec.message());
    }
    const SyntheticScene scene(plan.spec);
    std::vector<const Capture*> jobs;
    for (const Capture& c : plan.gts) jobs.push_back(&c);
    for (const Capture& c : plan.noisy) jobs.push_back(&c);
    std::vector<Status> results(jobs.size());
    std::vector<std::uint64_t> bytes(jobs.size(), 0);
    // Captures in parallel: rendering is itself row-parallel, but writing
    // a DNG (quantising, libtiff) is serial, so overlapping captures keeps
    // the cores busy. A few at a time bounds memory (~6 bytes per pixel
    // each).
    const int workers =
        std::max(1, std::min({hw, 4, static_cast<int>(jobs.size())}));
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&] {
      for (std::size_t j = next++; j < jobs.size(); j = next++) {
        if (failed) return;
        results[j] = WriteCapture(scene, plan, *jobs[j], out, bytes[j]);
        if (!results[j].ok()) failed = true;
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < workers; ++t) pool.emplace_back(work);
    work();
    for (std::thread& th : pool) th.join();
    for (const Status& result : results) {
      if (!result.ok()) return result.WithContext("scene " + plan.rel_dir);
    }
    for (std::uint64_t b : bytes) totals.bytes += b;
    totals.files += static_cast<int>(jobs.size());
    ++totals.scenes;
    if (progress) {
      // Photo scenes clip as their exposure decides: say which photo.
      char content[96];
      if (plan.spec.photo != nullptr) {
        std::snprintf(content, sizeof content, "photo %s %+.1f EV",
                      PhotoLightName(plan.spec.look.light),
                      plan.spec.look.exposure_ev);
      } else {
        std::snprintf(content, sizeof content, "clipped %.1f%%",
                      100 * plan.spec.clipped_fraction);
      }
      char line[256];
      std::snprintf(line, sizeof line,
                    "%s: %s %dx%d, %zu GT + %zu noisy, %s, %.2f s",
                    plan.rel_dir.c_str(), plan.spec.cfa.name().c_str(),
                    plan.spec.width, plan.spec.height, plan.gts.size(),
                    plan.noisy.size(), content, SecondsSince(scene_start));
      progress(line);
    }
  }
  DSB_RETURN_IF_ERROR(WriteTextAtomically(
      out / kTruthFile, TruthJson(options, plans, true).dump(1) + "\n"));
  totals.seconds = SecondsSince(start);
  if (summary != nullptr) *summary = totals;
  return Status::Ok();
}

}  // namespace dsb
