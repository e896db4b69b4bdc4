#include "executor/scene_runner.h"

namespace dsb {

void BuildCounters::RaiseTo(std::atomic<std::int64_t>& max,
                            std::int64_t value) {
  std::int64_t seen = max.load();
  while (value > seen && !max.compare_exchange_weak(seen, value)) {
  }
}

Status SceneStatus(const SceneWork& work, const SceneOutcome& outcome) {
  int failed = 0;
  Status first_failure;
  for (const FileOutcome& file : outcome.files) {
    if (!file.status.ok() && first_failure.ok()) first_failure = file.status;
  }
  for (const PairOutcome& pair : outcome.pairs) {
    if (pair.status.ok()) continue;
    ++failed;
    if (first_failure.ok()) first_failure = pair.status;
  }
  if (first_failure.ok() && !work.problems.empty()) {
    std::string problems;
    for (std::size_t i = 0; i < work.problems.size() && i < 5; ++i) {
      problems += (i ? "; " : "") + work.problems[i];
    }
    if (work.problems.size() > 5) {
      problems += "; and " + std::to_string(work.problems.size() - 5) + " more";
    }
    return Status::IoError(problems +
                           " (the scene's file list may be incomplete)");
  }
  if (!first_failure.ok()) {
    return first_failure.WithContext(std::to_string(failed) + " of " +
                                     std::to_string(outcome.pairs.size()) +
                                     " pairs failed; first");
  }
  return Status::Ok();
}

}  // namespace dsb
