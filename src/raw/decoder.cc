#include "raw/decoder.h"

#include <fcntl.h>
#include <libraw/libraw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

#include "common/real_file_system.h"
#include "raw/libraw_errors.h"

namespace dsb {

namespace {

// Records LibRaw's data errors (damaged or truncated data) instead of
// letting its default handler print them.
struct DataErrors {
  int count = 0;
  int first_offset = 0;
};

void OnDataError(void* data, const char* /*file*/, const int offset) {
  auto* errors = static_cast<DataErrors*>(data);
  if (errors->count++ == 0) errors->first_offset = offset;
}

CfaColor ToCfaColor(int libraw_color) {
  switch (libraw_color) {
    case 0:
      return CfaColor::kRed;
    case 2:
      return CfaColor::kBlue;
    default:
      return CfaColor::kGreen;  // 1, and 3 (the second green of RGBG)
  }
}

// A raw file held whole in memory, for LibRaw's buffer stream
// (open_buffer).
//
// Why a buffer stream: LibRaw's file stream (open_file) reads a std::filebuf
// byte by byte (get_char: a virtual call, a shared_ptr check and sbumpc per
// byte) and copies the file through read() in 8 KiB pieces; its buffer
// stream reads an array. perf of open_file + unpack against open_buffer,
// same process, alternating: the 2.7 MP NEF (packed_load_raw) 10.8 -> 9.9
// ms, the CRWs (canon_load_raw) 1-4 % less, the DNGs 4-8 % less. Bit for
// bit the same pixels and metadata (raw/decoder_paths_test). The buffer
// stream does everything the file stream does for a decode: LibRaw 0.20
// uses the file name only for its callbacks, opens no companion file and no
// subfile; the streams differ only for seeks past either end (the buffer
// clamps), which no valid file makes.
//
// Why read() into a buffer the thread keeps, for files up to
// kKeptFileBytes, rather than a mapping of the file: the buffer's pages are
// the same from one file to the next, while every mapping is new page-table
// entries. On this project's VM (2 December 2026) the first touch of each
// page of a new mapping cost 2-30 us (the host backs the guest's new
// entries lazily): mapping the NEF (3.9 MB) cost LibRaw 12.3-17.5 ms per
// file against 9.7-13.6 ms read into a kept buffer, alternating in one
// process over 8 copies (open_file: 13.0-17.7 ms). The copy out of the page
// cache is ~0.4 ms. Larger files are mapped (MAP_POPULATE: LibRaw reads
// nearly every byte, so the pages are mapped in one call), so that no
// worker keeps more than kKeptFileBytes beside LibRaw's buffer
// (raw/isolated_decoder.h: what a worker keeps). Files over
// kMaxInMemoryFileBytes (decoder.h says why), and anything that cannot be
// read whole or mapped (the worker's address-space cap), go through
// open_file, as before.
class FileInMemory {
 public:
  FileInMemory() = default;
  FileInMemory(FileInMemory&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        mapped_(std::exchange(other.mapped_, false)) {}
  FileInMemory& operator=(FileInMemory&& other) noexcept {
    if (this != &other) {
      Release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      mapped_ = std::exchange(other.mapped_, false);
    }
    return *this;
  }
  ~FileInMemory() { Release(); }

  // The whole of `path`, or nothing when it cannot or should not be held
  // in memory (the caller then opens the file by name). Read bytes stay
  // valid until this thread's next Read.
  static FileInMemory Read(const std::string& path) {
    FileInMemory file;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return file;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      const auto size = static_cast<std::size_t>(st.st_size);
      if (size <= kKeptFileBytes) {
        file.ReadWhole(fd, size);
      } else if (size <= kMaxInMemoryFileBytes) {
        void* data =
            ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (data != MAP_FAILED) {
          file.data_ = data;
          file.size_ = size;
          file.mapped_ = true;
        }
      }
    }
    ::close(fd);
    return file;
  }

  bool held() const { return data_ != nullptr; }
  void* data() const { return data_; }
  std::size_t size() const { return size_; }
  // Unmaps a mapped file; read bytes stay in the thread's buffer.
  void Release() {
    if (mapped_) ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
    mapped_ = false;
  }

