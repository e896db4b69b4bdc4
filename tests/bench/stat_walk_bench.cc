// How long scanning and fingerprinting take on real files: the cost of a
// no-op rebuild ("stat walk") against a first build (hash everything).
//
// Usage: stat_walk_bench [ROOT]. Without ROOT it builds a RawNIND-shaped
// tree in a temp dir (100 scenes x 10 files x 256 KiB).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "hash/fingerprint.h"
#include "scan/scan.h"
#include "test_support.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void MakeTree(const std::string& root) {
  dsb::FileSystem& fs = dsb::RealFileSystem();
  std::string bytes(256 * 1024, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 131);
  for (int s = 0; s < 100; ++s) {
    std::string scene = root + "/src/Bayer/scene" + std::to_string(s);
    (void)fs.CreateDirectories(scene + "/gt");
    for (int f = 0; f < 10; ++f) {
      std::string path = f < 2 ? scene + "/gt/GT_" + std::to_string(f) + ".arw"
                               : scene + "/ISO" + std::to_string(f) + ".arw";
      bytes[0] = char(s);
      bytes[1] = char(f);
      std::ofstream(path, std::ios::binary) << bytes;
      std::ofstream(path + ".xmp") << "sidecar";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  dsb::testing::TempDir temp;
  std::string root = argc > 1 ? argv[1] : temp.path();
  if (argc <= 1) MakeTree(root);
  dsb::FileSystem& fs = dsb::RealFileSystem();

  auto start = Clock::now();
  auto scan = dsb::ScanDataset(fs, root, {});
  if (!scan.ok()) {
    std::fprintf(stderr, "%s\n", scan.status().ToString().c_str());
    return 1;
  }
  double scan_s = Seconds(start);
  std::vector<const dsb::FileRecord*> files;
  for (const auto& s : scan->scenes) {
    for (const auto& f : s.gt) files.push_back(&f);
    for (const auto& f : s.noisy) files.push_back(&f);
  }
  std::printf("scan: %zu scenes, %zu files, %llu stats in %.3f s\n",
              scan->scenes.size(), files.size(),
              static_cast<unsigned long long>(scan->files_stated), scan_s);

  std::map<std::string, dsb::FileRecord> known;
  for (int pass = 0; pass < 2; ++pass) {
    dsb::FingerprintStats stats;
    dsb::FingerprintOptions options;
    options.stats = &stats;
    // Pretend the files were hashed, and the second pass runs, a minute
    // after they were written, so nothing is racy.
    options.now_ns = fs.NowNs() + pass * 60'000'000'000LL;
    start = Clock::now();
    for (const dsb::FileRecord* f : files) {
      auto it = known.find(f->rel_path);
      auto r = dsb::Fingerprint(
          fs, root, *f, it == known.end() ? nullptr : &it->second, options);
      if (!r.ok()) {
        std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
        continue;
      }
      dsb::FileRecord& k = known[f->rel_path];
      k = *f;
      k.hash_hex = r->hash_hex;
      k.hashed_at_ns = r->recorded_at_ns + (r->rehashed ? 60'000'000'000LL : 0);
    }
    double s = Seconds(start);
    double mb = stats.bytes_hashed.load() / 1e6;
    std::printf(
        "fingerprint pass %d: %llu rehashed, %.1f MB in %.3f s (%.0f MB/s)\n",
        pass + 1, static_cast<unsigned long long>(stats.files_rehashed.load()),
        mb, s, s > 0 ? mb / s : 0.0);
  }
  return 0;
}
