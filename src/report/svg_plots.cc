#include "report/svg_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "report/html_text.h"

namespace dsb {

namespace {

std::string Number(double value, int decimals = 3) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  std::string out = text;
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  return out == "-0" ? "0" : out;
}

std::string Px(double value) { return Number(value, 1); }

}  // namespace

std::string HistogramSvg(const Histogram& h) {
  const double width = 360, height = 180, left = 36, right = 18, top = 10,
               bottom = 34;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  int peak = 1;
  for (int c : h.counts) peak = std::max(peak, c);
  const double bar_w = plot_w / h.counts.size();
  std::string svg = "<svg class=\"hist\" viewBox=\"0 0 " + Px(width) + " " +
                    Px(height) + "\" role=\"img\" aria-label=\"" +
                    EscapeHtml(h.title) + " histogram\">";
  // Axes.
  svg += "<line class=\"axis\" x1=\"" + Px(left) + "\" y1=\"" +
         Px(top + plot_h) + "\" x2=\"" + Px(left + plot_w) + "\" y2=\"" +
         Px(top + plot_h) + "\"/>";
  svg += "<text class=\"tick\" x=\"" + Px(left - 4) + "\" y=\"" + Px(top + 8) +
         "\" text-anchor=\"end\">" + std::to_string(peak) + "</text>";
  svg += "<text class=\"tick\" x=\"" + Px(left - 4) + "\" y=\"" +
         Px(top + plot_h) + "\" text-anchor=\"end\">0</text>";
  for (std::size_t i = 0; i < h.counts.size(); ++i) {
    const double bar_h = plot_h * h.counts[i] / peak;
    const double x = left + i * bar_w;
    const double lo = h.lo + i * h.bin_width();
    svg += "<rect class=\"bar\" x=\"" + Px(x + 0.5) + "\" y=\"" +
           Px(top + plot_h - bar_h) + "\" width=\"" +
           Px(std::max(bar_w - 1, 0.5)) + "\" height=\"" + Px(bar_h) +
           "\" data-count=\"" + std::to_string(h.counts[i]) + "\"><title>" +
           Number(lo) + " \xe2\x80\x93 " + Number(lo + h.bin_width()) + ": " +
           std::to_string(h.counts[i]) + "</title></rect>";
  }
  // Labelled ticks on the x axis.
  const int ticks = std::max(h.ticks, 1);
  for (int t = 0; t <= ticks; ++t) {
    const double x = left + plot_w * t / ticks;
    svg += "<text class=\"tick\" x=\"" + Px(x) + "\" y=\"" +
           Px(top + plot_h + 14) + "\" text-anchor=\"middle\">" +
           Number(h.lo + (h.hi - h.lo) * t / ticks) + "</text>";
  }
  if (h.threshold) {
    const double x = left + plot_w * (*h.threshold - h.lo) / (h.hi - h.lo);
    svg += "<line class=\"threshold\" x1=\"" + Px(x) + "\" y1=\"" + Px(top) +
           "\" x2=\"" + Px(x) + "\" y2=\"" + Px(top + plot_h) + "\"><title>" +
           Number(*h.threshold) + "</title></line>";
  }
  std::string caption =
      EscapeHtml(h.title) + " (" + std::to_string(h.total()) + " pairs";
  if (h.below) caption += ", " + std::to_string(h.below) + " below range";
  if (h.above) caption += ", " + std::to_string(h.above) + " above range";
  caption += ")";
  svg += "<text class=\"caption\" x=\"" + Px(left + plot_w / 2) + "\" y=\"" +
         Px(height - 4) + "\" text-anchor=\"middle\">" + caption + "</text>";
  svg += "</svg>";
  return svg;
}

std::string ShiftScatterSvg(const std::vector<ShiftPoint>& points) {
  double range = 4;
  for (const ShiftPoint& p : points) {
    range = std::max({range, std::fabs(p.dy) * 1.1, std::fabs(p.dx) * 1.1});
  }
  range = std::ceil(range);
  const double size = 260, margin = 30, plot = size - 2 * margin;
  const auto sx = [&](double dx) {
    return margin + plot * (dx + range) / (2 * range);
  };
  const auto sy = [&](double dy) {
    return margin + plot * (dy + range) / (2 * range);
  };
  std::string svg = "<svg class=\"shifts\" viewBox=\"0 0 " + Px(size) + " " +
                    Px(size) + "\" role=\"img\" aria-label=\"shifts\">";
  svg += "<rect class=\"frame\" x=\"" + Px(margin) + "\" y=\"" + Px(margin) +
         "\" width=\"" + Px(plot) + "\" height=\"" + Px(plot) + "\"/>";
  svg += "<line class=\"axis\" x1=\"" + Px(sx(0)) + "\" y1=\"" + Px(margin) +
         "\" x2=\"" + Px(sx(0)) + "\" y2=\"" + Px(margin + plot) + "\"/>";
  svg += "<line class=\"axis\" x1=\"" + Px(margin) + "\" y1=\"" + Px(sy(0)) +
         "\" x2=\"" + Px(margin + plot) + "\" y2=\"" + Px(sy(0)) + "\"/>";
  const std::string r = Number(range, 0);
  svg += "<text class=\"tick\" x=\"" + Px(margin) + "\" y=\"" +
         Px(size - margin + 14) + "\" text-anchor=\"middle\">-" + r +
         "</text><text class=\"tick\" x=\"" + Px(margin + plot) + "\" y=\"" +
         Px(size - margin + 14) + "\" text-anchor=\"middle\">" + r +
         "</text><text class=\"tick\" x=\"" + Px(size / 2) + "\" y=\"" +
         Px(size - 4) + "\" text-anchor=\"middle\">dx (px)</text>";
  svg += "<text class=\"tick\" x=\"" + Px(margin - 4) + "\" y=\"" +
         Px(margin + 4) + "\" text-anchor=\"end\">-" + r +
         "</text><text class=\"tick\" x=\"" + Px(margin - 4) + "\" y=\"" +
         Px(margin + plot) + "\" text-anchor=\"end\">" + r +
         "</text><text class=\"tick\" x=\"" + Px(margin) + "\" y=\"" +
         Px(margin - 8) + "\" text-anchor=\"start\">dy (px, down)</text>";
  for (const ShiftPoint& p : points) {
    svg += std::string("<circle class=\"") + (p.kept ? "kept" : "dropped") +
           "\" cx=\"" + Px(sx(p.dx)) + "\" cy=\"" + Px(sy(p.dy)) +
           "\" r=\"4\"><title>" + EscapeHtml(p.label) + " (dy " +
           Number(p.dy, 2) + ", dx " + Number(p.dx, 2) + ")</title></circle>";
  }
  svg += "</svg>";
  return svg;
}

}  // namespace dsb
