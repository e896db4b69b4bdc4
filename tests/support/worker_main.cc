// main() for test binaries whose builds decode in worker processes: the
// isolated decoder's default worker is /proc/self/exe __decode-worker,
// which in a test is the test binary itself, so it answers that subcommand
// as dataset-build does and otherwise runs the tests like gtest_main.
#include <gtest/gtest.h>

#include "raw/decode_worker.h"

int main(int argc, char** argv) {
  if (auto worker = dsb::RunDecodeWorkerIfAsked(argc, argv)) return *worker;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
