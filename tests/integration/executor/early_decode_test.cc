// The scene's first GT no longer decodes alone: the file the scene holds next
// decodes beside it (executor/scene_builder.cc, EarlyDecode), and the images
// held at once never exceed the memory plan, with one GT or several, a
// tight budget, a GT that fails to decode and an interrupt during the GT's
// decode.
//
// The decoder is a recording one: LibRaw's in-process decode, its planes
// from a pool of its own (a plane is allocated only when none is free, so
// once the build has released every image the pool's free planes are the
// most images ever held at once; core/plane_pool.h), and the build's first
// decode waits until another decode starts (up to kOverlapWait): without a
// decode beside it, it waits the whole time and says so.
#include <gtest/gtest.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "build_fixtures.h"
#include "executor/build_observer.h"
#include "executor/executor.h"
#include "executor/interrupt.h"
#include "plan/memory_plan.h"
#include "raw/decoder.h"
#include "raw/raw_decoder.h"
#include "sqlite_rows.h"
#include "synth/generate.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

using testing::kAlignments;
using Clock = std::chrono::steady_clock;

constexpr auto kOverlapWait = std::chrono::seconds(5);

struct DecodeLog {
  std::mutex mutex;
  std::condition_variable entered;
  // The build's first GT decode and the first other decode meet: each
  // waits (up to kOverlapWait) until the other has started. They overlapped
  // when the GT saw the other one start and the other did not time out.
  bool gt_in = false, beside_in = false, beside_waited_out = false;
  bool gt_saw_beside = false;
  std::string first_path, beside_path;
  // With meet_later_gts, the third and fourth GT decodes to start meet the
  // same way.
  bool meet_later_gts = false;
  int gt_decodes = 0;
  bool third_gt_in = false, fourth_gt_in = false, third_saw_fourth = false;
  bool fail_gts = false;         // GTs fail to decode
  bool interrupt_first = false;  // the first GT decode raises the interrupt
  PlanePool pool{64};

  bool first_overlapped() {
    std::lock_guard lock(mutex);
    return gt_saw_beside && !beside_waited_out;
  }
};

class RecordingDecoder final : public RawDecoder {
 public:
  explicit RecordingDecoder(DecodeLog& log) : log_(log) {}

  Result<RawImage> Decode(const std::string& path,
                          const DecodeOptions& options) const override {
    const bool gt = path.find("/gt/") != std::string::npos;
    {
      std::unique_lock lock(log_.mutex);
      const int gt_ordinal = gt && log_.meet_later_gts ? log_.gt_decodes++ : -1;
      if (gt_ordinal == 2) {
        log_.third_gt_in = true;
        log_.entered.notify_all();
        log_.third_saw_fourth = log_.entered.wait_for(
            lock, kOverlapWait, [&] { return log_.fourth_gt_in; });
      } else if (gt_ordinal == 3) {
        log_.fourth_gt_in = true;
        log_.entered.notify_all();
      }
      if (gt && !log_.gt_in) {
        log_.gt_in = true;
        log_.first_path = path;
        if (log_.interrupt_first) RequestInterrupt();
        log_.entered.notify_all();
        log_.gt_saw_beside = log_.entered.wait_for(
            lock, kOverlapWait, [&] { return log_.beside_in; });
      } else if (!log_.beside_in) {
        log_.beside_in = true;
        log_.beside_path = path;
        log_.entered.notify_all();
        log_.beside_waited_out = !log_.entered.wait_for(
            lock, kOverlapWait, [&] { return log_.gt_in; });
      }
    }
    if (log_.fail_gts && gt) {
      return Status::Corrupt(path + ": a GT this test fails");
    }
    return DecodeRaw(path, options, &log_.pool);
  }
  std::string_view name() const override { return "recording"; }

 private:
  DecodeLog& log_;
};

BuildReport Build(const std::string& root, std::size_t mem, DecodeLog& log,
                  int jobs = 2) {
  BuildOptions options = testing::CpuBuildOptions(root, 16, jobs);
  options.mem_bytes = mem;
  BuildObserver silent;
  auto report = RunBuild(options, RealFileSystem(), silent,
                         std::make_unique<RecordingDecoder>(log));
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  return report.ok() ? *report : BuildReport();
}

