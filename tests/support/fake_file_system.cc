#include "fake_file_system.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>

namespace dsb::testing {

namespace {
constexpr int kFile = 0;
constexpr int kDir = 1;
constexpr int kLink = 2;
// Linux's MAXSYMLINKS.
constexpr int kMaxSymlinkHops = 40;

std::deque<std::string> Split(std::string_view path) {
  std::deque<std::string> parts;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(pos, slash - pos);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    pos = slash + 1;
  }
  return parts;
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "FakeFileSystem misuse: " << what << "\n";
  std::abort();
}
}  // namespace

struct FakeFileSystem::Node {
  int type = kFile;
  std::shared_ptr<const std::string> bytes = std::make_shared<std::string>();
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;
  std::string target;                                     // symlinks
  std::map<std::string, std::unique_ptr<Node>> children;  // directories
  bool unreadable = false;
};

namespace {
// Snapshot of a file's bytes at open time, like an open descriptor of a
// file that is later replaced by rename.
class FakeReadableFile : public ReadableFile {
 public:
  FakeReadableFile(std::shared_ptr<const std::string> bytes,
                   std::function<void(std::size_t)> on_read)
      : bytes_(std::move(bytes)), on_read_(std::move(on_read)) {}
  Result<std::size_t> Read(std::span<std::uint8_t> buffer) override {
    std::size_t n = std::min(buffer.size(), bytes_->size() - offset_);
    std::memcpy(buffer.data(), bytes_->data() + offset_, n);
    offset_ += n;
    on_read_(n);
    return n;
  }

 private:
  std::shared_ptr<const std::string> bytes_;
  std::size_t offset_ = 0;
  std::function<void(std::size_t)> on_read_;
};

FileType TypeOf(int type) {
  switch (type) {
    case kFile:
      return FileType::kRegular;
    case kDir:
      return FileType::kDirectory;
    default:
      return FileType::kSymlink;
  }
}
}  // namespace

FakeFileSystem::FakeFileSystem() : root_(NewNode(kDir)) {}
FakeFileSystem::~FakeFileSystem() = default;

std::unique_ptr<FakeFileSystem::Node> FakeFileSystem::NewNode(int type) {
  auto node = std::make_unique<Node>();
  node->type = type;
  node->mtime_ns = now_ns_;
  node->inode = next_inode_++;
  return node;
}

Result<FakeFileSystem::Node*> FakeFileSystem::Lookup(const std::string& path,
                                                     bool follow_last) const {
  std::deque<std::string> pending = Split(path);
  std::vector<Node*> stack = {root_.get()};
  int hops = 0;
  while (!pending.empty()) {
    std::string name = std::move(pending.front());
    pending.pop_front();
    if (name == "..") {
      if (stack.size() > 1) stack.pop_back();
      continue;
    }
    Node* dir = stack.back();
    if (dir->type != kDir) {
      return Status::NotFound("'" + path + "': not a directory");
    }
    auto it = dir->children.find(name);
    if (it == dir->children.end()) {
      return Status::NotFound("'" + path + "': no such file or directory");
    }
    Node* child = it->second.get();
    if (child->type == kLink && (follow_last || !pending.empty())) {
      if (++hops > kMaxSymlinkHops) {
        return Status::IoError(
            "'" + path +
            "': too many levels of symbolic links (a symlink loop?)");
      }
      std::deque<std::string> target = Split(child->target);
      if (!child->target.empty() && child->target[0] == '/') {
        stack.resize(1);
      }
      pending.insert(pending.begin(), target.begin(), target.end());
      continue;
    }
    stack.push_back(child);
  }
  return stack.back();
}

