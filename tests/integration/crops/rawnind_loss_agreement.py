#!/usr/bin/python3
"""The exported best_alignment_loss against RawNIND's own computation.

Generates Bayer pairs in all four phases, from procedural content (random
gains 0.5-2, noise up to SNR 2.5, clipped highlights, moved objects) and
from real photographs (python3-skimage's data folder, daylight and warm
light one stop over, whose red clips over wide areas), builds them WITHOUT
--crops (the figure is the scene build's own), exports rawnind-yaml, and
for every pair recomputes RawNIND's figure with the snapshot's own code
(raw.demosaic of RawNIND's frame, rawproc.match_gain, shift_images, np_l1
at the exported shift). Prints each ratio and their distribution; every
pair must agree within 5 % (a self pair, 0 for RawNIND, must be 0).

Exit 77 (meson: skipped) with the reason when Python 3.11 with torch,
skimage's photographs, or the snapshot, is absent.

Usage: rawnind_loss_agreement.py DATASET_BUILD_BINARY RAWNIND_SNAPSHOT_DIR
           [SEED...]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawnind_snapshot  # noqa: E402
from rawnind_snapshot import rawnind_frame, skip  # noqa: E402

if len(sys.argv) < 3:
    sys.exit(__doc__)
BINARY, SNAPSHOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SEEDS = [int(s) for s in sys.argv[3:]] or [21]
# Frame size: the suite's default; larger by hand (e.g. 4000x3000, where a
# frame has more than 512 cells and is sampled at exactly 1/8).
SIZE = os.environ.get("DSB_AGREEMENT_SIZE", "1600x1200")
WORK = rawnind_snapshot.work_dir("dsb-rawnind-loss-")
os.chdir(WORK)
rawds, raw, rawproc = rawnind_snapshot.load(SNAPSHOT)
import numpy as np  # noqa: E402
import yaml  # noqa: E402

try:
    import skimage.data
    PHOTOS_DIR = os.path.dirname(skimage.data.__file__)
except ImportError:
    skip("python3-skimage (real photographs) is not installed")
# Photographs with colour; the reserved ones are never used.
PHOTOS = ["motorcycle_left.png", "rocket.jpg", "retina.jpg", "ihc.png"]
for p in PHOTOS:
    if not os.path.isfile(os.path.join(PHOTOS_DIR, p)):
        skip(f"{p} is not in {PHOTOS_DIR}")


def run(*args):
    return rawnind_snapshot.run_tool(BINARY, *args)


# name -> synth arguments
datasets = {}
for seed in SEEDS:
    datasets[f"procedural-{seed}"] = [
        "--scenes", "4", "--noisy", "3", "--size", SIZE, "--cfa",
        "mixed", "--seed", str(seed)]
    for i, photo in enumerate(PHOTOS):
        cfa = ["rggb", "bggr", "grbg", "gbrg"][(i + seed) % 4]
        light = ["--light", "warm", "--exposure", "1"] if (i + seed) % 2 else []
        datasets[f"{photo.split('.')[0]}-{seed}"] = [
            "--scenes", "1", "--noisy", "3", "--size", SIZE, "--cfa",
            cfa, "--seed", str(seed), "--content",
            os.path.join(PHOTOS_DIR, photo), *light]

ratios = []
failures = []
kinds = {"moved object": 0, "clipped GT": 0, "gain < 0.8 or > 1.25": 0,
         "odd shift": 0, "photograph": 0}
for name, args in datasets.items():
    root = os.path.join(WORK, name)
    run("synth", root, *args)
    run("-q", "-j", "2", root)
    yaml_path = os.path.join(WORK, name + ".yaml")
    run("export", "--format", "rawnind-yaml", "--absolute-paths", "-o",
        yaml_path, root)
    truth = json.load(open(os.path.join(root, "truth.json")))
    entries = [e for e in yaml.safe_load(open(yaml_path)) if e["is_bayer"]]
    scenes = {s["scene"]: s for s in truth["scenes"]}
    gts = {}
    for e in entries:
        rel_f = os.path.relpath(e["f_fpath"], root)
        rel_gt = os.path.relpath(e["gt_fpath"], root)
        scene = scenes[os.path.dirname(os.path.dirname(rel_gt))]
        meta = {"bayer_pattern": "RGGB"}
        if rel_gt not in gts:
            gts.clear()
            gts[rel_gt] = raw.demosaic(rawnind_frame(e["gt_fpath"], scene), meta)
        gt_rgb = gts[rel_gt]
        f_rgb = raw.demosaic(rawnind_frame(e["f_fpath"], scene), meta)
        theirs = float(rawproc.np_l1(*rawproc.shift_images(
            gt_rgb, rawproc.match_gain(gt_rgb, f_rgb), e["best_alignment"])))
        ours = float(e["best_alignment_loss"])
        label = f"{name} {os.path.basename(rel_f)} {e['best_alignment']}"
        if theirs == 0:  # a self pair at (0, 0)
            print(f"{label}: RawNIND 0, ours {ours:.6f}")
            if ours != 0:
                failures.append(f"{label}: not 0")
            continue
        ratio = ours / theirs
        ratios.append(ratio)
        truth_f = [f for f in truth["files"] if f["path"] == rel_f]
        if truth_f:
            t = truth_f[0]
            kinds["moved object"] += bool(t["moved_object"])
            kinds["gain < 0.8 or > 1.25"] += not 0.8 <= t["gain"] <= 1.25
            kinds["odd shift"] += (t["dy"] % 2 == 1) or (t["dx"] % 2 == 1)
        kinds["clipped GT"] += scene["clipped_fraction"] > 0
        kinds["photograph"] += not name.startswith("procedural")
        print(f"{label}: RawNIND {theirs:.5f}, ours {ours:.5f} ({ratio:.4f}x)")
        if abs(ratio - 1) >= 0.05:
            failures.append(f"{label}: {ratio:.4f}x")

r = np.array(ratios)
print(f"{len(r)} pairs: ratio min {r.min():.4f}, p10 {np.percentile(r, 10):.4f}, "
      f"median {np.median(r):.4f}, p90 {np.percentile(r, 90):.4f}, "
      f"max {r.max():.4f}; |ratio - 1| max {np.abs(r - 1).max():.4f}")
print("pairs with", ", ".join(f"{k}: {v}" for k, v in kinds.items()))
if len(r) < 20:
    failures.append(f"only {len(r)} pairs compared")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
