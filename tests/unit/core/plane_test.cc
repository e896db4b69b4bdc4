// Plane ownership (core/plane.h): owned and adopted storage, copies that
// own their pixels, moves that carry the owner along, and Resize/Reset
// dropping an adopted buffer for owned storage; the plane pool's reuse
// (core/plane_pool.h).
#include "core/plane.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

#include "core/plane_pool.h"

namespace dsb {
namespace {

// An adopted buffer whose release is observable.
struct Released {
  std::vector<float> pixels;
  bool* released;
  ~Released() { *released = true; }
};

Plane<float> AdoptedPlane(bool* released) {
  // Built in place: a temporary's destructor would count as a release.
  std::shared_ptr<Released> buffer(
      new Released{std::vector<float>(12), released});
  std::iota(buffer->pixels.begin(), buffer->pixels.end(), 1.0f);
  float* data = buffer->pixels.data();
  return Plane<float>::Adopt(data, 4, 3, std::move(buffer));
}

TEST(PlaneTest, AdoptedPlaneReadsTheBufferAndReleasesItOnce) {
  bool released = false;
  {
    Plane<float> plane = AdoptedPlane(&released);
    EXPECT_EQ(plane.width(), 4);
    EXPECT_EQ(plane.height(), 3);
    EXPECT_EQ(plane.pixel_count(), 12u);
    EXPECT_EQ(plane.at(2, 3), 12.0f);
    EXPECT_EQ(plane.view().row(1)[0], 5.0f);
    Plane<float> moved = std::move(plane);
    EXPECT_TRUE(plane.empty());  // NOLINT: moved-from is empty, by design
    EXPECT_EQ(plane.data(), nullptr);
    EXPECT_FALSE(released);
    EXPECT_EQ(moved.at(1, 1), 6.0f);
  }
  EXPECT_TRUE(released);
}

TEST(PlaneTest, CopyOfAnAdoptedPlaneOwnsItsPixels) {
  bool released = false;
  Plane<float> copy;
  {
    Plane<float> plane = AdoptedPlane(&released);
    copy = plane;
    EXPECT_NE(copy.data(), plane.data());
  }
  EXPECT_TRUE(released);
  ASSERT_EQ(copy.pixel_count(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(copy.data()[i], i + 1.0f);
}

TEST(PlaneTest, ResetAndResizeDropTheAdoptedBuffer) {
  bool released = false;
  Plane<float> plane = AdoptedPlane(&released);
  plane.Reset(2, 2, 7.0f);
  EXPECT_TRUE(released);
  EXPECT_EQ(plane.pixel_count(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(plane.data()[i], 7.0f);

  released = false;
  plane = AdoptedPlane(&released);
  plane.Resize(5, 1);
  EXPECT_TRUE(released);
  EXPECT_EQ(plane.width(), 5);
  EXPECT_EQ(plane.pixel_count(), 5u);
}

TEST(PlaneTest, OwnedPlanesFillWhenAskedAndMoveTheirStorage) {
  Plane<float> plane(3, 2, 0.5f);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(plane.data()[i], 0.5f);
  const float* data = plane.data();
  Plane<float> moved(std::move(plane));
  EXPECT_EQ(moved.data(), data);  // moved, not copied
  EXPECT_EQ(moved.row(1), data + 3);
  Plane<float> copy(moved);
  EXPECT_NE(copy.data(), moved.data());
  EXPECT_EQ(copy.at(1, 2), 0.5f);
  // Resize keeps what the storage holds (a caller-writes-all plane).
  moved.Resize(3, 2);
  EXPECT_EQ(moved.data(), data);
  EXPECT_EQ(moved.at(1, 2), 0.5f);
  Plane<std::uint8_t> zeros(8, 8);
  for (std::size_t i = 0; i < zeros.pixel_count(); ++i) {
    EXPECT_EQ(zeros.data()[i], 0);
  }
}

// Planes large enough to be worth pooling (over 2 MiB: huge-page sized).
constexpr int kWide = 1024, kTall = 1024;

TEST(PlanePoolTest, ReleasedBufferIsReusedForTheSameSizeOnly) {
  PlanePool pool(2);
  const float* first = nullptr;
  {
    Plane<float> plane = pool.Acquire(kWide, kTall);
    first = plane.data();
    plane.at(kTall - 1, kWide - 1) = 3.0f;
    EXPECT_EQ(plane.pixel_count(), std::size_t{kWide} * kTall);
    EXPECT_EQ(pool.free_buffers(), 0u);
  }
  EXPECT_EQ(pool.free_buffers(), 1u);
  {
    Plane<float> again = pool.Acquire(kWide, kTall);
    EXPECT_EQ(again.data(), first);
    EXPECT_EQ(pool.free_buffers(), 0u);
  }
  EXPECT_EQ(pool.free_buffers(), 1u);
  // Another size does not take it, and does not keep it idle beside its
  // own fresh buffer either: a miss frees what is kept.
  Plane<float> other_size = pool.Acquire(kWide, kTall / 2);
  EXPECT_EQ(pool.free_buffers(), 0u);
}

TEST(PlanePoolTest, KeepsAtMostMaxFreeAndPlanesMayOutliveThePool) {
  std::vector<Plane<float>> planes;
  {
    PlanePool pool(2);
    for (int i = 0; i < 4; ++i) planes.push_back(pool.Acquire(kWide, kTall));
    planes.resize(1);
    EXPECT_EQ(pool.free_buffers(), 2u);
    // A copy owns its own pixels, not a pool buffer.
    Plane<float> copy = planes[0];
    copy.at(0, 0) = 1.0f;
  }
  planes[0].at(0, 0) = 2.0f;  // still valid after the pool is gone
  EXPECT_EQ(planes[0].at(0, 0), 2.0f);
  planes.clear();  // freed, not returned to the dead pool
}

}  // namespace
}  // namespace dsb
