"""`vb pointcloud DEPTH.npy OUT.ply [--image RGB] [--fov DEG | --intrinsics fx,fy,cx,cy]`.

The point-cloud code is imported when the command runs, not for every `vb` start-up."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from vb_plugins.cli.codec_commands import decode_file
from vb_plugins.cli.command import Command
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl
from vb_plugins.io import load_npy, read_rgb
from vb_plugins.registry import get_task


def register(subparsers) -> None:
    parser = subparsers.add_parser("pointcloud", help="unproject a metric depth map to a coloured point cloud (PLY)")
    parser.add_argument("depth", type=Path, help="depth in metres: .npy (from `vb decode depth` / `vb predict`) "
                                                 "or a depth visualization PNG (decoded first)")
    parser.add_argument("output", type=Path, help="PLY file to write")
    parser.add_argument("--image", type=Path, help="RGB image for point colours (resized to the depth's size)")
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--fov", type=float, help="assumed horizontal field of view in degrees (default 60)")
    camera.add_argument("--intrinsics", help="fx,fy,cx,cy in pixels of the depth map")
    parser.add_argument("--max-depth", type=float, help="leave out points beyond this distance (metres)")
    parser.add_argument("--min-reliability", type=float,
                        help="leave out pixels whose reliability is lower (0..1; the decoding's for a PNG, else "
                             "read from --reliability)")
    parser.add_argument("--reliability", type=Path,
                        help="reliability map (.npy, e.g. STEM.confidence.npy from `vb predict`) for --min-reliability")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(handler=run_pointcloud)


def run_pointcloud(args) -> int:
    from vb_plugins.pointcloud import DEFAULT_FOV_DEGREES, Intrinsics, check_depth, unproject, write_ply
    from vb_plugins.predict import resize_image

    # The inputs first: a missing depth file is the news, whatever is wrong with OUTPUT.
    if not args.depth.is_file():
        raise InputError(f"{args.depth}: no such file")
    if args.image is not None and not args.image.is_file():
        raise InputError(f"{args.image}: no such file")
    if args.max_depth is not None and not (math.isfinite(args.max_depth) and args.max_depth > 0):
        raise InputError(f"--max-depth {args.max_depth}: must be a positive number of metres")
    intrinsics = Intrinsics.parse(args.intrinsics) if args.intrinsics is not None else None
    fov = DEFAULT_FOV_DEGREES if args.fov is None else args.fov
    Intrinsics.check_fov(fov)
    if args.output.suffix.lower() != ".ply":
        raise InputError(f"{args.output}: point clouds are written as .ply")
    if args.output.is_dir():
        raise InputError(f"{args.output}: is a directory; give a file name")
    if args.output.exists() and not args.overwrite:
        raise InputError(f"{args.output}: already exists (pass --overwrite to replace it)")
    minimum = args.min_reliability
    if minimum is not None and not (math.isfinite(minimum) and 0.0 <= minimum <= 1.0):
        raise InputError(f"--min-reliability {minimum}: must be a number from 0 to 1")
    if args.reliability is not None and minimum is None:
        raise InputError("--reliability: give --min-reliability too (the threshold to filter by)")
    reliability = None
    if args.depth.suffix.lower() == ".npy":
        depth = check_depth(load_npy(args.depth), str(args.depth))
        if minimum is not None:
            if args.reliability is None:
                raise InputError("--min-reliability: a .npy depth needs --reliability PATH (its reliability map)")
            reliability = load_npy(args.reliability)
    else:
        decoding = decode_file(get_task("depth"), None, args.depth)  # as `vb decode depth` reads it
        depth = decoding.depth
        if minimum is not None:
            reliability = load_npy(args.reliability) if args.reliability is not None else decoding.reliability
    height, width = depth.shape
    if intrinsics is None:
        intrinsics = Intrinsics.from_fov(height, width, fov)
    colours = None
    if args.image:
        colours = resize_image(read_rgb(args.image, exif_transpose=True), (height, width))
    points, picked = unproject(depth, intrinsics, colours, args.max_depth, reliability,
                               0.0 if minimum is None else minimum)
    if not len(points):
        raise InputError(f"{args.depth}: no valid depth pixels to unproject")
    comments = [f"vb-plugins point cloud from {args.depth.name}", f"camera {intrinsics.describe()}",
                "frame x right, y up, z towards the camera (metres)"]
    write_ply(args.output, points, picked, comments, overwrite=args.overwrite)
    note = "assumed" if intrinsics.assumed else "given"
    print(f"{len(points)} points written to {args.output}; intrinsics {note}: {intrinsics.describe()}",
          file=sys.stderr)
    return 0


@hookimpl
def vb_commands():
    return [Command("pointcloud", register)]
