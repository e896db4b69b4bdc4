// SharedPlanePool (raw/shared_planes.h): planes in sealed memfds that a
// decode worker writes through its own mapping, reused like
// core/plane_pool.h's, their pages punched out when they are freed.
#include "raw/shared_planes.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace dsb {
namespace {

TEST(SharedPlanePoolTest, APlaneIsASealedMemfdSeenThroughAnotherMapping) {
  const SharedPlanePool pool(2);
  Result<SharedPlanePool::Lease> lease = pool.Acquire(100, 30);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  Plane<float>& plane = lease->plane;
  ASSERT_EQ(plane.width(), 100);
  ASSERT_EQ(plane.height(), 30);
  const std::size_t bytes = 100 * 30 * sizeof(float);
  struct stat st {};
  ASSERT_EQ(::fstat(lease->fd, &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), bytes);
  // Close-on-exec (no spawned process inherits it) and sealed: no one
  // holding it can shrink it under our mapping, grow it, or unseal it.
  EXPECT_NE(::fcntl(lease->fd, F_GETFD) & FD_CLOEXEC, 0);
  const int seals = ::fcntl(lease->fd, F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  EXPECT_NE(::ftruncate(lease->fd, 4096), 0);
  // What a worker writes through its own mapping is the plane's pixels.
  void* theirs =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, lease->fd, 0);
  ASSERT_NE(theirs, MAP_FAILED);
  std::vector<float> values(100 * 30);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * i;
  std::memcpy(theirs, values.data(), bytes);
  ::munmap(theirs, bytes);
  EXPECT_EQ(std::memcmp(plane.data(), values.data(), bytes), 0);
}

TEST(SharedPlanePoolTest, ReleasedPlanesAreReusedUpToTheBound) {
  const SharedPlanePool pool(2);
  const float* first = nullptr;
  {
    Result<SharedPlanePool::Lease> lease = pool.Acquire(64, 64);
    ASSERT_TRUE(lease.ok());
    first = lease->plane.data();
  }
  EXPECT_EQ(pool.free_buffers(), 1u);
  {
    Result<SharedPlanePool::Lease> again = pool.Acquire(64, 64);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->plane.data(), first);  // the same buffer, reused
    EXPECT_EQ(pool.free_buffers(), 0u);
  }
  {
    std::vector<Plane<float>> held;
    for (int i = 0; i < 3; ++i) {
      Result<SharedPlanePool::Lease> lease = pool.Acquire(64, 64);
      ASSERT_TRUE(lease.ok());
      held.push_back(std::move(lease->plane));
    }
  }
  EXPECT_EQ(pool.free_buffers(), 2u);  // three released, two kept
  // Another size: the kept ones go before a new one is made.
  Result<SharedPlanePool::Lease> other = pool.Acquire(32, 16);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(pool.free_buffers(), 0u);
  // A plane may outlive its pool.
  std::optional<SharedPlanePool> short_lived(std::in_place, 2);
  Result<SharedPlanePool::Lease> outliving = short_lived->Acquire(8, 8);
  ASSERT_TRUE(outliving.ok());
  short_lived.reset();
  outliving->plane.data()[63] = 1.0f;
  outliving->plane = Plane<float>();  // released after the pool: freed
}

// A request names the process that will fill the plane: it gets a kept
// buffer that process filled before (its mapping there is warm), whichever
// was released last; a filler none was filled by gets the newest.
TEST(SharedPlanePoolTest, AFillerGetsTheBufferItFilledBefore) {
  const SharedPlanePool pool(4);
  const std::uint64_t worker_a = 101, worker_b = 202, worker_c = 303;
  const float* filled_by_a = nullptr;
  const float* filled_by_b = nullptr;
  {
    Result<SharedPlanePool::Lease> a = pool.Acquire(64, 64, worker_a);
    Result<SharedPlanePool::Lease> b = pool.Acquire(64, 64, worker_b);
    ASSERT_TRUE(a.ok() && b.ok());
    filled_by_a = a->plane.data();
    filled_by_b = b->plane.data();
    ASSERT_NE(filled_by_a, filled_by_b);
    a->plane = Plane<float>();  // released first: b's is the newest
  }
  for (int round = 0; round < 3; ++round) {
    Result<SharedPlanePool::Lease> a = pool.Acquire(64, 64, worker_a);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->plane.data(), filled_by_a) << "round " << round;
    Result<SharedPlanePool::Lease> b = pool.Acquire(64, 64, worker_b);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->plane.data(), filled_by_b) << "round " << round;
    b->plane = Plane<float>();  // now a's is the newest
  }
  // Nobody's in particular, or a stranger: the newest kept buffer.
  Result<SharedPlanePool::Lease> any = pool.Acquire(64, 64, worker_c);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->plane.data(), filled_by_a);
  // ... which c has filled now, as well as a.
  any->plane = Plane<float>();
  Result<SharedPlanePool::Lease> c = pool.Acquire(64, 64, worker_c);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->plane.data(), filled_by_a);
}

// FreeKept frees the kept buffers at once (the decoder's Release, at the
// end of a build); the pool still serves, and keeps what is released after.
TEST(SharedPlanePoolTest, FreeKeptEmptiesThePoolWhichStillServes) {
  const SharedPlanePool pool(4);
  {
    std::vector<Plane<float>> held;
    for (int i = 0; i < 3; ++i) {
      Result<SharedPlanePool::Lease> lease = pool.Acquire(64, 64);
      ASSERT_TRUE(lease.ok());
      held.push_back(std::move(lease->plane));
    }
  }
  EXPECT_EQ(pool.free_buffers(), 3u);
  pool.FreeKept();
  EXPECT_EQ(pool.free_buffers(), 0u);
  {
    Result<SharedPlanePool::Lease> lease = pool.Acquire(64, 64);
    ASSERT_TRUE(lease.ok());
    lease->plane.data()[64 * 64 - 1] = 2.0f;
  }
  EXPECT_EQ(pool.free_buffers(), 1u);
}

// A freed plane's pages are gone even while another mapping of its memfd
// (a worker's kept one) still exists.
TEST(SharedPlanePoolTest, AFreedPlaneKeepsNoPagesInAnotherMapping) {
  const SharedPlanePool pool(0);  // keeps nothing: a release frees
  const std::size_t bytes = std::size_t{512} * 512 * sizeof(float);
  int kept_fd = -1;
  void* theirs = nullptr;
  {
    Result<SharedPlanePool::Lease> lease = pool.Acquire(512, 512);
    ASSERT_TRUE(lease.ok());
    kept_fd = ::dup(lease->fd);
    ASSERT_GE(kept_fd, 0);
    theirs =
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, kept_fd, 0);
    ASSERT_NE(theirs, MAP_FAILED);
    std::memset(theirs, 0x3f, bytes);
    struct stat st {};
    ASSERT_EQ(::fstat(kept_fd, &st), 0);
    EXPECT_GE(static_cast<std::size_t>(st.st_blocks) * 512, bytes);
  }
  EXPECT_EQ(pool.free_buffers(), 0u);
  struct stat st {};
  ASSERT_EQ(::fstat(kept_fd, &st), 0);
  EXPECT_EQ(st.st_blocks, 0) << "the freed plane's pages are still held";
  ::munmap(theirs, bytes);
  ::close(kept_fd);
}

}  // namespace
}  // namespace dsb
