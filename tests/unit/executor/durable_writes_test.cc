#include "executor/durable_writes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_file_system.h"

namespace dsb {
namespace {

using testing::FakeFileSystem;

std::vector<std::uint8_t> Bytes(const std::string& text) {
  return {text.begin(), text.end()};
}

// A fake disk whose writes wait until the test opens the gate (a disk in
// fsync), counting the writes under way.
class GatedFileSystem : public FakeFileSystem {
 public:
  Status WriteFileAtomically(const std::string& path,
                             std::span<const std::uint8_t> bytes) override {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ++waiting_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return open_; });
      --waiting_;
    }
    return FakeFileSystem::WriteFileAtomically(path, bytes);
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // Until `n` writes wait at the gate.
  void AwaitWaiting(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  int waiting_ = 0;
};

TEST(DurableWritesTest, WritesEveryFileAndReportsEachStatus) {
  FakeFileSystem fs;
  fs.AddDirectory("/masks");
  fs.AddDirectory("/full");
  fs.SetWriteError("/full/", Status::ResourceExhausted("disk full"));
  constexpr int kFiles = 24;
  std::vector<Status> statuses(kFiles, Status::Internal("not called"));
  {
    DurableWrites writes(fs, 3, 1 << 20);
    for (int i = 0; i < kFiles; ++i) {
      const std::string dir = i % 5 == 0 ? "/full/" : "/masks/";
      writes.Write(dir + std::to_string(i) + ".png",
                   Bytes("mask " + std::to_string(i)),
                   [&statuses, i](const Status& s) { statuses[i] = s; });
    }
    writes.Wait();
    for (int i = 0; i < kFiles; ++i) {
      if (i % 5 == 0) {
        EXPECT_EQ(statuses[i].code(), Status::Code::kResourceExhausted) << i;
        EXPECT_FALSE(fs.Exists("/full/" + std::to_string(i) + ".png"));
      } else {
        EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].ToString();
        EXPECT_EQ(fs.Contents("/masks/" + std::to_string(i) + ".png"),
                  "mask " + std::to_string(i));
      }
    }
  }
  EXPECT_EQ(fs.counters().writes, 19u);
  EXPECT_EQ(fs.counters().failed_writes, 5u);
}

// The thread that queues a write does not wait for the disk; Wait does.
TEST(DurableWritesTest, WriteReturnsWhileTheDiskIsBusyAndWaitWaits) {
  GatedFileSystem fs;
  fs.AddDirectory("/masks");
  DurableWrites writes(fs, 2, 1 << 20);
  std::atomic<int> done{0};
  for (int i = 0; i < 4; ++i) {
    writes.Write("/masks/" + std::to_string(i), Bytes("x"),
                 [&](const Status& s) { done += s.ok() ? 1 : 100; });
  }
  fs.AwaitWaiting(2);  // both writers are in the "fsync"
  EXPECT_EQ(done.load(), 0);
  std::atomic<bool> waited{false};
  std::thread waiter([&] {
    writes.Wait();
    waited = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(waited.load());
  fs.Open();
  waiter.join();
  EXPECT_EQ(done.load(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(fs.Exists("/masks/" + std::to_string(i)));
  }
}

// Bytes queued and under way stay within the bound: a write past it waits
// for the disk. One write larger than the bound alone still goes.
TEST(DurableWritesTest, QueuedBytesStayWithinTheBound) {
  GatedFileSystem fs;
  fs.AddDirectory("/masks");
  DurableWrites writes(fs, 1, 100);
  writes.Write("/masks/big", std::vector<std::uint8_t>(150, 1), nullptr);
  fs.AwaitWaiting(1);
  std::atomic<bool> queued{false};
  std::thread producer([&] {
    writes.Write("/masks/small", std::vector<std::uint8_t>(10, 2), nullptr);
    queued = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(queued.load()) << "150 bytes under way, 10 more let in";
  fs.Open();
  producer.join();
  writes.Wait();
  EXPECT_EQ(fs.Contents("/masks/big")->size(), 150u);
  EXPECT_EQ(fs.Contents("/masks/small")->size(), 10u);
}

TEST(DurableWritesTest, DestructorFinishesQueuedWrites) {
  FakeFileSystem fs;
  fs.AddDirectory("/masks");
  std::atomic<int> done{0};
  {
    DurableWrites writes(fs, 1, 1 << 20);
    for (int i = 0; i < 10; ++i) {
      writes.Write("/masks/" + std::to_string(i), Bytes("y"),
                   [&](const Status& s) { done += s.ok(); });
    }
  }
  EXPECT_EQ(done.load(), 10);
  EXPECT_EQ(fs.counters().writes, 10u);
}

}  // namespace
}  // namespace dsb
