#include "hash/fingerprint.h"

#include "scan/scan.h"

namespace dsb {

std::string RehashReason(const FileRecord& file, const FileRecord* known,
                         const FingerprintOptions& options,
                         std::int64_t now_ns) {
  if (known == nullptr) return "new";
  if (options.verify) return "--verify";
  if (known->size != file.size) return "size changed";
  if (known->mtime_ns != file.mtime_ns) return "mtime changed";
  if (known->inode != file.inode) return "inode changed";
  if (!Hash128::FromHex(known->hash_hex).has_value()) return "no hash recorded";
  const std::int64_t mtime = file.mtime_ns;
  if (known->hashed_at_ns == 0 ||
      mtime >= known->hashed_at_ns - options.racy_window_ns ||
      mtime >= now_ns - options.recent_window_ns) {
    return "racy";
  }
  return "";
}

namespace {

std::int64_t NowNs(FileSystem& fs, const FingerprintOptions& options) {
  return options.now_ns != 0 ? options.now_ns : fs.NowNs();
}

void CountChecked(const FingerprintOptions& options, bool reused) {
  if (options.stats == nullptr) return;
  options.stats->files_checked.fetch_add(1, std::memory_order_relaxed);
  if (reused) {
    options.stats->files_reused.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

bool ReuseRecordedHash(FileSystem& fs, FileRecord& file,
                       const FileRecord* known,
                       const FingerprintOptions& options) {
  if (!RehashReason(file, known, options, NowNs(fs, options)).empty()) {
    return false;
  }
  CountChecked(options, /*reused=*/true);
  file.hash_hex = known->hash_hex;
  file.hashed_at_ns = known->hashed_at_ns;
  return true;
}

Result<FingerprintResult> Fingerprint(FileSystem& fs, const std::string& root,
                                      const FileRecord& file,
                                      const FileRecord* known,
                                      const FingerprintOptions& options) {
  FingerprintResult result;
  result.why = RehashReason(file, known, options, NowNs(fs, options));
  CountChecked(options, /*reused=*/result.why.empty());
  if (result.why.empty()) {
    result.hash_hex = known->hash_hex;
    result.recorded_at_ns = known->hashed_at_ns;
    return result;
  }
  // The clock is read before the content, so a write racing with the read
  // leaves an mtime at or after recorded_at: racy next time.
  result.recorded_at_ns = fs.NowNs();
  const std::string path = JoinPath(root, file.rel_path);
  HashStats hash_stats;
  DSB_ASSIGN_OR_RETURN(Hash128 hash,
                       HashFile(fs, path, &hash_stats, options.buffer_size));
  const std::uint64_t bytes = hash_stats.bytes_hashed.load();
  if (options.stats != nullptr) {
    options.stats->files_rehashed.fetch_add(1, std::memory_order_relaxed);
    options.stats->bytes_hashed.fetch_add(bytes, std::memory_order_relaxed);
  }
  if (bytes != file.size) {
    return Status::IoError("'" + path + "' changed while being hashed (" +
                           std::to_string(bytes) + " bytes read, " +
                           std::to_string(file.size) + " expected)");
  }
  result.hash_hex = hash.ToHex();
  result.rehashed = true;
  return result;
}

}  // namespace dsb
