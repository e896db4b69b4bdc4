// libFuzzer target for the decode → align → mask path (rawspeed's "a fuzz
// target per decoder entry"): arbitrary bytes are handed to DecodeRaw as a
// file, and whatever decodes is aligned against itself on the CPU and
// masked. Nothing may crash, hang or leak; errors are fine.
//
// The input is written to an anonymous in-memory file (memfd) and passed as
// /proc/self/fd/N, because DecodeRaw takes a path (LibRaw opens the file
// itself). Built by tests/fuzz/build_fuzzer.sh, or by meson with -Dfuzz=true
// and clang.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "align/correlator.h"
#include "mask/loss_mask.h"
#include "raw/decoder.h"

namespace {

// 4 MP: larger visible areas are refused before their data is read, which
// keeps one input's cost bounded (LibRaw would otherwise allocate what the
// header claims).
constexpr std::size_t kMaxPixels = std::size_t{4} << 20;

// A file descriptor for the input, reused across runs.
class InputFile {
 public:
  InputFile() {
    fd_ = memfd_create("dsb-fuzz-input", 0);
    if (fd_ < 0) {
      char name[] = "/tmp/dsb-fuzz-input-XXXXXX";
      fd_ = mkstemp(name);
      if (fd_ < 0) std::abort();
      path_ = name;
      unlink_on_exit_ = true;
    } else {
      path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
  }
  ~InputFile() {
    if (unlink_on_exit_) unlink(path_.c_str());
    close(fd_);
  }

  bool Write(const std::uint8_t* data, std::size_t size) {
    if (ftruncate(fd_, 0) != 0) return false;
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n =
          pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
  bool unlink_on_exit_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static InputFile* input = new InputFile();
  if (!input->Write(data, size)) std::abort();

  dsb::DecodeOptions decode_options;
  decode_options.max_pixels = kMaxPixels;
  dsb::Result<dsb::RawImage> image =
      dsb::DecodeRaw(input->path(), decode_options);
  if (!image.ok()) {
    // Every failure must say what went wrong.
    if (image.status().message().empty()) std::abort();
    return 0;
  }
  image->path = "fuzz-input";
  if (image->width() <= 0 || image->height() <= 0 ||
      static_cast<std::size_t>(image->width()) *
              static_cast<std::size_t>(image->height()) >
          kMaxPixels) {
    std::abort();  // DecodeRaw broke its own contract
  }

  dsb::AlignParams align_params;
  align_params.max_shift = 16;  // small: the work is in the FFT size anyway
  auto correlator = dsb::MakeCorrelator(dsb::Device::kCpu, align_params);
  if (!correlator.ok()) std::abort();  // the CPU correlator always exists
  if (!(*correlator)->SetReference(*image).ok()) return 0;
  const dsb::RawImage* batch[] = {&*image};
  std::vector<dsb::Result<dsb::Alignment>> aligned =
      (*correlator)->Align(batch);
  if (aligned.size() != 1) std::abort();
  if (!aligned[0].ok()) return 0;

  dsb::Result<dsb::LossMask> mask =
      dsb::MakeLossMask(*image, *image, *aligned[0]);
  if (mask.ok()) {
    // A capture against itself: mean is a fraction.
    if (!(mask->mean >= 0.0 && mask->mean <= 1.0)) std::abort();
  }
  return 0;
}
