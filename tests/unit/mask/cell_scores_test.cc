// The loss mask's per-cell scores (z and weight, mask/loss_mask.h) against
// the header's formula written out plainly, one cell at a time: the
// vectorised scorer takes shortcuts (chunks without clipping skip the
// censoring, a Bayer row keeps its variance terms in registers, max and
// min as single instructions, full steps of 16 cells are loops of a known
// length, others not), each of which must give exactly what the formula
// gives, on every CFA, with clipping in both images at chunk boundaries
// and scattered through the frame.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mask/cell_rows.h"
#include "mask/loss_mask.h"
#include "mask/pair_model.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

using testing::AllCfas;

float Step(const std::vector<float>& up, const std::vector<float>& v,
           const std::vector<float>& down, int j, int left, int right) {
  return std::max(
      std::max(std::fabs(up[j] - v[j]), std::fabs(down[j] - v[j])),
      std::max(std::fabs(v[j] - v[left]), std::fabs(v[right] - v[j])));
}

struct Reference {
  float z = 0;
  int weight = 0;
};

// Cell j of row `mid` as loss_mask.h describes it, in float as the mask
// computes it.
Reference ScoreCell(const CellRow& up, const CellRow& mid, const CellRow& down,
                    int j, const CellLayout& layout, const PairModel& model,
                    const MaskParams& params) {
  const int cols = layout.cols;
  const int left = std::max(j - 1, 0);
  const int right = std::min(j + 1, cols - 1);
  const int pi = mid.index % layout.parity;
  const int pj = j % layout.parity;
  const float slope = static_cast<float>(model.slope);
  const float offset = static_cast<float>(model.offset);
  const float gain = static_cast<float>(model.gain);
  const float rho2 =
      static_cast<float>(params.relative_tolerance * params.relative_tolerance);
  const float tau2 = static_cast<float>(params.structure_tolerance *
                                        params.structure_tolerance);
  const float dark_top = static_cast<float>(model.dark_top);
  const float dark_floor = static_cast<float>(model.dark_floor);
  float g_step[kCellColors];
  float g_any = 0;
  for (int c = 0; c < kCellColors; ++c) {
    g_step[c] = Step(up.gt[c], mid.gt[c], down.gt[c], j, left, right);
    g_any = std::max(g_any, g_step[c]);
  }
  const ClipBits near = mid.gt_clipped[j] | up.gt_clipped[j] |
                        down.gt_clipped[j] | mid.gt_clipped[left] |
                        mid.gt_clipped[right];
  float sum = 0;
  float w = 0;
  for (int c = 0; c < kCellColors; ++c) {
    const float factor = layout.var_factor[pi][pj][c];
    const float g = mid.gt[c][j];
    const float n_step =
        Step(up.noisy[c], mid.noisy[c], down.noisy[c], j, left, right);
    const float s = std::max(g, 0.0f);
    const float line = slope * s + offset;
    const float noise_var =
        (s < dark_top ? std::max(line, dark_floor) : line) * factor;
    const float n_clean =
        std::max(0.0f, gain * n_step - 3.0f * std::sqrt(2.0f * noise_var));
    const float e = std::max(g_step[c], std::min(n_clean, g_any));
    float d = g - gain * mid.noisy[c][j];
    const bool gt_side = (near >> c) & 1u;
    const bool noisy_side = (mid.noisy_clipped[j] >> c) & 1u;
    if (gt_side) d = std::max(d, 0.0f);
    if (noisy_side) d = std::min(d, 0.0f);
    w += factor > 0 ? 2.0f - gt_side - noisy_side : 2.0f;
    const float structure = tau2 * model.structure[pi][pj][c];
    const float var = noise_var + structure * e * e + rho2 * s * s;
    const float third = 1.0f / kCellColors;
    sum += factor > 0 ? third * std::min(d * d / var, 16.0f) : third;
  }
  return {w > 0 ? sum : 0.0f, static_cast<int>(w)};
}