 private:
  void ReadWhole(int fd, std::size_t size) {
    std::uint8_t* buffer = ThisThreadsBuffer(size);
    std::size_t done = 0;
    while (buffer != nullptr && done < size) {
      const ssize_t n = ::read(fd, buffer + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    if (buffer != nullptr && done == size) {
      data_ = buffer;
      size_ = size;
    }
  }

  // Anonymous memory of its own, not the heap's: a decode worker keeps
  // LibRaw's buffer in a free block of its heap between files
  // (raw/decode_worker.cc, KeptHeap), which this must not split.
  struct KeptBuffer {
    std::uint8_t* data = nullptr;
    std::size_t bytes = 0;
    ~KeptBuffer() {
      if (data != nullptr) ::munmap(data, bytes);
    }
  };

  // At least `size` (at most kKeptFileBytes) bytes, or null when they
  // cannot be had.
  static std::uint8_t* ThisThreadsBuffer(std::size_t size) {
    thread_local KeptBuffer kept;
    if (kept.bytes >= size) return kept.data;
    if (kept.data != nullptr) ::munmap(kept.data, kept.bytes);
    kept.data = nullptr;
    kept.bytes = 0;
    constexpr std::size_t kStep = std::size_t{1} << 20;
    const std::size_t bytes = (size + kStep - 1) / kStep * kStep;
    void* data = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) return nullptr;
    kept.data = static_cast<std::uint8_t*>(data);
    kept.bytes = bytes;
    return kept.data;
  }

  void* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
};

struct Opened {
  // Declared first, so destroyed last: LibRaw's stream reads it until then.
  FileInMemory file;
  std::unique_ptr<LibRaw> raw;
  std::unique_ptr<DataErrors> errors;
  CfaPattern cfa;
};

Status CheckReadable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return PosixFileError("cannot open raw file", path, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("cannot open raw file '" + path +
                                   "': not a regular file");
  }
  if (st.st_size == 0) {
    return Status::Corrupt("cannot open raw file '" + path +
                           "': the file is empty (0 bytes)");
  }
  return Status::Ok();
}

// The CFA pattern of the visible area, or why it is not one we handle.
Result<CfaPattern> CfaOf(LibRaw& raw, const std::string& path) {
  const libraw_iparams_t& idata = raw.imgdata.idata;
  auto unsupported = [&](const std::string& why) {
    return Status::Unsupported("cannot decode '" + path + "' (" + idata.make +
                               " " + idata.model + "): " + why +
                               "; only Bayer and X-Trans raws can be aligned");
  };
  if (idata.is_foveon)
    return unsupported("Foveon sensor (no colour filter array)");
  if (idata.filters == 0) {
    return unsupported(
        "no colour filter array (already demosaiced: linear DNG, sRAW/mRAW "
        "or a monochrome sensor)");
  }
  if (idata.colors != 3) {
    return unsupported("sensor with " + std::to_string(idata.colors) +
                       " colours (e.g. CMYG)");
  }
  if (raw.get_internal_data_pointer()->internal_output_params.fuji_width) {
    return unsupported("Fujifilm SuperCCD (rotated) sensor layout");
  }
  if (idata.filters == LIBRAW_XTRANS) {
    CfaPattern::Grid grid{};
    bool seen[3] = {false, false, false};
    for (int y = 0; y < 6; ++y) {
      for (int x = 0; x < 6; ++x) {
        // xtrans[][] is anchored at the visible area (LibRaw's fcol()).
        grid[y][x] = ToCfaColor(idata.xtrans[y][x]);
        seen[static_cast<int>(grid[y][x])] = true;
      }
    }
    if (!seen[0] || !seen[1] || !seen[2]) {
      return unsupported("6x6 pattern without all three colours");
    }
    return CfaPattern::XTrans(grid);
  }
  if (idata.filters < 1000) {
    return unsupported("unusual colour filter layout (LibRaw filters=" +
                       std::to_string(idata.filters) + ")");
  }
  // FC() takes visible-area coordinates; its pattern is 8 rows x 2 columns
  // in general, which must repeat every 2 rows for a Bayer sensor.
  CfaColor c[2][2];
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 2; ++x) {
      const CfaColor color = ToCfaColor(raw.FC(y, x));
      if (y < 2) {
        c[y][x] = color;
      } else if (c[y % 2][x] != color) {
        return unsupported("colour filter pattern that is not 2x2 Bayer");
      }
    }
  }
  for (BayerOrder order : {BayerOrder::kRGGB, BayerOrder::kBGGR,
                           BayerOrder::kGRBG, BayerOrder::kGBRG}) {
    const CfaPattern p = CfaPattern::Bayer(order);
    if (p.color_at(0, 0) == c[0][0] && p.color_at(0, 1) == c[0][1] &&
        p.color_at(1, 0) == c[1][0] && p.color_at(1, 1) == c[1][1]) {
      return p;
    }
  }
  return unsupported("2x2 pattern that is not a Bayer order");
}

