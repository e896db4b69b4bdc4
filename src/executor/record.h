// Turning a built scene into the manifest's record of it: the one place
// that maps the build's outcome types onto the manifest's.
//
// Thread safety: pure function.
#pragma once

#include "executor/scene_runner.h"
#include "manifest/manifest.h"

namespace dsb {

SceneRecord MakeSceneRecord(const SceneOutcome& outcome,
                            std::optional<std::int64_t> run_id);

}  // namespace dsb