Result<FakeFileSystem::Node*> FakeFileSystem::MakeDirs(
    const std::string& path) {
  std::string prefix;
  Node* node = root_.get();
  for (const std::string& part : Split(path)) {
    prefix += "/" + part;
    Result<Node*> found = Lookup(prefix, /*follow_last=*/true);
    if (found.ok()) {
      node = *found;
      if (node->type != kDir) {
        return Status::IoError("'" + prefix + "': not a directory");
      }
      continue;
    }
    if (part == "..") continue;
    if (node->type != kDir) {
      return Status::IoError("'" + prefix + "': not a directory");
    }
    auto& slot = node->children[part];
    if (slot) {  // a dangling symlink
      return Status::IoError("'" + prefix + "': dangling symbolic link");
    }
    slot = NewNode(kDir);
    node = slot.get();
  }
  return node;
}

Result<std::pair<FakeFileSystem::Node*, std::string>> FakeFileSystem::Parent(
    const std::string& path) {
  std::deque<std::string> parts = Split(path);
  if (parts.empty())
    return Status::InvalidArgument("no file name in '" + path + "'");
  std::string name = parts.back();
  parts.pop_back();
  std::string dir;
  for (const auto& p : parts) dir += "/" + p;
  Result<Node*> parent = Lookup(dir.empty() ? "/" : dir, /*follow_last=*/true);
  if (!parent.ok()) return parent.status();
  if ((*parent)->type != kDir) {
    return Status::NotFound("'" + path + "': not a directory");
  }
  return std::make_pair(*parent, name);
}

void FakeFileSystem::AddFile(const std::string& path, std::string_view bytes,
                             std::optional<std::int64_t> mtime_ns) {
  std::lock_guard lock(mu_);
  std::deque<std::string> parts = Split(path);
  if (parts.empty()) Die("AddFile of '" + path + "'");
  std::string name = parts.back();
  parts.pop_back();
  std::string dir;
  for (const auto& p : parts) dir += "/" + p;
  Result<Node*> parent = MakeDirs(dir);
  if (!parent.ok()) Die(parent.status().ToString());
  auto& slot = (*parent)->children[name];
  if (slot && slot->type != kFile) Die("AddFile over a non-file: " + path);
  if (!slot) slot = NewNode(kFile);
  slot->bytes = std::make_shared<const std::string>(bytes);
  slot->mtime_ns = mtime_ns.value_or(now_ns_);
}

void FakeFileSystem::AddDirectory(const std::string& path) {
  std::lock_guard lock(mu_);
  Result<Node*> dir = MakeDirs(path);
  if (!dir.ok()) Die(dir.status().ToString());
}

void FakeFileSystem::AddSymlink(const std::string& path,
                                const std::string& target) {
  std::lock_guard lock(mu_);
  std::deque<std::string> parts = Split(path);
  if (parts.empty()) Die("AddSymlink of '" + path + "'");
  std::string name = parts.back();
  parts.pop_back();
  std::string dir;
  for (const auto& p : parts) dir += "/" + p;
  Result<Node*> parent = MakeDirs(dir);
  if (!parent.ok()) Die(parent.status().ToString());
  auto node = NewNode(kLink);
  node->target = target;
  (*parent)->children[name] = std::move(node);
}

void FakeFileSystem::Touch(const std::string& path,
                           std::optional<std::int64_t> mtime_ns) {
  std::lock_guard lock(mu_);
  Result<Node*> node = Lookup(path, /*follow_last=*/true);
  if (!node.ok()) Die("Touch: " + node.status().ToString());
  (*node)->mtime_ns = mtime_ns.value_or(now_ns_);
}

void FakeFileSystem::ChangeInode(const std::string& path) {
  std::lock_guard lock(mu_);
  Result<Node*> node = Lookup(path, /*follow_last=*/true);
  if (!node.ok()) Die("ChangeInode: " + node.status().ToString());
  (*node)->inode = next_inode_++;
}

void FakeFileSystem::Remove(const std::string& path) {
  std::lock_guard lock(mu_);
  auto parent = Parent(path);
  if (!parent.ok()) return;
  parent->first->children.erase(parent->second);
}

