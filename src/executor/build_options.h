// Everything a build (or --status) is asked to do, as parsed from the command
// line. Parameters that change results (alignment, masks) are fingerprinted
// into every scene's key; the others (jobs, device, memory, output) are not.
//
// Plain value; thread safe to share read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "align/correlator.h"
#include "mask/loss_mask.h"
#include "shard/shard.h"

namespace dsb {

struct BuildOptions {
  std::string root = ".";
  std::string db_path;    // default: <root>/dataset-build.db
  std::string masks_dir;  // default: <root>/masks
  // --crops: also write RawNIND's training crops (crops/crop_stage.h) into
  // crops_dir (default <root>/crops). Never changes the scenes' results.
  bool crops = false;
  std::string crops_dir;
  int jobs = 0;  // 0: all cores
  Device device = Device::kAuto;
  bool force = false;    // rebuild every scene
  bool dry_run = false;  // plan and report, change nothing
  bool verify = false;   // re-hash every file, trusting no stat data
  bool wait_for_lock = false;
  bool quiet = false;
  bool json = false;          // summary / status as JSON on stdout
  std::size_t mem_bytes = 0;  // 0: a safe fraction of physical RAM
  // Decoding runs in a worker process per file (raw/isolated_decoder.h)
  // unless this is set (--decode-in-process: debugging, profiling).
  bool decode_in_process = false;
  double decode_timeout_s = 0;  // per file, plus 1 s per MB; 0: 120 s
  // --huge-pages: the build's planes and its decode workers' buffers on
  // transparent huge pages (common/large_pages.h says when that pays).
  bool huge_pages = false;
  // The worker's command line; empty: this executable's __decode-worker.
  // Tests put a fake worker here.
  std::vector<std::string> decode_worker;
  AlignParams align;  // --gpu-mem is align.gpu_memory_bytes
  MaskParams mask;
  // --shard I/N: build only that shard's scenes, reading the main manifest
  // as cache and recording into the task manifest (shard/shard.h).
  ShardSpec shard;

  // Fills in the defaults that depend on the root and the machine.
  void ResolveDefaults();
  // The text hashed into every scene key: algorithm version plus every
  // result-changing parameter.
  std::string ResultFingerprint() const;
};

// The version of the algorithms that produce results, derived from each
// module's own revision (align/'s kAlignRevision, mask/'s kMaskRevision)
// and RawNIND's pair figures (crops/rawnind_loss.h's
// kRawnindFiguresRevision): "align-<rev>/mask-<rev>/rawnind-<rev>". Bumping a
// module's revision changes it, so old manifests see every scene as
// `params`-stale.
std::string AlgorithmVersion();

}  // namespace dsb
