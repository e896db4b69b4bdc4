// Image planes: a non-owning 2-D view and an owning plane.
//
// Decode, align and mask pass pixels as PlaneView (pointer, width, height,
// stride in elements) so that crops and overlaps are views, not copies.
// Plane<T> owns its storage (or adopts memory handed to it, e.g. a decode
// worker's record) and hands out views. Rows are contiguous; the stride may
// exceed the width for crops.
//
// Thread safety: none of their own; concurrent reads are fine.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/large_pages.h"

namespace dsb {

template <typename T>
struct PlaneView {
  T* data = nullptr;
  int width = 0;
  int height = 0;
  std::ptrdiff_t stride = 0;  // elements between the starts of two rows

  T* row(int y) const { return data + static_cast<std::ptrdiff_t>(y) * stride; }
  T& at(int y, int x) const {
    assert(y >= 0 && y < height && x >= 0 && x < width);
    return row(y)[x];
  }
  bool empty() const { return width <= 0 || height <= 0; }
  std::size_t pixel_count() const {
    return static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  }
  // A view of the rectangle [y0, y0+h) x [x0, x0+w), which must lie inside.
  PlaneView crop(int y0, int x0, int h, int w) const {
    assert(y0 >= 0 && x0 >= 0 && y0 + h <= height && x0 + w <= width);
    return {row(y0) + x0, w, h, stride};
  }
  operator PlaneView<const T>() const { return {data, width, height, stride}; }
};

// Plane storage: LargePageAllocator, but growing a vector leaves new
// elements default-initialised (for floats and bytes: unwritten) instead of
// zeroed. Resize promises the caller writes every entry; a fill is asked
// for explicitly (the constructor, Reset). Zeroing a fresh 24 MP float plane
// that was about to be overwritten was ~15 % of an isolated decode
// (perf, tests/bench/decode_bench).
template <typename T>
struct PlaneAllocator : LargePageAllocator<T> {
  template <typename U>
  struct rebind {
    using other = PlaneAllocator<U>;
  };
  PlaneAllocator() = default;
  template <typename U>
  PlaneAllocator(const PlaneAllocator<U>&) {}  // NOLINT: rebinding
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <typename T>
class Plane {
 public:
  Plane() = default;
  Plane(int width, int height, T fill = T())
      : storage_(static_cast<std::size_t>(width) * height, fill),
        data_(storage_.data()),
        size_(storage_.size()),
        width_(width),
        height_(height) {}

  // A plane over memory someone else allocated: `data` holds width x
  // height entries, row after row, and stays valid as long as `keeper`
  // lives (it is released with the plane, or with its last copy's move).
  // The decoder hands over a worker's record this way instead of copying
  // it (raw/decode_record.h). Reset and Resize drop it for owned storage;
  // a copy of the plane owns a copy of the pixels.
  static Plane Adopt(T* data, int width, int height,
                     std::shared_ptr<void> keeper) {
    Plane plane;
    plane.keeper_ = std::move(keeper);
    plane.data_ = data;
    plane.size_ = static_cast<std::size_t>(width) * height;
    plane.width_ = width;
    plane.height_ = height;
    return plane;
  }

  Plane(const Plane& other)
      : storage_(other.data_, other.data_ + other.size_),
        data_(storage_.data()),
        size_(other.size_),
        width_(other.width_),
        height_(other.height_) {}
  Plane& operator=(const Plane& other) {
    if (this != &other) *this = Plane(other);
    return *this;
  }
  Plane(Plane&& other) noexcept
      : storage_(std::move(other.storage_)),
        keeper_(std::move(other.keeper_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        width_(std::exchange(other.width_, 0)),
        height_(std::exchange(other.height_, 0)) {
    other.storage_.clear();
  }
  Plane& operator=(Plane&& other) noexcept {
    if (this != &other) {
      storage_ = std::move(other.storage_);
      other.storage_.clear();
      keeper_ = std::move(other.keeper_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      width_ = std::exchange(other.width_, 0);
      height_ = std::exchange(other.height_, 0);
    }
    return *this;
  }

  // Makes this a width x height plane of `fill`, reusing the storage when
  // it is large enough (no fresh pages to fault in).
  void Reset(int width, int height, T fill = T()) {
    keeper_.reset();
    storage_.assign(static_cast<std::size_t>(width) * height, fill);
    Owned(width, height);
  }

  // Makes this a width x height plane whose entries the caller will all
  // write: storage is reused as it is and fresh storage is not filled.
  void Resize(int width, int height) {
    keeper_.reset();
    storage_.resize(static_cast<std::size_t>(width) * height);
    Owned(width, height);
  }

  int width() const { return width_; }
  int height() const { return height_; }
  bool empty() const { return size_ == 0; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T* row(int y) { return data_ + static_cast<std::size_t>(y) * width_; }
  const T* row(int y) const {
    return data_ + static_cast<std::size_t>(y) * width_;
  }
  T& at(int y, int x) { return row(y)[x]; }
  const T& at(int y, int x) const { return row(y)[x]; }
  std::size_t pixel_count() const { return size_; }
  std::size_t byte_size() const { return size_ * sizeof(T); }

  PlaneView<T> view() { return {data_, width_, height_, width_}; }
  PlaneView<const T> view() const { return {data_, width_, height_, width_}; }

 private:
  void Owned(int width, int height) {
    data_ = storage_.data();
    size_ = storage_.size();
    width_ = width;
    height_ = height;
  }

  // Large planes 2 MiB-aligned, on huge pages under --huge-pages
  // (common/large_pages.h says when that pays).
  std::vector<T, PlaneAllocator<T>> storage_;
  // Set for an adopted plane: what keeps `data_` alive.
  std::shared_ptr<void> keeper_;
  T* data_ = nullptr;
  std::size_t size_ = 0;
  int width_ = 0;
  int height_ = 0;
};

}  // namespace dsb