void FakeFileSystem::SetUnreadable(const std::string& path, bool unreadable) {
  std::lock_guard lock(mu_);
  Result<Node*> node = Lookup(path, /*follow_last=*/true);
  if (!node.ok()) Die("SetUnreadable: " + node.status().ToString());
  (*node)->unreadable = unreadable;
}

void FakeFileSystem::FailWritesAfter(int n, Status error) {
  std::lock_guard lock(mu_);
  writes_before_failure_ = n;
  write_failure_ = std::move(error);
}

void FakeFileSystem::SetWriteError(const std::string& path_prefix,
                                   Status error) {
  std::lock_guard lock(mu_);
  write_faults_.push_back({path_prefix, std::move(error)});
}

void FakeFileSystem::ClearWriteFaults() {
  std::lock_guard lock(mu_);
  writes_before_failure_.reset();
  write_faults_.clear();
}

void FakeFileSystem::SetNowNs(std::int64_t now_ns) {
  std::lock_guard lock(mu_);
  now_ns_ = now_ns;
}

void FakeFileSystem::AdvanceNs(std::int64_t delta_ns) {
  std::lock_guard lock(mu_);
  now_ns_ += delta_ns;
}

bool FakeFileSystem::Exists(const std::string& path) const {
  std::lock_guard lock(mu_);
  return Lookup(path, /*follow_last=*/false).ok();
}

std::optional<std::string> FakeFileSystem::Contents(
    const std::string& path) const {
  std::lock_guard lock(mu_);
  Result<Node*> node = Lookup(path, /*follow_last=*/true);
  if (!node.ok() || (*node)->type != kFile) return std::nullopt;
  return *(*node)->bytes;
}

std::vector<std::string> FakeFileSystem::AllPaths() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  std::function<void(const Node&, const std::string&)> walk =
      [&](const Node& node, const std::string& prefix) {
        for (const auto& [name, child] : node.children) {
          std::string path = prefix + "/" + name;
          if (child->type == kDir) {
            out.push_back(path + "/");
            walk(*child, path);
          } else {
            out.push_back(path);
          }
        }
      };
  walk(*root_, "");
  std::sort(out.begin(), out.end());
  return out;
}

FakeFileSystem::Counters FakeFileSystem::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void FakeFileSystem::ResetCounters() {
  std::lock_guard lock(mu_);
  counters_ = Counters();
  stat_log_.clear();
  list_log_.clear();
  open_log_.clear();
  write_log_.clear();
  remove_log_.clear();
}

std::vector<std::string> FakeFileSystem::stat_log() const {
  std::lock_guard lock(mu_);
  return stat_log_;
}
std::vector<std::string> FakeFileSystem::list_log() const {
  std::lock_guard lock(mu_);
  return list_log_;
}
std::vector<std::string> FakeFileSystem::open_log() const {
  std::lock_guard lock(mu_);
  return open_log_;
}
std::vector<std::string> FakeFileSystem::write_log() const {
  std::lock_guard lock(mu_);
  return write_log_;
}
std::vector<std::string> FakeFileSystem::remove_log() const {
  std::lock_guard lock(mu_);
  return remove_log_;
}

int FakeFileSystem::StatCount(const std::string& path) const {
  std::lock_guard lock(mu_);
  return static_cast<int>(std::count(stat_log_.begin(), stat_log_.end(), path));
}

Result<std::vector<DirEntry>> FakeFileSystem::ListDirectory(
    const std::string& path) {
  std::lock_guard lock(mu_);
  ++counters_.lists;
  list_log_.push_back(path);
  Result<Node*> node = Lookup(path, /*follow_last=*/true);
  if (!node.ok()) {
    return node.status().WithContext("cannot list directory");
  }
  if ((*node)->type != kDir) {
    return Status::NotFound("cannot list directory '" + path +
                            "': not a directory");
  }
  if ((*node)->unreadable) {
    return Status::IoError("cannot list directory '" + path +
                           "': permission denied");
  }
  std::vector<DirEntry> entries;
  for (const auto& [name, child] : (*node)->children) {
    entries.push_back({name, TypeOf(child->type)});
  }
  // Real directories come back in no particular order; callers must sort.
  std::reverse(entries.begin(), entries.end());
  return entries;
}

