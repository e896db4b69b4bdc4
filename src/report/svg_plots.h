// The report's plots as inline SVG text: nothing to load, nothing to run.
// Every label that could come from a file name goes through EscapeHtml.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "report/figures.h"

namespace dsb {

// Bars with a labelled x axis (bin edges), the count on each bar's hover
// title, the below/above-range counts in the caption and the threshold, if
// any, as a red line.
std::string HistogramSvg(const Histogram& histogram);

struct ShiftPoint {
  double dy = 0;  // sub-pixel estimate
  double dx = 0;
  std::string label;  // plain text (escaped here)
  bool kept = true;   // drawn filled when RawNIND's loader keeps the pair
};

// A dx/dy scatter of a scene's shifts, centred on (0, 0), square, with a
// symmetric range that holds every point (at least +-4 px).
std::string ShiftScatterSvg(const std::vector<ShiftPoint>& points);

}  // namespace dsb
