#include "crops/xtrans_rgb.h"

#include <libraw/libraw.h>

#include <cstring>
#include <memory>

#include "raw/libraw_errors.h"

namespace dsb {

Result<XTransRgb> DemosaicXTrans(const std::string& path) {
  auto raw = std::make_unique<LibRaw>(LIBRAW_OPTIONS_NONE);
  libraw_output_params_t& p = raw->imgdata.params;
  p.use_camera_wb = 0;
  p.use_auto_wb = 0;
  for (float& mul : p.user_mul) mul = 1.0f;
  p.no_auto_bright = 1;
  p.gamm[0] = p.gamm[1] = 1.0;
  p.output_bps = 16;
  p.output_color = 0;  // camera RGB
  // 2: Markesteijn 1-pass for X-Trans (LibRaw runs xtrans_interpolate(1)
  // for quality 2), the default of darktable, which RawNIND uses here.
  p.user_qual = 2;
  p.highlight = 0;
  p.half_size = 0;
  p.user_flip = 0;
  int ret = raw->open_file(path.c_str());
  if (ret != LIBRAW_SUCCESS)
    return LibRawError(ret, "cannot open raw file", path);
  if (raw->imgdata.idata.filters != 9) {
    return Status::InvalidArgument("'" + path + "' is not an X-Trans raw");
  }
  ret = raw->unpack();
  if (ret != LIBRAW_SUCCESS) return LibRawError(ret, "cannot decode", path);
  ret = raw->dcraw_process();
  if (ret != LIBRAW_SUCCESS) {
    return LibRawError(ret, "cannot demosaic X-Trans", path);
  }
  XTransRgb out;
  out.width = raw->imgdata.sizes.iwidth;
  out.height = raw->imgdata.sizes.iheight;
  out.image4 = &raw->imgdata.image[0][0];
  out.owner = std::shared_ptr<LibRaw>(std::move(raw));
  return out;
}

}  // namespace dsb
