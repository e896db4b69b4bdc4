"""Imports RawNIND's rawds, raw and rawproc from the snapshot in place (never
copied; GPL, tests only) on Debian's Python 3.11, and computes RawNIND's own
figures for one of synth's pairs. Shared by the crop tests.
"""
import atexit
import importlib.abc
import importlib.machinery
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import types


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(77)


def work_dir(prefix):
    """A new temporary folder that is removed when the test exits, passed or
    failed (these tests write hundreds of MiB of crops; left behind, they
    filled /tmp). DSB_KEEP_TEST_DIRS=1 keeps it for inspection."""
    path = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("DSB_KEEP_TEST_DIRS") == "1":
        print(f"keeping {path}")
    else:
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def run_tool(binary, *args):
    """stdout of `binary args...`; exits the test (failed) with its output
    when the tool fails."""
    result = subprocess.run([binary, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}):\n"
                 f"{result.stdout}\n{result.stderr}")
    return result.stdout


def load(snapshot):
    """(rawds, raw, rawproc) from the snapshot, or exit 77 (skipped) when
    it or Python's torch is absent."""
    if not os.path.isfile(os.path.join(snapshot, "src/rawnind/libs/rawds.py")):
        skip(f"RawNIND snapshot not found at {snapshot}")
    try:
        import numpy  # noqa: F401
        import torch
        import yaml  # noqa: F401
        import cv2  # noqa: F401  (RawNIND's loaders read masks with OpenCV)
        import OpenImageIO  # noqa: F401  (and half-float TIFFs with OpenImageIO)
    except ImportError as e:
        skip(f"{sys.executable} {sys.version.split()[0]} lacks {e.name} "
             "(scripts/test installs python3-torch, python3-torchvision, "
             "python3-openimageio, python3-opencv)")
    src = os.path.join(snapshot, "src")

    # Stub packages: rawnind/__init__.py and rawnind/libs/__init__.py import
    # the trainers and models (37 modules); the loaders need none of them.
    def stub_package(name, path):
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module

    stub_package("rawnind", os.path.join(src, "rawnind"))
    stub_package("rawnind.libs", os.path.join(src, "rawnind/libs"))

    # Third-party modules that are imported at module level but never called
    # by the loaders at run time (absent from Debian 12).
    def stub_module(name, **attrs):
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
        return module

    class _MsSsim(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()

    stub_module("rawpy")
    stub_module("Imath")
    stub_module("pytorch_msssim", MS_SSIM=_MsSsim, ms_ssim=None, SSIM=_MsSsim)
    piqa = stub_module("piqa")
    for name in ("MS_SSIM", "SSIM", "LPIPS", "PSNR", "HaarPSI", "GMSD",
                 "MS_GMSD", "MDSI", "VSI", "FSIM", "TV"):
        setattr(piqa, name, _MsSsim)
    try:
        import colour  # noqa: F401
    except ImportError:
        stub_module("colour")

    sys.meta_path.insert(0, _Py311Finder(src))
    sys.path.insert(0, src)
    from rawnind.libs import rawds, raw, rawproc
    return rawds, raw, rawproc


# raw.py uses f-strings with nested same-type quotes (valid from Python
# 3.12, a SyntaxError in 3.11). This loader rewrites only those f-strings:
# the inner double quotes of {...} become single quotes, which means the
# same on every Python.
class _Py311Loader(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data, path, *, _optimize=-1):
        text = data.decode("utf-8")
        out, i = [], 0
        while i < len(text):
            if text.startswith('f"', i):
                j = i + 2
                depth = 0
                chunk = ['f"']
                while j < len(text):
                    ch = text[j]
                    if ch == "{":
                        depth += 1
                    elif ch == "}":
                        depth = max(0, depth - 1)
                    elif ch == '"' and depth == 0:
                        break
                    elif ch == '"' and depth > 0:
                        ch = "'"
                    chunk.append(ch)
                    j += 1
                chunk.append('"')
                out.append("".join(chunk))
                i = j + 1
            else:
                out.append(text[i])
                i += 1
        return compile("".join(out), path, "exec", dont_inherit=True)


class _Py311Finder(importlib.abc.MetaPathFinder):
    def __init__(self, src):
        self.src = src

    def find_spec(self, name, path, target=None):
        if name != "rawnind.libs.raw":
            return None
        file = os.path.join(self.src, "rawnind/libs/raw.py")
        return importlib.util.spec_from_file_location(
            name, file, loader=_Py311Loader(name, file))


def read_cfa_dng(path):
    """The mosaic of one of synth's DNGs (uncompressed 16-bit strips, one
    IFD) as uint16, and its ActiveArea (top, left, bottom, right)."""
    import numpy as np
    data = open(path, "rb").read()
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd:ifd + 2])
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
    codes = {1: "B", 2: "c", 3: "H", 4: "I", 9: "i", 16: "Q"}
    tags = {}
    for i in range(count):
        e = ifd + 2 + 12 * i
        tag, typ, n = struct.unpack(order + "HHI", data[e:e + 8])
        size = sizes.get(typ, 1) * n
        where = e + 8 if size <= 4 else struct.unpack(order + "I", data[e + 8:e + 12])[0]
        if typ in codes:
            tags[tag] = struct.unpack(order + codes[typ] * n, data[where:where + size])
    w, h = tags[256][0], tags[257][0]
    raw = bytearray()
    for off, n in zip(tags[273], tags[279]):
        raw += data[off:off + n]
    mosaic = np.frombuffer(bytes(raw), dtype=order + "u2")[:w * h].reshape(h, w)
    return mosaic, tags.get(50829, (0, 0, h, w))


def rawnind_frame(path, scene):
    """RawNIND's mono frame (raw.raw_fpath_to_mono_img_and_metadata's
    arithmetic: margins dropped, RGGB forced, sizes cut to multiples of 4,
    (raw - black) / (white - black)) of a synth DNG; `scene` is its entry
    in truth.json."""
    import numpy as np
    mosaic, (top, left, bottom, right) = read_cfa_dng(path)
    img = mosaic[top:bottom, left:right].astype(np.float32)
    black = float(scene["black"][0] if isinstance(scene["black"], list) else scene["black"])
    white = float((1 << scene["bits"]) - 1)
    img = (img - np.float32(black)) / np.float32(white - black)
    trim = {"RGGB": (0, 0), "GBRG": (1, 0), "GRBG": (0, 1), "BGGR": (1, 1)}[scene["cfa"]]
    if trim[0]:
        img = img[1:-1]
    if trim[1]:
        img = img[:, 1:-1]
    h, w = img.shape
    return img[: h - h % 4, : w - w % 4][None]
