// scan: finds the scenes of a dataset tree and their raw files
// (docs/contract.md §1).
//
// A scene is any directory with a `gt/` subdirectory; its ground-truth
// captures are the raw files in `<scene>/gt/`, its noisy captures the raw
// files directly in `<scene>/`. Scenes are searched for recursively, so a flat
// root of scene folders and the RawNIND tree (`src/Bayer/<scene>/…`) both
// work.
//
// Decisions the contract leaves open:
//  - Subdirectories of a scene other than gt/ never add captures to it, but
//    they are still searched for scenes of their own (nested scenes are
//    separate scenes). RawNIND has no nesting, so this only matters for odd
//    trees, and it never loses a scene. gt/ is not searched for scenes, and
//    subdirectories of gt/ are ignored.
//  - Hidden directories (leading '.') are not entered.
//  - Symlinks to files are followed. Symlinks to directories are followed
//    after the real (non-symlink) tree has been walked, and only into
//    directories not entered yet: a link into the dataset itself is
//    skipped (else its scenes would be listed twice, under two names), and
//    a link to a directory that contains it (a loop) is skipped. Both are
//    recorded as problems. Directories are identified by inode only:
//    FileInfo has no device number, so a link into another file system
//    whose directory shares an inode number with one already entered is
//    wrongly skipped (with a problem saying so, never silently). Real
//    subdirectories are always entered (a real tree cannot loop). A gt/
//    that is a symlink (a GT directory shared by scenes) is listed like any
//    gt/; gt/ is never descended into, so it cannot loop.
//  - Entries that are neither regular files nor directories (fifos,
//    sockets, devices) are not raw files and are skipped silently.
//  - Unreadable directories and entries that cannot be stat()ed (dangling
//    or looping links, files deleted mid-scan) are recorded as problems;
//    the scan goes on.
//
// Each entry that passes the name filter is stat()ed exactly once; ignored
// names are never stat()ed.
//
// Thread safety: ScanDataset keeps no state between calls; it is as
// thread safe as the FileSystem passed in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_system.h"
#include "common/result.h"
#include "core/file_record.h"

namespace dsb {

struct ScanOptions {
  // Paths the tool itself writes inside the dataset (the manifest and its
  // SQLite side files, the masks directory, the lock file): never reported
  // and never entered. Either as passed to the FileSystem (root + "/" +
  // ...) or relative to the root; compared after removing "." components
  // and repeated slashes, without resolving symlinks.
  std::vector<std::string> excluded_paths;
};

// The manifest file and the side files SQLite creates next to it
// (-wal, -shm, -journal), for ScanOptions::excluded_paths.
std::vector<std::string> ManifestSidecarPaths(const std::string& db_path);

struct ScannedScene {
  std::string scene;  // rel path of the scene directory; "." for the root
  // Sorted by rel_path bytes; scene, role, path and stat filled in (the
  // hash is fingerprinting's job).
  std::vector<FileRecord> gt;
  std::vector<FileRecord> noisy;
  // Problems met inside this scene ("<path>: <reason>"); the build should
  // fail the scene, since its file list may be incomplete.
  std::vector<std::string> problems;
};

struct ScanResult {
  std::vector<ScannedScene> scenes;  // sorted by scene bytes
  // Problems outside any scene ("<path>: <reason>").
  std::vector<std::string> problems;
  std::uint64_t files_stated = 0;  // Stat() calls the scan made
};

// Scans `root` (which must be a readable directory: otherwise an error
// naming it). Problems below the root do not fail the scan.
Result<ScanResult> ScanDataset(FileSystem& fs, const std::string& root,
                               const ScanOptions& options);

// True for names that are never raw files, whatever their content: hidden
// files, XMP sidecars, darktable exports, JPEG/TIFF/EXR/PNG images (any
// case), and our own temporary files (kTempSuffix).
bool IsIgnoredFileName(std::string_view name);

// `root` + "/" + `rel_path`, without doubling a slash; `rel_path` "." is
// the root itself.
std::string JoinPath(std::string_view root, std::string_view rel_path);

}  // namespace dsb