// With `file_in_memory`, LibRaw reads the file from memory (FileInMemory)
// when it can be read whole, else by name.
Result<Opened> Open(const std::string& path, bool file_in_memory) {
  DSB_RETURN_IF_ERROR(CheckReadable(path));
  Opened opened;
  // LibRaw objects are several hundred KB: always on the heap.
  opened.raw = std::make_unique<LibRaw>(LIBRAW_OPTIONS_NONE);
  opened.errors = std::make_unique<DataErrors>();
  opened.raw->set_dataerror_handler(&OnDataError, opened.errors.get());
  if (file_in_memory) opened.file = FileInMemory::Read(path);
  const int ret =
      opened.file.held()
          ? opened.raw->open_buffer(opened.file.data(), opened.file.size())
          : opened.raw->open_file(path.c_str());
  if (ret != LIBRAW_SUCCESS) {
    return LibRawError(ret, "cannot open raw file", path);
  }
  const libraw_image_sizes_t& s = opened.raw->imgdata.sizes;
  if (s.width == 0 || s.height == 0 || s.top_margin + s.height > s.raw_height ||
      s.left_margin + s.width > s.raw_width) {
    return Status::Corrupt("cannot decode '" + path +
                           "': inconsistent image size in the header");
  }
  DSB_ASSIGN_OR_RETURN(opened.cfa, CfaOf(*opened.raw, path));
  return opened;
}

int Lcm(int a, int b) { return a / std::gcd(a, b) * b; }

}  // namespace

Result<RawInfo> ProbeRaw(const std::string& path) {
  // The header only: reading the whole file would cost more than the few
  // reads open_file makes.
  DSB_ASSIGN_OR_RETURN(Opened opened, Open(path, /*file_in_memory=*/false));
  const libraw_data_t& d = opened.raw->imgdata;
  RawInfo info;
  info.make = d.idata.make;
  info.model = d.idata.model;
  info.raw_width = d.sizes.raw_width;
  info.raw_height = d.sizes.raw_height;
  info.visible_top = d.sizes.top_margin;
  info.visible_left = d.sizes.left_margin;
  info.width = d.sizes.width;
  info.height = d.sizes.height;
  info.cfa = opened.cfa;
  return info;
}

// What UnpackRaw keeps between the unpack and the normalisation.
struct UnpackedRaw::State {
  Opened opened;
  int width = 0, height = 0;
  // Black levels of a tile anchored at the visible origin (the CFA period,
  // or its lcm with the black pattern's) and the white level.
  BlackLevels levels;
  RawMetadata meta;
  bool read_from_memory = false;  // FileInMemory, not open_file
};

