#!/usr/bin/env bash
# Runs decode_align_fuzzer on the corpus in fork mode, so that one crash,
# timeout or out-of-memory input is saved and the run goes on.
#
#   tests/fuzz/run_fuzzer.sh [SECONDS] [BUILD_DIR]   (defaults: 600, build-fuzz)
#
# New inputs go to BUILD_DIR/corpus, crashes to BUILD_DIR/artifacts/, the
# log to BUILD_DIR/fuzz.log. Reproduce one with
#   BUILD_DIR/decode_align_fuzzer BUILD_DIR/artifacts/crash-...
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src_root="$(cd "$here/../.." && pwd)"
seconds="${1:-600}"
build="$(realpath -m "${2:-$src_root/build-fuzz}")"
mkdir -p "$build/artifacts" "$build/corpus"
[[ -n "$(ls -A "$build/corpus")" ]] || "$here/make_corpus.sh" "$build"

export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
exec "$build/decode_align_fuzzer" "$build/corpus" \
  -artifact_prefix="$build/artifacts/" \
  -fork="${FORKS:-1}" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 \
  -max_len=131072 -print_final_stats=1 \
  2>&1 | tee "$build/fuzz.log"