constexpr std::size_t kPixels = 256 * 192;  // testing::SmallDataset's
// A budget with room for one GT and one capture only.
constexpr std::size_t kTight =
    (kBytesPerGtPixel + kBytesPerCapturePixel) * kPixels + 1;

class EarlyDecodeTest : public ::testing::Test {
 protected:
  void SetUp() override { ClearInterrupt(); }
  void TearDown() override { ClearInterrupt(); }

  // One scene of `gts` GTs and 4 captures, in `copies` identical roots.
  void Make(int gts, const std::vector<std::string>& copies) {
    SynthOptions synth = testing::SmallDataset(dir_.Join("data"), 1, 4, 31);
    synth.gts_per_scene = gts;
    ASSERT_TRUE(GenerateDataset(synth).ok());
    for (const std::string& copy : copies) {
      fs::copy(synth.out_dir, dir_.Join(copy), fs::copy_options::recursive);
    }
  }
  std::string Root(const std::string& name) { return dir_.Join(name); }
  std::vector<std::string> Rows(const std::string& name) {
    return testing::QueryRows(Root(name) + "/dataset-build.db", kAlignments);
  }

  testing::TempDir dir_;
};

TEST_F(EarlyDecodeTest, FirstCaptureDecodesBesideTheGtWithinThePlan) {
  Make(1, {"alone", "tight"});
  DecodeLog log, alone_log, tight_log;
  const BuildReport report = Build(Root("data"), 0, log);
  EXPECT_TRUE(log.first_overlapped()) << "the GT decoded alone";
  EXPECT_NE(log.first_path.find("/gt/"), std::string::npos);
  EXPECT_EQ(log.beside_path.find("/gt/"), std::string::npos);
  EXPECT_EQ(report.pairs_ok, 5);
  EXPECT_EQ(report.files_decoded, 5);  // the GT once, each capture once
  // 2 workers: one GT and at most two captures at once.
  EXPECT_LE(report.max_captures_in_flight, 2);
  EXPECT_GE(report.max_captures_in_flight, 1);
  EXPECT_LE(log.pool.free_buffers(), 3u);
  EXPECT_GE(report.planned_peak_bytes,
            static_cast<std::int64_t>(
                (kBytesPerGtPixel + 2 * kBytesPerCapturePixel) * kPixels));

  // One worker: nothing decodes beside the GT (it waits its whole time);
  // the results are the same row for row.
  const BuildReport alone = Build(Root("alone"), 0, alone_log, 1);
  EXPECT_FALSE(alone_log.first_overlapped());
  EXPECT_EQ(alone.max_captures_in_flight, 1);
  EXPECT_EQ(Rows("alone"), Rows("data"));

  // Room for one GT and one capture: the capture beside the GT is that one.
  const BuildReport tight = Build(Root("tight"), kTight, tight_log);
  EXPECT_TRUE(tight_log.first_overlapped());
  EXPECT_EQ(tight.max_captures_in_flight, 1);
  EXPECT_LE(tight_log.pool.free_buffers(), 2u);
  EXPECT_EQ(Rows("tight"), Rows("data"));
}

// The decode beside the GT needs no free TBB worker: with TBB's one worker
// (2 threads) held by other work for the whole build, it still starts while
// the GT decodes. (In an arena of its own it waited for a worker, and on a
// loaded machine often got none before the GT's decode ended.)
TEST_F(EarlyDecodeTest, TheDecodeBesideTheGtNeedsNoFreeTbbWorker) {
  Make(1, {});
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, 2);
  std::mutex mutex;
  std::condition_variable changed;
  bool holding = false, release = false, done = false;
  tbb::task_arena other(2);
  other.enqueue([&] {
    std::unique_lock lock(mutex);
    holding = true;
    changed.notify_all();
    changed.wait(lock, [&] { return release; });
    done = true;
    changed.notify_all();
  });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, kOverlapWait, [&] { return holding; }))
        << "TBB's worker never took the holding task";
  }
  DecodeLog log;
  const BuildReport report = Build(Root("data"), 0, log);
  {
    std::unique_lock lock(mutex);
    release = true;
    changed.notify_all();
    changed.wait(lock, [&] { return done; });  // it uses this frame
  }
  EXPECT_TRUE(log.first_overlapped()) << "the GT decoded alone";
  EXPECT_EQ(report.pairs_ok, 5);
}

