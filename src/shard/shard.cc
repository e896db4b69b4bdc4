#include "shard/shard.h"

#include <xxhash.h>

#include <charconv>
#include <cstdlib>

namespace dsb {

namespace {

// A non-negative decimal without sign or spaces, or nullopt.
std::optional<int> ParseCount(std::string_view text) {
  int value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string ShardSpec::ToString() const {
  return std::to_string(index) + "/" + std::to_string(count);
}

Result<ShardSpec> ParseShardSpec(std::string_view text) {
  const std::size_t slash = text.find('/');
  std::optional<int> index, count;
  if (slash != std::string_view::npos) {
    index = ParseCount(text.substr(0, slash));
    count = ParseCount(text.substr(slash + 1));
  }
  if (!index || !count || *count < 1 || *index >= *count) {
    return Status::InvalidArgument(
        "--shard needs I/N with 0 <= I < N (shards are numbered from 0, as "
        "Slurm's --array=0-N-1), not '" +
        std::string(text) + "'");
  }
  return ShardSpec{*index, *count};
}

std::string CanonicalDatasetRoot(const std::string& root) {
  char* resolved = realpath(root.c_str(), nullptr);
  if (resolved == nullptr) return root;
  std::string result(resolved);
  std::free(resolved);
  return result;
}

int ShardOfScene(std::string_view scene, int count) {
  // XXH3-64 is specified to give the same value on every platform, so
  // every node of a cluster agrees on the assignment.
  const XXH64_hash_t hash = XXH3_64bits(scene.data(), scene.size());
  return static_cast<int>(hash % static_cast<XXH64_hash_t>(count));
}

bool InShard(std::string_view scene, const ShardSpec& shard) {
  return !shard.active() || ShardOfScene(scene, shard.count) == shard.index;
}

std::string ShardsDir(const std::string& db_path) {
  return db_path + ".shards";
}

std::string TaskManifestPath(const std::string& db_path,
                             const ShardSpec& shard) {
  return ShardsDir(db_path) + "/" + std::to_string(shard.index) + "-of-" +
         std::to_string(shard.count) + ".db";
}

std::optional<ShardSpec> ShardFromTaskManifestName(std::string_view name) {
  if (!name.ends_with(".db")) return std::nullopt;
  name.remove_suffix(3);
  const std::size_t of = name.find("-of-");
  if (of == std::string_view::npos) return std::nullopt;
  const std::optional<int> index = ParseCount(name.substr(0, of));
  const std::optional<int> count = ParseCount(name.substr(of + 4));
  if (!index || !count || *count < 1 || *index >= *count) return std::nullopt;
  // Only the canonical spelling (no leading zeros), so one shard has one
  // file name.
  ShardSpec spec{*index, *count};
  if (name != std::to_string(spec.index) + "-of-" + std::to_string(spec.count))
    return std::nullopt;
  return spec;
}

}  // namespace dsb
