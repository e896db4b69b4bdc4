// Loss-mask accuracy beyond what the unit tests can afford
// (tests/support/mask_scores.h).
//
// Procedural content: for SEEDS seeds from FIRST, every CFA and noise
// levels 0, 2 and the most extreme, one generated pair with a random
// shift and moved object. Real-photo content (with --photos): for every
// photograph of tests/support/photos.h that is present, every look of
// SweepLooks() (daylight, warm +1 EV, warm +2 EV), every CFA and SEEDS
// seeds, five captures (noise 0 to the most extreme, gains 0.5 to 2, odd
// and even shifts, moved objects in bright and dark regions). Prints each
// case that misses the targets and a summary per CFA; --table
// prints every case, and --hash adds each mask's XXH64 and mean to its
// line (to show that a speed change leaves every mask as it was).
// --dump DIR writes each mask's pixels to DIR/NNNNN.raw (cases numbered
// in order; width and height in the first 8 bytes), to compare two builds'
// masks pixel by pixel. --cell-footprint and --noisy-clipped mask with those
// parameters (MaskParams::clip_footprint = kCell, mask_noisy_clipped) instead
// of the defaults, so that the hashes cover their paths too (the targets are
// the defaults', so such runs may report misses).
//
//   mask_sweep [--photos] [--table] [--hash] [--dump DIR]
//              [--cell-footprint] [--noisy-clipped]
//              [FIRST [SEEDS [WIDTH HEIGHT]]]
//   (default: 111 40 320 240; with --photos 111 2 320 240)
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mask_scores.h"
#include "photos.h"
#include "synth/photo_reader.h"