Result<FileInfo> FakeFileSystem::Stat(const std::string& path) {
  std::lock_guard lock(mu_);
  ++counters_.stats;
  stat_log_.push_back(path);
  Result<Node*> node = Lookup(path, /*follow_last=*/true);
  if (!node.ok()) return node.status().WithContext("cannot stat");
  FileInfo info;
  info.type = TypeOf((*node)->type);
  info.size = (*node)->type == kFile ? (*node)->bytes->size() : 0;
  info.mtime_ns = (*node)->mtime_ns;
  info.inode = (*node)->inode;
  return info;
}

Result<std::unique_ptr<ReadableFile>> FakeFileSystem::OpenForRead(
    const std::string& path) {
  std::lock_guard lock(mu_);
  ++counters_.opens;
  open_log_.push_back(path);
  Result<Node*> node = Lookup(path, /*follow_last=*/true);
  if (!node.ok()) return node.status().WithContext("cannot open");
  if ((*node)->type != kFile) {
    return Status::IoError("cannot open '" + path + "': is a directory");
  }
  if ((*node)->unreadable) {
    return Status::IoError("cannot open '" + path + "': permission denied");
  }
  return std::unique_ptr<ReadableFile>(
      std::make_unique<FakeReadableFile>((*node)->bytes, [this](std::size_t n) {
        std::lock_guard inner(mu_);
        counters_.bytes_read += n;
      }));
}

Status FakeFileSystem::WriteFileAtomically(
    const std::string& path, std::span<const std::uint8_t> bytes) {
  std::lock_guard lock(mu_);
  write_log_.push_back(path);
  auto fail = [&](const Status& error) {
    ++counters_.failed_writes;
    return error.WithContext("cannot write '" + path + "'");
  };
  for (const WriteFault& fault : write_faults_) {
    if (path.compare(0, fault.prefix.size(), fault.prefix) == 0) {
      return fail(fault.error);
    }
  }
  if (writes_before_failure_.has_value()) {
    if (*writes_before_failure_ <= 0) return fail(write_failure_);
    --*writes_before_failure_;
  }
  auto parent = Parent(path);
  if (!parent.ok()) return fail(parent.status());
  auto& slot = parent->first->children[parent->second];
  if (slot && slot->type == kDir) {
    return fail(Status::IoError("is a directory"));
  }
  // A rename over the old file: new inode, old readers keep old bytes.
  slot = NewNode(kFile);
  slot->bytes = std::make_shared<const std::string>(
      reinterpret_cast<const char*>(bytes.data()), bytes.size());
  ++counters_.writes;
  return Status::Ok();
}

Status FakeFileSystem::RemoveFile(const std::string& path) {
  std::lock_guard lock(mu_);
  ++counters_.removes;
  remove_log_.push_back(path);
  auto parent = Parent(path);
  if (!parent.ok()) return Status::Ok();
  auto it = parent->first->children.find(parent->second);
  if (it == parent->first->children.end()) return Status::Ok();
  if (it->second->type == kDir) {
    return Status::IoError("cannot remove '" + path + "': is a directory");
  }
  parent->first->children.erase(it);
  return Status::Ok();
}

Status FakeFileSystem::CreateDirectories(const std::string& path) {
  std::lock_guard lock(mu_);
  ++counters_.mkdirs;
  Result<Node*> dir = MakeDirs(path);
  if (!dir.ok()) return dir.status().WithContext("cannot create directory");
  return Status::Ok();
}

std::int64_t FakeFileSystem::NowNs() {
  std::lock_guard lock(mu_);
  return now_ns_;
}

}  // namespace dsb::testing
