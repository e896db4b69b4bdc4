#!/usr/bin/env bash
# merge_bench: how long `dataset-build merge` takes to fold the task
# manifests of SCENES scenes built as SHARDS shards, next to two floors
# measured in the same run on the same tree: `--status` (scan, stat and
# plan against the manifest) and a no-op rerun of a single-machine build.
#
#   tests/bench/merge_bench.sh [BINARY [SCENES [SHARDS [REPS]]]]
#
# (defaults: build/dataset-build 300 4 3). Small 128x96 scenes: the
# merge's cost is per scene and per row, not per pixel.
set -euo pipefail
binary=$(realpath "${1:-build/dataset-build}")
scenes=${2:-300}
shards=${3:-4}
reps=${4:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$binary" synth "$tmp/data" --scenes "$scenes" --noisy 2 --size 128x96 \
  --max-shift 8 > /dev/null 2>&1
touch -d '1 hour ago' $(find "$tmp/data" -type f)
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

for rep in $(seq "$reps"); do
  rm -rf "$tmp/data/dataset-build.db"* "$tmp/data/masks"
  for i in $(seq 0 $((shards - 1))); do
    "$binary" --shard "$i/$shards" -q -j 2 --max-shift 16 "$tmp/data" > /dev/null
  done
  start=$(now)
  "$binary" merge -q --shards "$shards" "$tmp/data" > /dev/null
  merge_s=$(elapsed "$start")
  start=$(now)
  "$binary" --status --max-shift 16 "$tmp/data" > /dev/null
  status_s=$(elapsed "$start")
  start=$(now)
  "$binary" -q -j 2 --max-shift 16 "$tmp/data" > /dev/null
  rerun_s=$(elapsed "$start")
  printf 'rep %d: %d scenes, %d shards: merge %.3f s, --status %.3f s, no-op rerun %.3f s (merge/rerun %.2f)\n' \
    "$rep" "$scenes" "$shards" "$merge_s" "$status_s" "$rerun_s" \
    "$(echo "$merge_s / $rerun_s" | bc -l)"
done
