// shard: which scenes a shard task builds, and where it records them
// (docs/contract.md §7).
//
// `dataset-build --shard I/N` builds the scenes whose ShardOfScene is I. The
// rule is a hash of the scene's path relative to the dataset root, so a
// scene's shard depends on nothing but its own name and N: adding or
// removing other scenes never moves it, and every machine computes the same
// assignment. Shards are numbered 0..N-1 (Slurm's --array=0-N-1).
//
// A shard task never writes the dataset's main manifest: it records into its
// own task manifest, `<manifest>.shards/<I>-of-<N>.db`, which
// `dataset-build merge` folds into the main one (merge/merge.h).
//
// Thread safety: pure functions (CanonicalDatasetRoot reads the file
// system).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dsb {

struct ShardSpec {
  int index = 0;  // 0 .. count-1
  int count = 0;  // 0: not a shard task (a whole-dataset build)

  bool active() const { return count > 0; }
  // "I/N"
  std::string ToString() const;
  bool operator==(const ShardSpec&) const = default;
};

// Parses "I/N" (0 <= I < N); a usage error naming the text otherwise.
Result<ShardSpec> ParseShardSpec(std::string_view text);

// The dataset root as an absolute path without symlinks (realpath), which
// task manifests record and the merge compares, so a task manifest of
// another dataset is refused; `root` as given when it cannot be resolved.
std::string CanonicalDatasetRoot(const std::string& root);

// The shard (0..count-1) of the scene at `scene` (its path relative to the
// dataset root, as the scan reports it): XXH3-64 of the path bytes mod
// count. count must be positive.
int ShardOfScene(std::string_view scene, int count);

// Whether `scene` belongs to `shard`; every scene does when !shard.active().
bool InShard(std::string_view scene, const ShardSpec& shard);

// The folder that holds the task manifests of the main manifest `db_path`:
// "<db_path>.shards".
std::string ShardsDir(const std::string& db_path);

// "<db_path>.shards/<I>-of-<N>.db"
std::string TaskManifestPath(const std::string& db_path,
                             const ShardSpec& shard);

// The shard a task manifest's file name ("<I>-of-<N>.db") stands for, or
// nullopt for any other name.
std::optional<ShardSpec> ShardFromTaskManifestName(std::string_view name);

}  // namespace dsb