TEST_F(EarlyDecodeTest, SeveralGtsStayWithinThePlan) {
  Make(2, {"tight"});
  // Ample memory: both GTs in one group, the second decoded beside the
  // first as a GT (no capture in flight then).
  DecodeLog log;
  const BuildReport report = Build(Root("data"), 0, log);
  EXPECT_TRUE(log.first_overlapped());
  EXPECT_NE(log.beside_path.find("/gt/"), std::string::npos);
  EXPECT_EQ(report.pairs_ok, 2 * (2 + 4));
  EXPECT_EQ(report.correlators_made, 2);
  EXPECT_EQ(report.files_decoded, 6);
  EXPECT_LE(report.max_captures_in_flight, 2);
  EXPECT_LE(log.pool.free_buffers(), 4u);  // two GTs, two captures

  // One GT per pass: the second GT is a capture of the first pass, and the
  // second pass decodes its first capture (the first GT) beside its GT.
  DecodeLog tight_log;
  const BuildReport tight = Build(Root("tight"), kTight, tight_log);
  EXPECT_TRUE(tight_log.first_overlapped());
  EXPECT_EQ(tight.pairs_ok, report.pairs_ok);
  EXPECT_EQ(tight.correlators_made, 2);
  EXPECT_EQ(tight.max_captures_in_flight, 1);
  EXPECT_LE(tight_log.pool.free_buffers(), 2u);
  EXPECT_EQ(Rows("tight"), Rows("data"));
}

TEST_F(EarlyDecodeTest, AGroupsGtsDecodeInParallel) {
  // Four GTs fit one group: the first two decode together (the second
  // beside the first, as above), then the other two together.
  Make(4, {"tight"});
  DecodeLog log;
  log.meet_later_gts = true;
  const BuildReport report = Build(Root("data"), 0, log);
  EXPECT_TRUE(log.first_overlapped());
  EXPECT_TRUE(log.third_saw_fourth) << "the third and fourth GT one by one";
  EXPECT_EQ(report.pairs_ok, 4 * (4 + 4));
  EXPECT_EQ(report.correlators_made, 4);
  EXPECT_EQ(report.files_decoded, 8);
  EXPECT_LE(report.max_captures_in_flight, 2);
  EXPECT_LE(log.pool.free_buffers(), 6u);  // four GTs, two captures

  // One GT per pass: the same rows.
  DecodeLog tight_log;
  const BuildReport tight = Build(Root("tight"), kTight, tight_log);
  EXPECT_EQ(tight.pairs_ok, report.pairs_ok);
  EXPECT_EQ(tight.max_captures_in_flight, 1);
  EXPECT_LE(tight_log.pool.free_buffers(), 2u);
  EXPECT_EQ(Rows("tight"), Rows("data"));
}

TEST_F(EarlyDecodeTest, AGtThatFailsToDecodeFailsItsPairsOnly) {
  Make(1, {});
  DecodeLog log;
  log.fail_gts = true;
  const BuildReport report = Build(Root("data"), 0, log);
  EXPECT_TRUE(log.first_overlapped());
  EXPECT_EQ(report.scenes_failed, 1);
  EXPECT_EQ(report.pairs_ok, 0);
  EXPECT_EQ(report.pairs_failed, 5);
  EXPECT_EQ(report.files_decoded, 4);  // every capture, none twice
  EXPECT_LE(report.max_captures_in_flight, 1);
  EXPECT_LE(log.pool.free_buffers(), 1u);
  const auto rows = Rows("data");
  ASSERT_EQ(rows.size(), 5u);
}

TEST_F(EarlyDecodeTest, AnInterruptDuringTheGtDropsTheEarlyDecodeAndResumes) {
  Make(1, {});
  DecodeLog log;
  log.interrupt_first = true;
  const BuildReport report = Build(Root("data"), 0, log);
  EXPECT_TRUE(report.interrupted);
  EXPECT_EQ(report.pairs_ok, 0);
  EXPECT_LE(report.max_captures_in_flight, 1);
  ClearInterrupt();
  DecodeLog resumed_log;
  const BuildReport resumed = Build(Root("data"), 0, resumed_log);
  EXPECT_FALSE(resumed.interrupted);
  EXPECT_EQ(resumed.pairs_ok, 5);
}

}  // namespace
}  // namespace dsb
