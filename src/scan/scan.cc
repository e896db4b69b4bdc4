#include "scan/scan.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <set>
#include <unordered_set>
#include <utility>

namespace dsb {
namespace {

// A scanned raw file: scene, role, path and stat; no hash yet.
FileRecord Record(const std::string& scene, FileRole role, std::string rel_path,
                  const FileInfo& info) {
  FileRecord file;
  file.scene = scene;
  file.role = role;
  file.rel_path = std::move(rel_path);
  file.size = info.size;
  file.mtime_ns = info.mtime_ns;
  file.inode = info.inode;
  return file;
}

bool EndsWithNoCase(std::string_view name, std::string_view suffix) {
  if (name.size() < suffix.size()) return false;
  std::string_view tail = name.substr(name.size() - suffix.size());
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(tail[i])) != suffix[i]) {
      return false;
    }
  }
  return true;
}

// Removes "." components and repeated or trailing slashes so that excluded
// paths match however the caller spelled them.
std::string Normalize(std::string_view path) {
  std::string out;
  if (!path.empty() && path[0] == '/') out = "/";
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(pos, slash - pos);
    if (!part.empty() && part != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += part;
    }
    pos = slash + 1;
  }
  return out.empty() ? "." : out;
}

// What follows the last '/' of a normalised path (all of it if none).
std::string_view LastComponent(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string RelJoin(const std::string& dir_rel, std::string_view name) {
  if (dir_rel == ".") return std::string(name);
  std::string out;
  out.reserve(dir_rel.size() + 1 + name.size());
  out += dir_rel;
  out += '/';
  out += name;
  return out;
}

// An entry of a directory, stat()ed once (following links).
struct StatedEntry {
  std::string name;
  std::string rel;      // RelJoin(directory, name)
  FileType entry_type;  // from the listing: kSymlink when it is a link
  FileInfo info;        // of the target
};

class Scanner {
 public:
  Scanner(FileSystem& fs, const std::string& root, const ScanOptions& options)
      : fs_(fs), root_(root) {
    for (const std::string& path : options.excluded_paths) {
      std::string norm = Normalize(path);
      if (norm[0] != '/') Exclude(Normalize(JoinPath(root_, norm)));
      Exclude(std::move(norm));
    }
  }

  Result<ScanResult> Run() {
    Result<FileInfo> root_info = Stat(root_);
    if (!root_info.ok()) return root_info.status();
    if (root_info->type != FileType::kDirectory) {
      return Status::InvalidArgument("dataset root '" + root_ +
                                     "' is not a directory");
    }
    std::vector<std::uint64_t> ancestors;
    std::vector<std::string> problems;
    Result<std::vector<StatedEntry>> entries = ListAndStat(".", problems);
    if (!entries.ok()) return entries.status();
    visited_.insert(root_info->inode);
    ancestors.push_back(root_info->inode);
    Walk(".", *entries, problems, ancestors);
    // Symlinked directories are followed only after the real tree is
    // walked, so a link into the dataset itself finds its target visited
    // and is skipped, instead of listing the target's scenes under the
    // link's name.
    while (!deferred_.empty()) {
      DeferredLink link = std::move(deferred_.front());
      deferred_.pop_front();
      if (!ShouldFollow(link.rel, link.entry, link.ancestors)) continue;
      std::vector<std::string> child_problems;
      Result<std::vector<StatedEntry>> children =
          ListAndStat(link.rel, child_problems);
      if (!children.ok()) {
        result_.problems.push_back(children.status().message());
        continue;
      }
      link.ancestors.push_back(link.entry.info.inode);
      Walk(link.rel, *children, child_problems, link.ancestors);
    }
    std::sort(result_.scenes.begin(), result_.scenes.end(),
              [](const ScannedScene& a, const ScannedScene& b) {
                return a.scene < b.scene;
              });
    result_.files_stated = stats_;
    return std::move(result_);
  }

 private:
  void Exclude(std::string normalised) {
    excluded_names_.insert(std::string(LastComponent(normalised)));
    excluded_.insert(std::move(normalised));
  }

  Result<FileInfo> Stat(const std::string& path) {
    ++stats_;
    return fs_.Stat(path);
  }

  // `rel` is the entry `name` of a directory.
  bool Excluded(const std::string& rel, std::string_view name) const {
    // A path normalises to one ending in its last component, and `name` is
    // never "." nor contains '/': only an excluded path ending in `name`
    // can match, so most entries are settled without normalising anything
    // (two allocations each otherwise, on every entry of every run).
    if (!excluded_names_.contains(name)) return false;
    return excluded_.count(Normalize(rel)) > 0 ||
           excluded_.count(Normalize(JoinPath(root_, rel))) > 0;
  }

  // Lists `dir_rel` and stats every entry that might matter: files that
  // pass the name filter, directories that are not hidden, and links.
  // Failures to stat one entry are appended to `problems`.
  Result<std::vector<StatedEntry>> ListAndStat(
      const std::string& dir_rel, std::vector<std::string>& problems) {
    // Each entry's path is built in this buffer (JoinPath(root_, rel) with
    // the directory's part written once).
    std::string path = JoinPath(root_, dir_rel);
    Result<std::vector<DirEntry>> listing = fs_.ListDirectory(path);
    if (!listing.ok()) return listing.status();
    if (!path.empty() && path.back() != '/') path += '/';
    const std::size_t dir_size = path.size();
    std::vector<DirEntry> names = std::move(listing).value();
    std::sort(
        names.begin(), names.end(),
        [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    std::vector<StatedEntry> out;
    out.reserve(names.size());
    for (DirEntry& entry : names) {
      // Hidden entries and sidecars are skipped by name alone, never
      // stat()ed: they are often numerous and never matter. Directories
      // need only not be hidden (a directory named "x.jpg" is entered).
      if (entry.name.empty() || entry.name[0] == '.') continue;
      if (entry.type != FileType::kDirectory && IsIgnoredFileName(entry.name)) {
        continue;
      }
      std::string rel = RelJoin(dir_rel, entry.name);
      if (Excluded(rel, entry.name)) continue;
      path.resize(dir_size);
      path += entry.name;
      Result<FileInfo> info = Stat(path);
      if (!info.ok()) {
        problems.push_back(info.status().message());
        continue;
      }
      out.push_back({std::move(entry.name), std::move(rel), entry.type, *info});
    }
    return out;
  }

  // Decides whether to follow the symlink `rel` to a directory.
  bool ShouldFollow(const std::string& rel, const StatedEntry& entry,
                    const std::vector<std::uint64_t>& ancestors) {
    std::string path = JoinPath(root_, rel);
    if (std::find(ancestors.begin(), ancestors.end(), entry.info.inode) !=
        ancestors.end()) {
      result_.problems.push_back(
          path +
          ": symbolic link to a directory that contains it (a loop); "
          "not followed");
      return false;
    }
    if (!visited_.insert(entry.info.inode).second) {
      result_.problems.push_back(
          path +
          ": symbolic link to a directory scanned already through "
          "another path; not followed");
      return false;
    }
    return true;
  }

  // Walks the directory `dir_rel` whose entries are `entries`;
  // `entry_problems` are those met stating them, which belong to the scene
  // if this directory is one.
  // Regular files' `rel` is moved into their records.
  void Walk(const std::string& dir_rel, std::vector<StatedEntry>& entries,
            std::vector<std::string>& entry_problems,
            std::vector<std::uint64_t>& ancestors) {
    const StatedEntry* gt = nullptr;
    for (const StatedEntry& e : entries) {
      if (e.name == "gt" && e.info.type == FileType::kDirectory) gt = &e;
    }
    std::size_t scene_index = 0;
    if (gt != nullptr) {
      result_.scenes.emplace_back();
      scene_index = result_.scenes.size() - 1;
      ScannedScene& scene = result_.scenes.back();
      scene.scene = dir_rel;
      scene.problems = std::move(entry_problems);
      for (StatedEntry& e : entries) {
        if (e.info.type == FileType::kRegular) {
          scene.noisy.push_back(
              Record(dir_rel, FileRole::kNoisy, std::move(e.rel), e.info));
        }
      }
      ScanGt(gt->rel, scene_index);
    } else {
      result_.problems.insert(result_.problems.end(), entry_problems.begin(),
                              entry_problems.end());
    }
    for (const StatedEntry& e : entries) {
      if (e.info.type != FileType::kDirectory || &e == gt) continue;
      const std::string& rel = e.rel;
      if (e.entry_type == FileType::kSymlink) {
        deferred_.push_back({rel, e, ancestors});
        continue;
      }
      // Real directories are always entered: inodes alone cannot tell
      // a mount point from a directory seen before (FileInfo has no
      // device number), and a real tree cannot loop.
      visited_.insert(e.info.inode);
      // A directory below a scene that cannot be walked may hide nested
      // scenes, not captures of this one, so its problems are global.
      std::vector<std::string> child_problems;
      Result<std::vector<StatedEntry>> children =
          ListAndStat(rel, child_problems);
      if (!children.ok()) {
        result_.problems.push_back(children.status().message());
        continue;
      }
      ancestors.push_back(e.info.inode);
      Walk(rel, *children, child_problems, ancestors);
      ancestors.pop_back();
    }
  }

  // gt/ is listed but never descended into, so it cannot loop, and a gt/
  // that is a symlink (a GT directory shared by scenes) is simply listed.
  void ScanGt(const std::string& gt_rel, std::size_t scene_index) {
    std::vector<std::string> problems;
    Result<std::vector<StatedEntry>> files = ListAndStat(gt_rel, problems);
    ScannedScene& scene = result_.scenes[scene_index];
    if (!files.ok()) {
      problems.push_back(files.status().message());
    } else {
      for (StatedEntry& e : *files) {
        if (e.info.type == FileType::kRegular) {
          scene.gt.push_back(
              Record(scene.scene, FileRole::kGt, std::move(e.rel), e.info));
        }
      }
    }
    AppendProblems(scene_index, problems);
  }

  void AppendProblems(std::size_t scene_index,
                      const std::vector<std::string>& problems) {
    auto& out = result_.scenes[scene_index].problems;
    out.insert(out.end(), problems.begin(), problems.end());
  }

  FileSystem& fs_;
  std::string root_;
  std::set<std::string> excluded_;
  // The last component of each excluded path (Excluded's quick test).
  std::set<std::string, std::less<>> excluded_names_;
  struct DeferredLink {
    std::string rel;
    StatedEntry entry;
    std::vector<std::uint64_t> ancestors;  // inodes of the link's parents
  };
  // Directories entered so far (inodes).
  std::unordered_set<std::uint64_t> visited_;
  std::deque<DeferredLink> deferred_;
  std::uint64_t stats_ = 0;
  ScanResult result_;
};

}  // namespace

std::vector<std::string> ManifestSidecarPaths(const std::string& db_path) {
  return {db_path, db_path + "-wal", db_path + "-shm", db_path + "-journal"};
}

bool IsIgnoredFileName(std::string_view name) {
  if (name.empty() || name[0] == '.') return true;
  if (name.find("darktable_exported") != std::string_view::npos) return true;
  if (name.size() >= std::string_view(kTempSuffix).size() &&
      name.substr(name.size() - std::string_view(kTempSuffix).size()) ==
          kTempSuffix) {
    return true;
  }
  for (std::string_view ext :
       {".xmp", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".png"}) {
    if (EndsWithNoCase(name, ext)) return true;
  }
  return false;
}

std::string JoinPath(std::string_view root, std::string_view rel_path) {
  if (rel_path.empty() || rel_path == ".") return std::string(root);
  std::string out(root);
  if (!out.empty() && out.back() != '/') out += '/';
  out += rel_path;
  return out;
}

Result<ScanResult> ScanDataset(FileSystem& fs, const std::string& root,
                               const ScanOptions& options) {
  return Scanner(fs, root, options).Run();
}

}  // namespace dsb
