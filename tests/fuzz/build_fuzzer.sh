#!/usr/bin/env bash
# Builds the libFuzzer target decode_align_fuzzer and the seed writer
# make_seeds outside meson, with clang and ASan + UBSan.
#
#   tests/fuzz/build_fuzzer.sh [OUT_DIR]      (default: build-fuzz)
#
# Compiles src/common, src/core, src/raw, src/align (CPU only: no CUDA sources) and
# src/mask with -fsanitize=fuzzer-no-link,address,undefined, then links
# the fuzzer. LibRaw, FFTW, libpng and zlib are the system's shared
# libraries: not instrumented, so the fuzzer gets no coverage feedback from
# inside LibRaw, and ASan sees LibRaw's heap errors only where they touch
# our allocations or its interceptors (a wild read or write in LibRaw still
# crashes and is reported with a stack).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src_root="$(cd "$here/../.." && pwd)"
out="$(realpath -m "${1:-$src_root/build-fuzz}")"
cxx="${CXX:-clang++-14}"
command -v "$cxx" >/dev/null || cxx=clang++
jobs="${JOBS:-$(nproc)}"

mkdir -p "$out/obj" "$out/seeds-obj"
# The one generated header the sources include (correlator_factory.cc).
cat >"$out/config.h" <<'H'
#pragma once
#define DSB_VERSION "fuzz"
#define HAVE_CUDA 0
H

pkgs="libraw_r fftw3f libpng libxxhash libtiff-4 tbb"  # tbb: the CPU correlator aligns batches in parallel
pkg_cflags="$(pkg-config --cflags $pkgs | sed 's/-fopenmp//g')"
common_flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -I"$src_root/src"
              -I"$out" $pkg_cflags)
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)

sources=()
for dir in common core raw align mask; do
  for f in "$src_root"/src/$dir/*.cc; do
    case "$(basename "$f")" in
      cuda_*) continue ;;  # the GPU sibling is never built here
    esac
    sources+=("$f")
  done
done

compile() {  # compile SOURCE OBJECT FLAGS...
  local source="$1" object="$2"
  shift 2
  if [[ ! -f "$object" || "$source" -nt "$object" ]]; then
    echo "  CXX $(realpath --relative-to="$src_root" "$source")"
    "$cxx" "${common_flags[@]}" "$@" -c "$source" -o "$object"
  fi
}
export -f compile
export cxx src_root
export common_flags_str="${common_flags[*]}"

objects=()
pids=()
for f in "${sources[@]}" "$here/decode_align_fuzzer.cc"; do
  rel="$(realpath --relative-to="$src_root" "$f")"
  obj="$out/obj/${rel//\//_}.o"
  objects+=("$obj")
  compile "$f" "$obj" "${san[@]}" -fsanitize=fuzzer-no-link &
  pids+=($!)
  if (( ${#pids[@]} >= jobs )); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

libs="$(pkg-config --libs $pkgs | sed 's/-fopenmp//g') -lfftw3f_threads -lgomp -lpthread"
echo "  LINK decode_align_fuzzer"
"$cxx" "${san[@]}" -fsanitize=fuzzer "${objects[@]}" $libs \
  -o "$out/decode_align_fuzzer"

# The seed writer needs no sanitizers: common + the DNG writer + libtiff.
seed_objects=()
for f in "$src_root/src/common/status.cc" "$src_root/src/core/cfa.cc" \
         "$src_root/src/synth/dng_writer.cc" "$here/make_seeds.cc"; do
  rel="$(realpath --relative-to="$src_root" "$f")"
  obj="$out/seeds-obj/${rel//\//_}.o"
  compile "$f" "$obj"
  seed_objects+=("$obj")
done
echo "  LINK make_seeds"
"$cxx" "${seed_objects[@]}" $libs -o "$out/make_seeds"
echo "built $out/decode_align_fuzzer and $out/make_seeds"
