#include "executor/pass_order.h"

#include <algorithm>

namespace dsb {

std::vector<FileRun> PassOrder(std::size_t file_count, std::size_t batch,
                               std::size_t group_start,
                               std::size_t group_size) {
  batch = std::max<std::size_t>(1, batch);
  std::vector<FileRun> runs, gts_only;
  for (std::size_t first = 0; first < file_count; first += batch) {
    const FileRun run{first, std::min(batch, file_count - first)};
    const bool only_gts =
        first >= group_start && first + run.count <= group_start + group_size;
    (only_gts ? gts_only : runs).push_back(run);
  }
  runs.insert(runs.end(), gts_only.begin(), gts_only.end());
  return runs;
}

}  // namespace dsb