namespace {

struct Tally {
  int cases = 0;
  int fails = 0;
  double worst_moved = 1;
  double worst_static_low = 1;   // noise levels 0-1
  double worst_static_high = 1;  // the others
  long long clipped_kept = 0;
  void Add(const dsb::testing::MaskScores& s, int level) {
    ++cases;
    worst_moved = std::min(worst_moved, s.moved_flagged);
    double& worst = level <= 1 ? worst_static_low : worst_static_high;
    worst = std::min(worst, s.static_kept);
    clipped_kept += s.clipped_kept;
    if (!dsb::testing::MeetsMaskTargets(s, level)) ++fails;
  }
};

// --hash: the last mask's XXH64 (of its rows) and mean, for its line.
bool g_hash = false;
std::string g_last_hash;
// The parameters every mask is made with.
dsb::MaskParams g_params;
// --dump: where the masks go, and the next one's number.
std::string g_dump_dir;
int g_dumped = 0;

void DumpMask(const dsb::LossMask& mask) {
  char name[32];
  std::snprintf(name, sizeof name, "/%05d.raw", g_dumped++);
  std::ofstream out(g_dump_dir + name, std::ios::binary);
  const std::int32_t size[2] = {mask.pixels.width(), mask.pixels.height()};
  out.write(reinterpret_cast<const char*>(size), sizeof size);
  for (int y = 0; y < mask.pixels.height(); ++y) {
    out.write(reinterpret_cast<const char*>(mask.pixels.row(y)),
              mask.pixels.width());
  }
}

std::string HashMask(const dsb::LossMask& mask) {
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  for (int y = 0; y < mask.pixels.height(); ++y) {
    XXH64_update(state, mask.pixels.row(y),
                 static_cast<std::size_t>(mask.pixels.width()));
  }
  char text[64];
  std::snprintf(text, sizeof text, " xxh64 %016llx mean %.9f",
                static_cast<unsigned long long>(XXH64_digest(state)),
                mask.mean);
  XXH64_freeState(state);
  return text;
}

std::vector<dsb::CfaPattern> AllCfas() {
  return {dsb::CfaPattern::Bayer(dsb::BayerOrder::kRGGB),
          dsb::CfaPattern::Bayer(dsb::BayerOrder::kBGGR),
          dsb::CfaPattern::Bayer(dsb::BayerOrder::kGRBG),
          dsb::CfaPattern::Bayer(dsb::BayerOrder::kGBRG),
          dsb::CfaPattern::StandardXTrans()};
}

// Masks one capture at its true shift and gain and scores the mask against
// the generated truth, with the sweep's margin for its CFA and noise level.
dsb::Result<dsb::testing::MaskScores> MaskAndScore(
    const dsb::RawImage& gt, const dsb::RawImage& noisy,
    const dsb::CaptureSpec& capture, const dsb::CfaPattern& cfa) {
  dsb::Alignment alignment;
  alignment.dy = capture.dy;
  alignment.dx = capture.dx;
  alignment.raw_gain = capture.gain;
  DSB_ASSIGN_OR_RETURN(dsb::LossMask mask,
                       dsb::MakeLossMask(gt, noisy, alignment, g_params));
  if (g_hash) g_last_hash = HashMask(mask);
  if (!g_dump_dir.empty()) DumpMask(mask);
  return dsb::testing::ScoreMask(
      gt, noisy, capture, mask,
      dsb::testing::SweepMargin(cfa, capture.noise_level));
}

int ProceduralSweep(int first, int seeds, int width, int height, bool table) {
  int total = 0;
  int missed = 0;
  for (const dsb::CfaPattern& cfa : AllCfas()) {
    Tally tally;
    for (int seed = first; seed < first + seeds; ++seed) {
      const auto sweep = dsb::testing::MakeSweepScene(cfa, seed, width, height);
      const dsb::SyntheticScene scene(sweep.spec);
      const dsb::RawImage gt = scene.RenderGt();
      for (const dsb::CaptureSpec& capture : sweep.captures) {
        const dsb::RawImage noisy = scene.RenderCapture(capture);
        const auto scores = MaskAndScore(gt, noisy, capture, cfa);
        if (!scores.ok()) {
          std::fprintf(stderr, "%s\n", scores.status().ToString().c_str());
          return 1;
        }
        const dsb::testing::MaskScores& s = *scores;
        const int before = tally.fails;
        tally.Add(s, capture.noise_level);
        if (table || tally.fails > before) {
          std::printf(
              "  %s %s seed %d level %d shift (%d,%d): moved %.4f static "
              "%.4f clipped kept %lld%s\n",
              tally.fails > before ? "MISS" : "ok  ", cfa.name().c_str(), seed,
              capture.noise_level, capture.dy, capture.dx, s.moved_flagged,
              s.static_kept, static_cast<long long>(s.clipped_kept),
              g_hash ? g_last_hash.c_str() : "");
        }
      }
    }
    std::printf(
        "%-6s %d/%d cases meet the targets; worst moved %.4f, worst static "
        "%.4f (levels 0-1) %.4f (2-4)\n",
        cfa.name().c_str(), tally.cases - tally.fails, tally.cases,
        tally.worst_moved, tally.worst_static_low, tally.worst_static_high);
    std::fflush(stdout);
    total += tally.cases;
    missed += tally.fails;
  }
  std::printf("all    %d/%d cases meet the targets\n", total - missed, total);
  return 0;
}

int PhotoSweep(int first, int seeds, int width, int height, bool table) {
  int total = 0;
  int missed = 0;
  std::printf("%-20s %-14s %-6s %4s %5s %4s %-9s %-6s %8s %8s %8s  %s\n",
              "photo", "look", "cfa", "seed", "level", "gain", "shift",
              "object", "clipped", "static", "moved", "GT clipped R/G/B");
  for (const std::string& name : dsb::testing::SweepPhotoNames()) {
    const std::string path = dsb::testing::FindPhoto(name);
    if (path.empty()) {
      std::printf("%s: absent from %s, skipped\n", name.c_str(),
                  dsb::testing::PhotoDir().c_str());
      continue;
    }
    auto read = dsb::ReadPhoto(path);
    if (!read.ok()) {
      std::fprintf(stderr, "%s\n", read.status().ToString().c_str());
      return 1;
    }
    const auto photo =
        std::make_shared<const dsb::Srgb8Image>(std::move(read).value());
    for (const dsb::PhotoLook& look : dsb::testing::SweepLooks()) {
      for (const dsb::CfaPattern& cfa : AllCfas()) {
        Tally tally;
        for (int seed = first; seed < first + seeds; ++seed) {
          const auto sweep = dsb::testing::MakePhotoSweepScene(
              photo, look, cfa, seed, width, height);
          const dsb::RawImage gt = sweep.scene->RenderGt();
          for (std::size_t k = 0; k < sweep.captures.size(); ++k) {
            const dsb::CaptureSpec& capture = sweep.captures[k];
            const dsb::RawImage noisy = sweep.scene->RenderCapture(capture);
            const auto scores = MaskAndScore(gt, noisy, capture, cfa);
            if (!scores.ok()) {
              std::fprintf(stderr, "%s\n", scores.status().ToString().c_str());
              return 1;
            }
            const dsb::testing::MaskScores& s = *scores;
            const int before = tally.fails;
            tally.Add(s, capture.noise_level);
            if (table || tally.fails > before) {
              char shift[16];
              std::snprintf(shift, sizeof shift, "(%d,%d)", capture.dy,
                            capture.dx);
              std::printf(
                  "%-20s %-14s %-6s %4d %5d %4.1f %-9s %-6s %7.2f%% %7.2f%% "
                  "%7.2f%%  %.0f/%.0f/%.0f%%%s%s\n",
                  name.c_str(), dsb::testing::DescribeLook(look).c_str(),
                  cfa.name().c_str(), seed, capture.noise_level, capture.gain,
                  shift, sweep.bright[k] ? "bright" : "dark",
                  s.clipped_total > 0
                      ? 100.0 * (s.clipped_total - s.clipped_kept) /
                            s.clipped_total
                      : 100.0,
                  100 * s.static_kept, 100 * s.moved_flagged,
                  100 * s.clipped_share[0], 100 * s.clipped_share[1],
                  100 * s.clipped_share[2],
                  tally.fails > before ? "  MISS" : "",
                  g_hash ? g_last_hash.c_str() : "");
            }
          }
        }
        std::printf(
            "summary %-20s %-14s %-6s %d/%d meet the targets; worst moved "
            "%.4f, worst static %.4f (levels 0-1) %.4f (2-4), clipped kept "
            "%lld\n",
            name.c_str(), dsb::testing::DescribeLook(look).c_str(),
            cfa.name().c_str(), tally.cases - tally.fails, tally.cases,
            tally.worst_moved, tally.worst_static_low, tally.worst_static_high,
            tally.clipped_kept);
        std::fflush(stdout);
        total += tally.cases;
        missed += tally.fails;
      }
    }
  }
  std::printf("all    %d/%d real-photo cases meet the targets\n",
              total - missed, total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool photos = false;
  bool table = false;
  std::vector<const char*> args;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--photos") == 0) {
      photos = true;
    } else if (std::strcmp(argv[i], "--table") == 0) {
      table = true;
    } else if (std::strcmp(argv[i], "--hash") == 0) {
      g_hash = true;
    } else if (std::strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
      g_dump_dir = argv[++i];
    } else if (std::strcmp(argv[i], "--cell-footprint") == 0) {
      g_params.clip_footprint = dsb::ClipFootprint::kCell;
    } else if (std::strcmp(argv[i], "--noisy-clipped") == 0) {
      g_params.mask_noisy_clipped = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  const int n = static_cast<int>(args.size());
  const int first = n > 0 ? std::atoi(args[0]) : 111;
  const int seeds = n > 1 ? std::atoi(args[1]) : (photos ? 2 : 40);
  const int width = n > 3 ? std::atoi(args[2]) : 320;
  const int height = n > 3 ? std::atoi(args[3]) : 240;
  if (width < 200 || height < 180) {
    std::fprintf(stderr, "mask_sweep: WIDTH must be >= 200, HEIGHT >= 180\n");
    return 2;
  }
  return photos ? PhotoSweep(first, seeds, width, height, table)
                : ProceduralSweep(first, seeds, width, height, table);
}