UnpackedRaw::UnpackedRaw(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
UnpackedRaw::UnpackedRaw(UnpackedRaw&&) noexcept = default;
UnpackedRaw& UnpackedRaw::operator=(UnpackedRaw&&) noexcept = default;
UnpackedRaw::~UnpackedRaw() = default;

int UnpackedRaw::width() const { return state_->width; }
int UnpackedRaw::height() const { return state_->height; }
const CfaPattern& UnpackedRaw::cfa() const { return state_->opened.cfa; }
const RawMetadata& UnpackedRaw::meta() const { return state_->meta; }

const BlackLevels& UnpackedRaw::levels() const { return state_->levels; }

void UnpackedRaw::Normalise(PlaneView<float> out, RowStores stores) const {
  const State& s = *state_;
  RowNormaliser normaliser(s.levels, s.width, s.height, stores);
  if (s.height > 0) {
    const std::size_t span = static_cast<std::size_t>(s.height - 1) *
                                 static_cast<std::size_t>(out.stride) +
                             static_cast<std::size_t>(s.width);
    normaliser.PrepareDestination(out.row(0), span * sizeof(float));
  }
  for (int y = 0; y < s.height; ++y) normaliser.Row(y, RawRow(y), out.row(y));
}

void UnpackedRaw::CopyRaw(std::uint16_t* out) const {
  const State& s = *state_;
  const auto width = static_cast<std::size_t>(s.width);
  for (int y = 0; y < s.height; ++y) {
    std::memcpy(out + static_cast<std::size_t>(y) * width, RawRow(y),
                width * sizeof(std::uint16_t));
  }
}

std::size_t UnpackedRaw::raw_pitch() const {
  return state_->opened.raw->imgdata.sizes.raw_pitch / 2;
}

std::size_t UnpackedRaw::raw_buffer_bytes() const {
  const libraw_image_sizes_t& sizes = state_->opened.raw->imgdata.sizes;
  return static_cast<std::size_t>(sizes.raw_pitch) * sizes.raw_height;
}

bool UnpackedRaw::read_from_memory() const { return state_->read_from_memory; }

const std::uint16_t* UnpackedRaw::RawRow(int y) const {
  const LibRaw& raw = *state_->opened.raw;
  const libraw_image_sizes_t& sizes = raw.imgdata.sizes;
  const std::size_t pitch = sizes.raw_pitch / 2;  // checked by UnpackRaw
  return raw.imgdata.rawdata.raw_image +
         static_cast<std::size_t>(y + sizes.top_margin) * pitch +
         sizes.left_margin;
}

Result<UnpackedRaw> UnpackRaw(const std::string& path,
                              const DecodeOptions& options) {
  auto state = std::make_unique<UnpackedRaw::State>();
  DSB_ASSIGN_OR_RETURN(state->opened, Open(path, options.file_in_memory));
  LibRaw& raw = *state->opened.raw;
  const libraw_image_sizes_t& sizes = raw.imgdata.sizes;
  const int width = sizes.width, height = sizes.height;
  const std::size_t pixels = static_cast<std::size_t>(width) * height;
  if (options.max_pixels != 0 && pixels > options.max_pixels) {
    return Status::ResourceExhausted(
        "cannot decode '" + path + "': " + std::to_string(width) + "x" +
        std::to_string(height) + " = " + std::to_string(pixels) +
        " pixels exceeds the limit of " + std::to_string(options.max_pixels) +
        " (" + options.max_pixels_hint + ")");
  }
  const int ret = raw.unpack();
  // Nothing reads the file after unpack: close LibRaw's stream now (the
  // file's bytes stay in this thread's buffer for the next file).
  raw.recycle_datastream();
  state->read_from_memory = state->opened.file.held();
  if (ret != LIBRAW_SUCCESS) return LibRawError(ret, "cannot decode", path);
  const DataErrors& errors = *state->opened.errors;
  if (errors.count > 0) {
    return Status::Corrupt(
        "cannot decode '" + path + "': LibRaw reported " +
        std::to_string(errors.count) + " data error(s), first at offset " +
        std::to_string(errors.first_offset) +
        (errors.first_offset < 0 ? " (unexpected end of file)" : "") +
        "; the file is damaged or truncated");
  }
  const libraw_rawdata_t& rawdata = raw.imgdata.rawdata;
  if (rawdata.raw_image == nullptr) {
    return Status::Unsupported(
        "cannot decode '" + path +
        "': the raw data is not a single-channel mosaic (linear DNG, "
        "sRAW/mRAW or floating point); only Bayer and X-Trans raws can be "
        "aligned");
  }

  // Levels as they were at unpack (imgdata.color changes in later steps).
  const libraw_colordata_t& color = rawdata.color;
  const CfaPattern& cfa = state->opened.cfa;
  // Black of pixel (y, x) of the visible area: common + per channel +
  // pattern (anchored at the visible area, like LibRaw's own subtraction).
  const int pat_h = static_cast<int>(color.cblack[4]);
  const int pat_w = static_cast<int>(color.cblack[5]);
  const bool pattern =
      pat_h > 0 && pat_w > 0 && 6 + pat_h * pat_w <= LIBRAW_CBLACK_SIZE;
  const int table_h = pattern ? Lcm(cfa.period(), pat_h) : cfa.period();
  const int table_w = pattern ? Lcm(cfa.period(), pat_w) : cfa.period();
  std::vector<float> black_table(static_cast<std::size_t>(table_h) * table_w);
  std::array<double, 3> black_sum{};
  std::array<int, 3> black_n{};
  float max_black = 0;
  for (int y = 0; y < table_h; ++y) {
    for (int x = 0; x < table_w; ++x) {
      const int channel = raw.COLOR(y, x);
      float black = static_cast<float>(color.black);
      if (channel >= 0 && channel < 4) black += color.cblack[channel];
      if (pattern) black += color.cblack[6 + (y % pat_h) * pat_w + x % pat_w];
      black_table[y * table_w + x] = black;
      const int c = static_cast<int>(cfa.color_at(y, x));
      black_sum[c] += black;
      ++black_n[c];
      max_black = std::max(max_black, black);
    }
  }
  const float white = static_cast<float>(color.maximum);
  if (!(white > max_black)) {
    return Status::Corrupt("cannot decode '" + path + "': white level " +
                           std::to_string(color.maximum) +
                           " is not above the black level " +
                           std::to_string(max_black));
  }
  // raw_pitch (bytes) is only known after unpack.
  const std::size_t pitch = sizes.raw_pitch / 2;
  if (pitch < static_cast<std::size_t>(sizes.raw_width)) {
    return Status::Corrupt("cannot decode '" + path +
                           "': LibRaw returned an inconsistent row pitch");
  }

  RawMetadata& meta = state->meta;
  meta.make = raw.imgdata.idata.make;
  meta.model = raw.imgdata.idata.model;
  meta.iso = raw.imgdata.other.iso_speed;
  meta.raw_width = sizes.raw_width;
  meta.raw_height = sizes.raw_height;
  meta.visible_top = sizes.top_margin;
  meta.visible_left = sizes.left_margin;
  for (int c = 0; c < 3; ++c) {
    meta.black[c] = black_n[c] ? static_cast<float>(black_sum[c] / black_n[c])
                               : static_cast<float>(color.black);
  }
  meta.white = white;
  if (color.cam_mul[1] > 0) {
    meta.wb_coeffs = {color.cam_mul[0] / color.cam_mul[1], 1.0f,
                      color.cam_mul[2] / color.cam_mul[1]};
  }
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 3; ++c) meta.rgb_xyz_matrix[r][c] = color.cam_xyz[r][c];
  }
  // LibRaw fills cam_xyz from its own camera table; a DNG of a camera it
  // does not know (our synthetic ones) carries the same XYZ -> camera
  // matrix as ColorMatrix1/2, which LibRaw keeps in dng_color. Use it, D65
  // first, so such files get a usable matrix (RawNIND's lin_rec2020 needs
  // one).
  bool has_matrix = false;
  for (const auto& row : meta.rgb_xyz_matrix) {
    for (float v : row) has_matrix |= v != 0;
  }
  if (!has_matrix && raw.imgdata.idata.dng_version != 0) {
    const libraw_dng_color_t* chosen = nullptr;
    for (const libraw_dng_color_t& dng : raw.imgdata.color.dng_color) {
      bool nonzero = false;
      for (const auto& row : dng.colormatrix) {
        for (float v : row) nonzero |= v != 0;
      }
      if (!nonzero) continue;
      if (chosen == nullptr || dng.illuminant == 21) chosen = &dng;
    }
    if (chosen != nullptr) {
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) {
          meta.rgb_xyz_matrix[r][c] = chosen->colormatrix[r][c];
        }
      }
    }
  }
  // Contract §2 (RawNIND's rule): the camera's linear maximum when LibRaw
  // reports one; the lowest channel's, so no channel counts as linear past
  // its own limit.
  long linear_max = 0;
  for (long v : color.linear_max) {
    if (v > 0 && (linear_max == 0 || v < linear_max)) linear_max = v;
  }
  meta.overexposure_lb = 1.0f;
  if (linear_max > 0) {
    const float black =
        *std::min_element(black_table.begin(), black_table.end());
    const float lb = (static_cast<float>(linear_max) - black) / (white - black);
    if (lb > 0) meta.overexposure_lb = std::min(lb, 1.0f);
  }

  state->width = width;
  state->height = height;
  state->levels.height = table_h;
  state->levels.width = table_w;
  state->levels.black = std::move(black_table);
  state->levels.white = white;
  return UnpackedRaw(std::move(state));
}

Result<RawImage> DecodeRaw(const std::string& path,
                           const DecodeOptions& options,
                           const PlanePool* pool) {
  DSB_ASSIGN_OR_RETURN(UnpackedRaw unpacked, UnpackRaw(path, options));
  RawImage image;
  image.path = path;
  image.cfa = unpacked.cfa();
  image.meta = unpacked.meta();
  // Every pixel is written by Normalise: no fill.
  if (pool != nullptr) {
    image.pixels = pool->Acquire(unpacked.width(), unpacked.height());
  } else {
    image.pixels.Resize(unpacked.width(), unpacked.height());
  }
  unpacked.Normalise(image.pixels.view());
  return image;
}

}  // namespace dsb
