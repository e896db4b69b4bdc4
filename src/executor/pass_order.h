// The order in which one pass of a scene's files past a GT group hands
// them to the pipeline (executor/scene_builder.h), as runs of files.
//
// Runs are `batch` files long, in scene order (the last may be shorter),
// except that a run holding only the group's own GTs goes last: it holds no
// capture, yet it takes one of the pipeline's batches in flight. First, it
// kept the next capture from decoding while the group's correlators were
// prepared (a 60 MP scene's first batch: one core idle); last, it fills the
// pass's tail, where the last capture's mask otherwise runs alone. Results
// do not depend on the order (each pair is aligned and masked on its own).
//
// Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <vector>

namespace dsb {

struct FileRun {
  std::size_t first = 0;  // index into SceneWork::files()
  std::size_t count = 0;
};

// `file_count` files; the group's GTs are files [group_start, group_start +
// group_size); `batch` is at least 1.
std::vector<FileRun> PassOrder(std::size_t file_count, std::size_t batch,
                               std::size_t group_start, std::size_t group_size);

}  // namespace dsb
