// File names for loss masks (docs/contract.md §3).
//
// Every pair gets one PNG directly inside the masks directory (no per-scene
// subfolders, so pruning a scene never has to remove directories). The name
// is a single path component built from sanitised, truncated stems of the
// scene and of the two file names, for people, followed by the XXH3-128 of
// the exact (scene, gt, noisy) byte strings, for uniqueness:
//
//   <scene>__<gt stem>__<noisy stem>__<32 hex digits>.png
//
// Whatever bytes the inputs hold (slashes, "..", newlines, non-UTF-8, any
// length), the result is printable ASCII from [A-Za-z0-9._+-], never starts
// with '.' or '-', never contains '/', and is at most kMaxMaskNameBytes long.
// Two different pairs collide only if XXH3-128 collides.
//
// Pure functions; thread safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dsb {

// Longest mask file name produced, ".png" included (the common NAME_MAX).
inline constexpr std::size_t kMaxMaskNameBytes = 255;

// The mask file name of the pair (gt_rel_path, noisy_rel_path) of `scene`.
// The paths are those recorded in the manifest (relative to the dataset
// root); only their last components appear in the readable part, but the
// hash covers all three strings in full.
std::string MaskFileName(std::string_view scene, std::string_view gt_rel_path,
                         std::string_view noisy_rel_path);

// `text` reduced to at most `max_bytes` characters from [A-Za-z0-9._+-]:
// runs of other bytes become one '_', leading '.', '-' and '_' are dropped.
// Empty when nothing printable is left. Exposed for tests.
std::string SanitizeNameStem(std::string_view text, std::size_t max_bytes);

}  // namespace dsb
