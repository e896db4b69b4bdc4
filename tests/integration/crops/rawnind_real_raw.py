#!/usr/bin/python3
"""RawNIND's own loaders on a --crops export of the real camera raws.

Copies the real raws of ../shared/data/raw into a temporary dataset (each
its own scene's GT, so every pair is a self pair; one also paired with a
copy of itself), builds with --crops, exports rawnind-yaml with
--absolute-paths and hands the export, unchanged, to RawNIND's
CleanProfiledRGBNoisyBayerImageCropsDataset and its validation class from
the snapshot (rawnind_snapshot.load). Checks that the loaders keep every
pair that has crops, the batch shapes and dtypes, and, as known truth of a
self pair, that every drawn noisy Bayer crop is a window of its .npy file
and the GT lin_rec2020 crop drawn with it is the .tif window at exactly
twice its position (the sign convention and units end to end).

Exit 77 (meson: skipped) with the reason when the raws, the snapshot or
Python 3.11 with torch are absent.

Usage: rawnind_real_raw.py DATASET_BUILD_BINARY RAWNIND_SNAPSHOT_DIR RAW_DIR
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawnind_snapshot  # noqa: E402

if len(sys.argv) != 4:
    sys.exit(__doc__)
BINARY, SNAPSHOT, RAW_DIR = (os.path.abspath(a) for a in sys.argv[1:])
if not os.path.isdir(RAW_DIR):
    rawnind_snapshot.skip(f"no real raws at {RAW_DIR}")

WORK = rawnind_snapshot.work_dir("dsb-rawnind-real-")
os.chdir(WORK)  # rawds writes relative paths under the CWD
rawds, raw, rawproc = rawnind_snapshot.load(SNAPSHOT)
import numpy as np  # noqa: E402
import OpenImageIO as oiio  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

rawds.BREAKPOINT_ON_ERROR = False
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


# --- Dataset, build, export ---------------------------------------------------
ROOT = os.path.join(WORK, "D")
raws = sorted(f for f in os.listdir(RAW_DIR) if not f.endswith(".md"))
check(len(raws) == 8, f"8 real raws ({len(raws)})")
for f in raws:
    scene = os.path.join(ROOT, f.split(".")[0])
    os.makedirs(os.path.join(scene, "gt"))
    shutil.copyfile(os.path.join(RAW_DIR, f), os.path.join(scene, "gt", f))
    if f == "tinydng__colorchart.dng":
        shutil.copyfile(os.path.join(RAW_DIR, f),
                        os.path.join(scene, "copy-of-" + f))
build = subprocess.run([BINARY, "-q", "-j", "2", "--crops", ROOT],
                       capture_output=True, text=True)
# Exit 1: the Kodak DC50 has no colour matrix, so it has no crops
# (crops_real_raw checks that failure); every other file is cropped.
# No other file may fail (a full disk once failed four of them unnoticed).
error_lines = [l for l in build.stderr.splitlines() if l.strip()]
check(build.returncode == 1 and error_lines and
      all("RAW_KODAK_DC50" in l for l in error_lines),
      f"build exits 1 naming the uncroppable file and no other:\n"
      f"{build.stdout}{build.stderr}")
yaml_path = os.path.join(WORK, "pairs.yaml")
export = subprocess.run([BINARY, "export", "--format", "rawnind-yaml",
                         "--absolute-paths", "-o", yaml_path, ROOT],
                        capture_output=True, text=True)
if export.returncode != 0:
    sys.exit(f"export failed: {export.stderr}")
entries = yaml.safe_load(open(yaml_path))
with_crops = [e for e in entries if e["crops"]]
check(len(entries) == 9 and len(with_crops) == 8,
      f"9 pairs exported, 8 with crops ({len(entries)}, {len(with_crops)})")


def read_tif(path):
    image = oiio.ImageInput.open(path)
    pixels = image.read_image(format="float")  # (h, w, 3)
    image.close()
    return np.asarray(pixels).transpose(2, 0, 1)


def find_window(big, small):
    """(row, col) positions where `small` (c, h, w) is a window of `big`."""
    c, h, w = small.shape
    # Anchor on the crop value rarest in the file, to keep candidates few.
    values, counts = np.unique(big[0], return_counts=True)
    freq = counts[np.clip(np.searchsorted(values, small[0]), 0,
                          len(values) - 1)]
    freq[values[np.clip(np.searchsorted(values, small[0]), 0,
                        len(values) - 1)] != small[0]] = 1 << 62
    a, b = np.unravel_index(np.argmin(freq), freq.shape)
    found = []
    for r, q in zip(*np.nonzero(big[0] == small[0, a, b])):
        r0, q0 = r - a, q - b
        if (0 <= r0 <= big.shape[1] - h and 0 <= q0 <= big.shape[2] - w and
                np.array_equal(big[:, r0:r0 + h, q0:q0 + w], small)):
            found.append((int(r0), int(q0)))
    return found


def check_sample(entry, x, y, label):
    """A self pair's x (GT lin_rec2020) and y (noisy Bayer) drawn together:
    y is a window of one of the pair's .npy crops, x the .tif window at
    twice its position."""
    for crop in entry["crops"]:
        npy = np.load(crop["f_bayer_fpath"]).astype(np.float32)
        at = find_window(npy, y.numpy())
        if not at:
            continue
        tif = read_tif(crop["gt_linrec2020_fpath"])
        r, q = at[0]
        h, w = x.shape[-2:]
        window = tif[:, 2 * r:2 * r + h, 2 * q:2 * q + w]
        check(window.shape == tuple(x.shape) and
              np.array_equal(window, x.numpy()),
              f"{label}: x is the lin_rec2020 window at twice y's position "
              f"{(r, q)} of {os.path.basename(crop['f_bayer_fpath'])}")
        return 1
    check(False, f"{label}: y is a window of none of the pair's .npy crops")
    return 0


# --- RawNIND's training class, on the export unchanged --------------------------
torch.manual_seed(0)
import random  # noqa: E402

random.seed(0)
ds = rawds.CleanProfiledRGBNoisyBayerImageCropsDataset(
    content_fpaths=[yaml_path], num_crops=2, crop_size=256, test_reserve=[],
    bayer_only=True)
check(len(ds) == len(with_crops),
      f"the loader keeps every pair with crops ({len(ds)} of {len(with_crops)})")
loader_entries = list(ds._dataset)
batch = next(iter(DataLoader(ds, batch_size=len(ds), num_workers=0)))
shapes = {k: tuple(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
print("Bayer training batch:", shapes)
n = len(ds)
check(shapes["x_crops"] == (n, 2, 3, 256, 256), "x_crops shape")
check(shapes["y_crops"] == (n, 2, 4, 128, 128), "y_crops shape")
check(shapes["mask_crops"] == (n, 2, 3, 256, 256), "mask_crops shape")
check(batch["x_crops"].dtype == torch.float32, "x float32")
check(batch["y_crops"].dtype == torch.float32, "y float32")
check(batch["mask_crops"].dtype == torch.bool, "mask bool")
check(torch.all(batch["gain"] == 1.0), "self pairs: gain 1")
check(bool(torch.isfinite(batch["x_crops"]).all()), "x finite")
checked = 0
for i, entry in enumerate(loader_entries):
    for k in range(2):
        checked += check_sample(entry, batch["x_crops"][i, k],
                                batch["y_crops"][i, k],
                                f"{os.path.basename(entry['f_fpath'])}[{k}]")
print(f"{checked} training samples located in their crop files")

# --- Validation class: the middle crop, center-cropped ------------------------
val = rawds.CleanProfiledRGBNoisyBayerImageCropsValidationDataset(
    content_fpaths=[yaml_path], crop_size=256,
    test_reserve=sorted({e["image_set"] for e in entries}), bayer_only=True)
check(len(val) == len(with_crops), f"validation keeps {len(val)} pairs")
val_checked = 0
for i in range(len(val)):
    sample = val[i]
    entry = val._dataset[i]
    check(tuple(sample["x_crops"].shape) == (3, 256, 256) and
          tuple(sample["y_crops"].shape) == (4, 128, 128),
          f"validation shapes {tuple(sample['x_crops'].shape)}")
    val_checked += check_sample(entry, sample["x_crops"], sample["y_crops"],
                                f"validation {os.path.basename(entry['f_fpath'])}")
print(f"{val_checked} validation samples located in their crop files")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("OK")
