#include "synth/synth_command.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cxxopts.hpp>
#include <string>
#include <vector>

#include "synth/generate.h"

namespace dsb {

namespace {

constexpr const char* kUsageHint = "Try 'dataset-build synth --help'.\n";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "dataset-build synth: %s\n%s", message.c_str(),
               kUsageHint);
  return 2;
}

// "WxH" (e.g. 6000x4000).
bool ParseSize(const std::string& text, int& width, int& height) {
  const std::size_t x = text.find_first_of("xX");
  if (x == std::string::npos) return false;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto w = std::from_chars(begin, begin + x, width);
  auto h = std::from_chars(begin + x + 1, end, height);
  return w.ec == std::errc() && w.ptr == begin + x && h.ec == std::errc() &&
         h.ptr == end;
}

}  // namespace

int RunSynthCommand(int argc, char** argv) {
  cxxopts::Options options(
      "dataset-build synth",
      "Generates a synthetic RawNIND-like dataset of CFA DNGs with known "
      "shifts, gains and noise levels, recorded in OUT_DIR/truth.json.");
  options.positional_help("OUT_DIR");
  // clang-format off
  options.add_options()
    ("scenes", "number of scenes", cxxopts::value<int>()->default_value("4"))
    ("noisy", "noisy captures per scene", cxxopts::value<int>()->default_value("4"))
    ("gts", "ground-truth captures per scene", cxxopts::value<int>()->default_value("1"))
    ("size", "frame size WxH", cxxopts::value<std::string>()->default_value("1536x1024"))
    ("cfa", "rggb, bggr, grbg, gbrg, xtrans or mixed (cycles all five)", cxxopts::value<std::string>()->default_value("mixed"))
    ("seed", "random seed (same seed, same files)", cxxopts::value<std::uint64_t>()->default_value("1"))
    ("bits", "DNG bit depth: 12 or 14", cxxopts::value<int>()->default_value("14"))
    ("masked-border", "add a masked (black) sensor border")
    ("max-shift", "largest |dy|, |dx| (also capped at 20% of the smaller side)", cxxopts::value<int>()->default_value("128"))
    ("content", "render every scene from this photograph (PNG or JPEG) instead of procedural content", cxxopts::value<std::string>())
    ("exposure", "with --content: stops over the metered exposure (median green at 0.18); +1 or more clips wide areas of one channel under warm light", cxxopts::value<double>()->default_value("0"))
    ("light", "with --content: daylight or warm (tungsten-like; red reads above green)", cxxopts::value<std::string>()->default_value("daylight"))
    ("h,help", "print this help")
    ("out", "output directory", cxxopts::value<std::vector<std::string>>());
  // clang-format on
  options.parse_positional({"out"});

  cxxopts::ParseResult parsed;
  try {
    parsed = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& error) {
    return UsageError(error.what());
  }
  if (parsed.count("help")) {
    std::fputs(options.help().c_str(), stdout);
    return 0;
  }
  if (!parsed.count("out") ||
      parsed["out"].as<std::vector<std::string>>().size() != 1) {
    return UsageError("expected exactly one OUT_DIR");
  }

  SynthOptions synth;
  try {
    synth.out_dir = parsed["out"].as<std::vector<std::string>>().front();
    synth.scenes = parsed["scenes"].as<int>();
    synth.noisy = parsed["noisy"].as<int>();
    synth.gts_per_scene = parsed["gts"].as<int>();
    synth.cfa = parsed["cfa"].as<std::string>();
    synth.seed = parsed["seed"].as<std::uint64_t>();
    synth.bits = parsed["bits"].as<int>();
    synth.masked_border = parsed.count("masked-border") > 0;
    synth.max_shift = parsed["max-shift"].as<int>();
    if (parsed.count("content")) {
      synth.content = parsed["content"].as<std::string>();
      if (synth.content.empty()) return UsageError("--content: empty path");
    }
    synth.exposure_ev = parsed["exposure"].as<double>();
    const std::string light = parsed["light"].as<std::string>();
    if (!ParsePhotoLight(light, synth.light)) {
      return UsageError("--light: must be daylight or warm, not '" + light +
                        "'");
    }
    if (!parsed.count("content") &&
        (parsed.count("exposure") || parsed.count("light"))) {
      return UsageError("--exposure and --light need --content");
    }
    const std::string size = parsed["size"].as<std::string>();
    if (!ParseSize(size, synth.width, synth.height)) {
      return UsageError("--size: expected WxH, e.g. 1536x1024, not '" + size +
                        "'");
    }
  } catch (const cxxopts::exceptions::exception& error) {
    return UsageError(error.what());
  }
  if (synth.bits != 12 && synth.bits != 14) {
    return UsageError("--bits: must be 12 or 14");
  }

  SynthSummary summary;
  const Status status = GenerateDataset(
      synth,
      [](const std::string& line) {
        std::fprintf(stderr, "%s\n", line.c_str());
      },
      &summary);
  if (!status.ok()) {
    std::fprintf(stderr, "dataset-build synth: %s\n", status.message().c_str());
    // Bad option values are usage errors; everything else is a failure.
    return status.code() == Status::Code::kInvalidArgument &&
                   status.message().rfind("invalid synth options", 0) == 0
               ? 2
               : 1;
  }
  std::printf(
      "%s: %d scenes, %d files, %.1f MB in %.2f s (truth in %s/truth.json)\n",
      synth.out_dir.c_str(), summary.scenes, summary.files,
      static_cast<double>(summary.bytes) / 1e6, summary.seconds,
      synth.out_dir.c_str());
  return 0;
}

}  // namespace dsb