TEST(CellScoresTest, EveryCellIsTheFormulaExactly) {
  for (const CfaPattern& cfa : AllCfas()) {
    SCOPED_TRACE(cfa.name());
    // Wide enough for several chunks of 64 cells a row; clipped lights in
    // the GT, and at the highest noise the capture reaches its white level
    // at scattered samples; an odd shift and a gain.
    SceneSpec spec;
    spec.width = 900;
    spec.height = 240;
    spec.cfa = cfa;
    spec.seed = 17;
    spec.max_shift = 8;
    spec.clipped_fraction = 0.03;
    const SyntheticScene scene(spec);
    RawImage gt = scene.RenderGt();
    CaptureSpec capture;
    capture.dy = 3;
    capture.dx = -5;
    capture.gain = 1.3;
    capture.noise_level = 4;
    capture.moved_object = Box{60, 200, 50, 80};
    const RawImage noisy = scene.RenderCapture(capture);
    // GT clipping on the cells either side of the chunk boundaries (cells
    // 0, 63-66, 127-130, ...), in stripes of rows, one colour each.
    const Overlap overlap =
        ComputeOverlap(gt.height(), gt.width(), capture.dy, capture.dx);
    const int cell = cfa.period() == 2 ? 2 : 3;
    for (int y = 0; y < overlap.height; ++y) {
      if ((y / (4 * cell)) % 3 != 1) continue;
      float* row = gt.pixels.row(overlap.gt_y0 + y);
      for (int j : {0, 63, 64, 65, 66, 127, 128, 129, 130, 192, 193}) {
        const int x = j * cell + (y % cell);
        if (x < overlap.width) row[overlap.gt_x0 + x] = 1.0f;
      }
    }
    Alignment alignment;
    alignment.dy = capture.dy;
    alignment.dx = capture.dx;
    alignment.raw_gain = capture.gain;
    MaskWorkspace workspace;
    const MaskParams params;
    auto mask = MakeLossMask(gt, noisy, alignment, params, &workspace);
    ASSERT_TRUE(mask.ok()) << mask.status().ToString();

    const CellRowBuilder builder(
        gt.pixels.view().crop(overlap.gt_y0, overlap.gt_x0, overlap.height,
                              overlap.width),
        noisy.pixels.view().crop(overlap.noisy_y0, overlap.noisy_x0,
                                 overlap.height, overlap.width),
        gt.cfa.Cropped(overlap.gt_y0, overlap.gt_x0),
        noisy.cfa.Cropped(overlap.noisy_y0, overlap.noisy_x0),
        gt.meta.overexposure_lb, noisy.meta.overexposure_lb, false);
    const CellLayout& layout = builder.layout();
    const PairModel model =
        FitPairModel(builder, alignment.raw_gain, gt.meta.overexposure_lb);
    ASSERT_EQ(model.gain, mask->gain);
    const PlaneView<const std::uint16_t> z = workspace.scores();
    const PlaneView<const std::uint8_t> weight = workspace.weights();
    ASSERT_EQ(z.height, layout.rows);
    ASSERT_EQ(z.width, layout.cols);
    // The rows end in a step of fewer than 16 cells (cells 1 to cols - 2
    // are scored in steps of 16 from cell 1), so both loops are held here.
    EXPECT_NE((layout.cols - 2) % 16, 0);
    CellRow rows[3];
    int censored = 0;
    int gt_censored = 0;
    int noisy_censored = 0;
    int mismatches = 0;
    for (int i = 0; i < layout.rows; ++i) {
      builder.Build(std::max(i - 1, 0), rows[0]);
      builder.Build(i, rows[1]);
      builder.Build(std::min(i + 1, layout.rows - 1), rows[2]);
      for (int j = 0; j < layout.cols; ++j) {
        const Reference ref =
            ScoreCell(rows[0], rows[1], rows[2], j, layout, model, params);
        censored += ref.weight < 6;
        gt_censored += rows[1].gt_clipped[j] != 0;
        noisy_censored += rows[1].noisy_clipped[j] != 0;
        // The mask keeps z in fixed point (1/4096, rounded).
        const float q = ref.z * 4096.0f + 0.5f;
        const std::uint16_t ref_q =
            static_cast<std::uint16_t>(q < 65535.0f ? q : 65535.0f);
        if (z.row(i)[j] != ref_q || weight.row(i)[j] != ref.weight) {
          if (++mismatches <= 5) {
            ADD_FAILURE() << "cell (" << i << ", " << j << "): z x 4096 "
                          << z.row(i)[j] << " weight " << int{weight.row(i)[j]}
                          << ", the formula " << ref.z << " weight "
                          << ref.weight;
          }
        }
      }
    }
    EXPECT_EQ(mismatches, 0);
    // The case holds what it is meant to: censored cells of both kinds,
    // in a minority of the frame.
    EXPECT_GT(gt_censored, 100);
    EXPECT_GT(noisy_censored, 10);
    EXPECT_LT(censored, layout.rows * layout.cols / 4);
  }
}

}  // namespace
}  // namespace dsb
