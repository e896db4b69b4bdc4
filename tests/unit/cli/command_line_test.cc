#include "cli/command_line.h"

#include <gtest/gtest.h>

namespace dsb {
namespace {

Result<CommandLine> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "dataset-build");
  return ParseCommandLine(args);
}

TEST(CommandLineTest, BuildIsTheDefaultWithRootAndOptions) {
  auto parsed = Parse({"/data/rawnind", "--db", "x.db", "--masks", "m", "-j",
                       "3", "--device", "cpu", "--force", "--max-shift", "64"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->command, Command::kBuild);
  EXPECT_EQ(parsed->build.root, "/data/rawnind");
  EXPECT_EQ(parsed->build.db_path, "x.db");
  EXPECT_EQ(parsed->build.masks_dir, "m");
  EXPECT_EQ(parsed->build.jobs, 3);
  EXPECT_EQ(parsed->build.device, Device::kCpu);
  EXPECT_TRUE(parsed->build.force);
  EXPECT_EQ(parsed->build.align.max_shift, 64);
}

TEST(CommandLineTest, StatusAndDefaultsResolveInsideTheRoot) {
  auto parsed = Parse({"--status", "ds/"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->command, Command::kStatus);
  BuildOptions options = parsed->build;
  options.ResolveDefaults();
  EXPECT_EQ(options.root, "ds");
  EXPECT_EQ(options.db_path, "ds/dataset-build.db");
  EXPECT_EQ(options.masks_dir, "ds/masks");
  EXPECT_GE(options.jobs, 1);
}

TEST(CommandLineTest, GpuMemReachesTheCorrelatorsBudget) {
  // --gpu-mem must land in AlignParams::gpu_memory_bytes, the only field
  // the CUDA correlator reads (it was parsed into a field nothing read).
  auto parsed = Parse({"root", "--gpu-mem", "512M", "--mem", "2G"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->build.align.gpu_memory_bytes, std::size_t{512} << 20);
  EXPECT_EQ(parsed->build.mem_bytes, std::size_t{2} << 30);
  // Not a result-changing parameter: scene keys do not move with it.
  BuildOptions other = parsed->build;
  other.align.gpu_memory_bytes = 0;
  EXPECT_EQ(other.ResultFingerprint(), parsed->build.ResultFingerprint());
  EXPECT_EQ(Parse({"root"})->build.align.gpu_memory_bytes, 0u);
}

TEST(CommandLineTest, DecodingIsolatedUnlessAskedOtherwise) {
  auto parsed = Parse({"root"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->build.decode_in_process);
  EXPECT_EQ(parsed->build.decode_timeout_s, 0);
  parsed = Parse({"root", "--decode-in-process", "--decode-timeout", "600"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->build.decode_in_process);
  EXPECT_EQ(parsed->build.decode_timeout_s, 600);
  auto bad = Parse({"root", "--decode-timeout", "0"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--decode-timeout"), std::string::npos);
  auto help = Parse({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_NE(help->help_text.find("--decode-in-process"), std::string::npos);
}

TEST(CommandLineTest, HugePagesOnlyWhenAsked) {
  auto parsed = Parse({"root"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->build.huge_pages);
  parsed = Parse({"root", "--huge-pages"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->build.huge_pages);
}

TEST(CommandLineTest, ExportNeedsAFormat) {
  auto missing = Parse({"export"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--format"), std::string::npos);
  auto parsed = Parse({"export", "--format", "csv", "-o", "out.csv", "root"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->command, Command::kExport);
  EXPECT_EQ(parsed->export_options.format, "csv");
  EXPECT_EQ(parsed->export_options.output_path, "out.csv");
  EXPECT_EQ(parsed->build.root, "root");
}

TEST(CommandLineTest, UsageErrorsAreInvalidArgument) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--device", "tpu"},
                                             {"--jobs", "0"},
                                             {"--no-such-option"},
                                             {"a", "b"},
                                             {"--mem", "lots"},
                                             {"--format", "csv"}}) {
    auto parsed = Parse(args);
    ASSERT_FALSE(parsed.ok()) << args[0];
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
  }
}

TEST(CommandLineTest, ByteSizes) {
  EXPECT_EQ(ParseByteSize("0"), 0u);
  EXPECT_EQ(ParseByteSize("1500M"), 1500ull << 20);
  EXPECT_EQ(ParseByteSize("2G"), 2ull << 30);
  EXPECT_EQ(ParseByteSize("512MiB"), 512ull << 20);
  EXPECT_EQ(ParseByteSize("1.5G"),
            static_cast<std::size_t>(1.5 * (1ull << 30)));
  EXPECT_FALSE(ParseByteSize("G"));
  EXPECT_FALSE(ParseByteSize("3X"));
}

TEST(CommandLineTest, SynthIsHandedOver) {
  auto parsed = Parse({"synth", "out", "--scenes", "3"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->command, Command::kSynth);
}

TEST(CommandLineTest, ReportIsHandedOver) {
  // The report command parses its own options (-o is not export's here).
  auto parsed = Parse({"report", "root", "-o", "out", "--db", "x.db"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->command, Command::kReport);
}

TEST(CommandLineTest, JobsDoNotChangeTheResultFingerprint) {
  auto one = Parse({"-j", "1"});
  auto many = Parse({"-j", "8"});
  auto shift = Parse({"--max-shift", "32"});
  ASSERT_TRUE(one.ok() && many.ok() && shift.ok());
  EXPECT_EQ(one->build.ResultFingerprint(), many->build.ResultFingerprint());
  EXPECT_NE(one->build.ResultFingerprint(), shift->build.ResultFingerprint());
}

// --clip-footprint: per sample by default, cell on request, part of the
// scene key; anything else is a usage error.
TEST(CommandLineTest, ClipFootprintIsParsedAndKeyed) {
  auto plain = Parse({"root"});
  auto cell = Parse({"root", "--clip-footprint", "cell"});
  auto sample = Parse({"root", "--clip-footprint", "sample"});
  ASSERT_TRUE(plain.ok() && cell.ok() && sample.ok());
  EXPECT_EQ(plain->build.mask.clip_footprint, ClipFootprint::kSample);
  EXPECT_EQ(cell->build.mask.clip_footprint, ClipFootprint::kCell);
  EXPECT_EQ(plain->build.ResultFingerprint(),
            sample->build.ResultFingerprint());
  EXPECT_NE(plain->build.ResultFingerprint(), cell->build.ResultFingerprint());
  auto bad = Parse({"root", "--clip-footprint", "3x3"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("3x3"), std::string::npos);
}

TEST(CommandLineTest, ShardMergeAndSlurm) {
  auto shard = Parse({"--shard", "2/4", "root"});
  ASSERT_TRUE(shard.ok()) << shard.status().ToString();
  EXPECT_EQ(shard->command, Command::kBuild);
  EXPECT_EQ(shard->build.shard, (ShardSpec{2, 4}));
  EXPECT_FALSE(Parse({"--shard", "4/4", "root"}).ok());

  auto merge = Parse({"merge", "root", "--shards", "4", "--db", "x.db"});
  ASSERT_TRUE(merge.ok()) << merge.status().ToString();
  EXPECT_EQ(merge->command, Command::kMerge);
  EXPECT_EQ(merge->cluster.shards, 4);
  EXPECT_EQ(merge->build.db_path, "x.db");

  auto slurm =
      Parse({"slurm", "root", "--shards", "8", "--max-shift", "64", "--print",
             "--", "--partition=gpu", "--gres=gpu:1", "--shards", "9"});
  ASSERT_TRUE(slurm.ok()) << slurm.status().ToString();
  EXPECT_EQ(slurm->command, Command::kSlurm);
  EXPECT_EQ(slurm->cluster.shards, 8);
  EXPECT_TRUE(slurm->cluster.print);
  EXPECT_EQ(slurm->build.align.max_shift, 64);
  EXPECT_EQ(slurm->cluster.sbatch_args,
            (std::vector<std::string>{"--partition=gpu", "--gres=gpu:1",
                                      "--shards", "9"}));

  EXPECT_FALSE(Parse({"slurm", "root"}).ok());  // --shards is required
  EXPECT_FALSE(Parse({"slurm", "root", "--shards", "0"}).ok());
  EXPECT_FALSE(Parse({"merge", "root", "--shard", "1/2"}).ok());
  EXPECT_FALSE(Parse({"merge", "root", "--print"}).ok());
  EXPECT_FALSE(Parse({"root", "--shards", "2"}).ok());
}

}  // namespace
}  // namespace dsb
