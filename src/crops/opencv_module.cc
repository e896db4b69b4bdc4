// The shared module that holds this project's calls into OpenCV (see
// crops/opencv_calls.h for why they live in a module). Plain C entry
// points over caller-owned buffers: nothing of OpenCV crosses the border.
#include <cstddef>
#include <cstdint>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

extern "C" __attribute__((visibility("default"))) void dsb_demosaic_rggb_ea(
    const std::uint16_t* mono, int rows, int cols, std::uint16_t* rgb) {
  const cv::Mat in(rows, cols, CV_16UC1, const_cast<std::uint16_t*>(mono));
  cv::Mat out(rows, cols, CV_16UC3, rgb);
  cv::demosaicing(in, out, cv::COLOR_BayerRGGB2RGB_EA);
  // demosaicing writes into `out` (same size and type), i.e. into rgb.
}

extern "C" __attribute__((visibility("default"))) void dsb_floats_to_halves(
    const float* in, std::size_t count, std::uint16_t* out) {
  const cv::Mat src(1, static_cast<int>(count), CV_32F, const_cast<float*>(in));
  cv::Mat dst(1, static_cast<int>(count), CV_16F, out);
  src.convertTo(dst, CV_16F);
}
