#!/usr/bin/env bash
# Fills a seed corpus for decode_align_fuzzer:
#   - small generated CFA DNGs (make_seeds, from build_fuzzer.sh);
#   - the first 64 KiB of each real camera raw in ../shared/data/raw (when
#     present): truncated files still carry the headers, so LibRaw's parser
#     for each format (NEF, CRW, KDC, DNG variants) is reached; files of at
#     most 128 KiB are copied whole.
#
#   tests/fuzz/make_corpus.sh [BUILD_DIR] [CORPUS_DIR]
#     (defaults: build-fuzz, BUILD_DIR/corpus)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src_root="$(cd "$here/../.." && pwd)"
build="$(realpath -m "${1:-$src_root/build-fuzz}")"
corpus="$(realpath -m "${2:-$build/corpus}")"
real_raw_dir="${DSB_REAL_RAW_DIR:-$src_root/../shared/data/raw}"

mkdir -p "$corpus"
"$build/make_seeds" "$corpus"
if [[ -d "$real_raw_dir" ]]; then
  for f in "$real_raw_dir"/*; do
    [[ -f "$f" ]] || continue
    case "$f" in *.md | *.txt) continue ;; esac
    name="real_$(basename "$f")"
    if (( $(stat -c %s "$f") <= 131072 )); then
      cp "$f" "$corpus/$name"
    else
      head -c 65536 "$f" >"$corpus/$name.head"
    fi
  done
fi
ls "$corpus" | wc -l | xargs echo "seeds in $corpus:"
