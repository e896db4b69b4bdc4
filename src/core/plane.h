// Image planes: a non-owning 2-D view and an owning plane.
//
// Decode, align and mask pass pixels as PlaneView (pointer, width, height,
// stride in elements) so that crops and overlaps are views, not copies.
// Plane<T> owns its storage and hands out views. Rows are contiguous; the
// stride may exceed the width for crops.
//
// Thread safety: none of their own; concurrent reads are fine.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
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

template <typename T>
class Plane {
 public:
  Plane() = default;
  Plane(int width, int height, T fill = T())
      : storage_(static_cast<std::size_t>(width) * height, fill),
        width_(width),
        height_(height) {}

  // Makes this a width x height plane of `fill`, reusing the storage when
  // it is large enough (no fresh pages to fault in).
  void Reset(int width, int height, T fill = T()) {
    storage_.assign(static_cast<std::size_t>(width) * height, fill);
    width_ = width;
    height_ = height;
  }

  // Makes this a width x height plane whose entries the caller will all
  // write: storage of the same size is reused as it is, with no fill.
  void Resize(int width, int height) {
    storage_.resize(static_cast<std::size_t>(width) * height);
    width_ = width;
    height_ = height;
  }

  int width() const { return width_; }
  int height() const { return height_; }
  bool empty() const { return storage_.empty(); }
  T* data() { return storage_.data(); }
  const T* data() const { return storage_.data(); }
  T* row(int y) {
    return storage_.data() + static_cast<std::size_t>(y) * width_;
  }
  const T* row(int y) const {
    return storage_.data() + static_cast<std::size_t>(y) * width_;
  }
  T& at(int y, int x) { return row(y)[x]; }
  const T& at(int y, int x) const { return row(y)[x]; }
  std::size_t pixel_count() const { return storage_.size(); }
  std::size_t byte_size() const { return storage_.size() * sizeof(T); }

  PlaneView<T> view() { return {storage_.data(), width_, height_, width_}; }
  PlaneView<const T> view() const {
    return {storage_.data(), width_, height_, width_};
  }

 private:
  // Large planes on huge pages (common/large_pages.h): filling a fresh
  // plane costs far fewer page faults.
  std::vector<T, LargePageAllocator<T>> storage_;
  int width_ = 0;
  int height_ = 0;
};

}  // namespace dsb
