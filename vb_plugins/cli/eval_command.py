"""`vb eval TASK --pred DIR --gt DIR`: score predictions against ground truth with a published protocol."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from vb_plugins.cli.command import Command
from vb_plugins.cli.predict_ray import check_address
from vb_plugins.distributed.options import RayOptions
from vb_plugins.errors import InputError
from vb_plugins.evaluation.conventions import EvalWarning
from vb_plugins.evaluation.depth import ALIGNMENTS, PRED_KINDS
from vb_plugins.evaluation.plots import PLOT_SUFFIXES, plot_report
from vb_plugins.evaluation.protocols import CROPS, DATASETS_BY_TASK
from vb_plugins.evaluation.report import format_table, write_report
from vb_plugins.hookspecs import hookimpl

DESCRIPTION = """\
Pairs each prediction with its ground truth by file stem and prints a table of the task's metrics.

Predictions: STEM.TASK.npy as `vb predict` writes them (STEM.json beside it is read for the normal
convention and the class list), or any STEM.npy / STEM.png in the directory.
Ground truth (searched recursively by stem; --gt-pattern '{key}_gt.png' to name files otherwise, {key}
being the stem after --strip-prefix / --strip-suffix; wildcards allowed. NYUv2's rgb_00000.jpg with
sync_depth_00000.png: --strip-prefix rgb_ --gt-pattern 'sync_depth_{key}.png'):
  depth      STEM.npy in metres (H x W or H x W x 1), or a 16-bit STEM.png with --depth-scale units per
             metre (0 = no measurement); optional validity mask STEM.mask.png (DIODE: STEM_depth_mask.npy)
  normals    STEM.npy, H x W x 3 in --gt-convention; zero vectors = no measurement; optional STEM.mask.png
  semantic   label PNG (or .npy): class i stored as --gt-first-label + i, --ignore-index left out
             (Cityscapes: STEM_gtFine_labelTrainIds.png, 0..18 and 255)
  referring  mask PNG (or .npy), nonzero = the referred object
  instance   instance-id PNG (8 or 16 bit, or .npy), 0 = background; --gt may be repeated for alternative
             annotations (SA-Co/Gold oracle)
  matting    alpha PNG (8 or 16 bit) or .npy (0..1); optional STEM.mask.png: the pixels scored (e.g. a
             trimap's unknown band); SAD and gradient and connectivity in thousands, MSE as is
`vb eval depth` also scores STEM.relative-depth.npy (vb predict relative-depth): it needs --align, and the
record's encodes option sets --pred-kind (inverse -> disparity).
An image with no valid ground-truth pixel is skipped and counted in the report; a prediction without
ground truth is an error unless --skip-missing.
"""


def register(subparsers) -> None:
    datasets = sorted({name for names in DATASETS_BY_TASK.values() for name in names})
    parser = subparsers.add_parser("eval", help="score predictions against ground truth (paper protocols)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="depth, normals, semantic, referring, instance or matting")
    parser.add_argument("--pred", type=Path, required=True, help="directory of predictions")
    parser.add_argument("--gt", type=Path, action="append", required=True,
                        help="directory of ground truth (repeat for instance: alternative annotations)")
    parser.add_argument("--dataset", default="none", metavar="NAME",
                        help=f"protocol preset: {', '.join(datasets)} (default none)")
    parser.add_argument("-o", "--output", type=Path, help="write the JSON report here")
    parser.add_argument("--plot", type=Path, help="write a plot here (.png, .pdf, .svg)")
    parser.add_argument("--per-image", action="store_true", help="also print one line per image")
    parser.add_argument("--overwrite", action="store_true", help="replace existing report / plot files")
    parser.add_argument("--skip-missing", action="store_true",
                        help="evaluate the predictions that have ground truth, list the others in the report")
    parser.add_argument("--resize", action="store_true",
                        help="resize predictions to the ground truth's size (default: a size mismatch is an error)")
    parser.add_argument("--gt-pattern", action="append", metavar="PATTERN",
                        help="ground-truth file name, {key} = prediction stem after stripping; * ? [..] wildcards "
                             "must match one file (repeatable, first found wins)")
    parser.add_argument("--mask-pattern", action="append", metavar="PATTERN",
                        help="validity-mask file name for depth / normals, {key} as in --gt-pattern")
    parser.add_argument("--strip-prefix", action="append", metavar="PREFIX",
                        help="remove PREFIX from prediction stems before looking up ground truth (e.g. rgb_)")
    parser.add_argument("--strip-suffix", action="append", metavar="SUFFIX",
                        help="remove SUFFIX from prediction stems before looking up ground truth")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="score images in parallel on Ray (same numbers): bare for a local Ray, 'auto' or "
                             "ray://HOST:PORT for a cluster (default RAY_ADDRESS)")
    parser.add_argument("--workers", type=int, help="with --ray: scoring actors (default: one per CPU)")

    depth = parser.add_argument_group("depth")
    depth.add_argument("--align", default="none", choices=list(ALIGNMENTS),
                       help="per-image alignment (default none: metric, as Vision Banana)")
    depth.add_argument("--pred-kind", default="depth", choices=list(PRED_KINDS),
                       help="predictions hold depth (default) or inverse depth")
    depth.add_argument("--min-depth", type=float, help="override the preset's lower bound (m)")
    depth.add_argument("--max-depth", type=float, help="override the preset's cap (m)")
    depth.add_argument("--crop", choices=list(CROPS), help="override the preset's crop")
    depth.add_argument("--depth-scale", type=float, help="ground-truth PNG units per metre (nyu 1000, kitti 256)")
    depth.add_argument("--pred-depth-scale", type=float, help="prediction PNG units per metre (default: --depth-scale)")

    normals = parser.add_argument_group("normals")
    normals.add_argument("--gt-convention", default="camera",
                         help="ground-truth normal convention: camera/opengl/marigold, opencv/omnidata, lub")
    normals.add_argument("--pred-convention",
                         help="prediction convention (default: the prediction record's, else camera)")

    segmentation = parser.add_argument_group("segmentation")
    segmentation.add_argument("--classes", help='semantic class list in label order: JSON mapping or list, or "a,b"')
    segmentation.add_argument("--ignore-index", help="ground-truth value left out, or 'none' "
                                                     "(semantic default 255; referring default none)")
    segmentation.add_argument("--gt-first-label", type=int, help="ground-truth value of the first class (default 0)")
    segmentation.add_argument("--pred-first-label", type=int,
                              help="prediction value of the first class (default 1: vb predict's labels, 0 = "
                                   "unlabeled; files without a vb predict record get a warning if 0 is frequent)")
    parser.set_defaults(handler=run_eval)


def _ignore_index(text, default):
    if text is None:
        return default
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(f"--ignore-index {text!r}: expected an integer or 'none'") from None


def _check_output(path: Path | None, suffixes, overwrite: bool, what: str) -> None:
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: {what} is written as {' or '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.is_dir():
        raise InputError(f"{path}: directory {path.parent} does not exist")


def run_eval(args) -> int:
    # The metrics load when the command runs: 20 ms of every `vb` start-up otherwise.
    from vb_plugins.evaluation.directory import evaluate_directory
    from vb_plugins.evaluation.runner import DEFAULT, EvalSettings

    if args.ray:
        check_address(args.ray)
    if args.workers is not None and (args.ray is None or args.workers < 1):
        raise InputError(f"--workers {args.workers}: " + ("needs --ray" if args.ray is None else "must be at least 1"))
    _check_output(args.output, (".json",), args.overwrite, "the report")
    _check_output(args.plot, PLOT_SUFFIXES, args.overwrite, "the plot")
    if args.output is not None and args.plot is not None and args.output.resolve() == args.plot.resolve():
        raise InputError("--output and --plot name the same file")
    settings = EvalSettings(
        dataset=args.dataset, alignment=args.align, pred_kind=args.pred_kind, min_depth=args.min_depth,
        max_depth=args.max_depth, crop=args.crop, depth_scale=args.depth_scale,
        pred_depth_scale=args.pred_depth_scale, gt_convention=args.gt_convention,
        pred_convention=args.pred_convention, classes=args.classes,
        ignore_index=_ignore_index(args.ignore_index, DEFAULT),
        gt_first_label=args.gt_first_label, pred_first_label=args.pred_first_label,
        gt_patterns=tuple(args.gt_pattern) if args.gt_pattern else None,
        mask_patterns=tuple(args.mask_pattern) if args.mask_pattern else None,
        strip_suffixes=tuple(args.strip_suffix) if args.strip_suffix else None,
        strip_prefixes=tuple(args.strip_prefix) if args.strip_prefix else None,
        resize=args.resize, skip_missing=args.skip_missing,
    )
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm  # 35 ms of start-up: only when a terminal shows the bar

        bar = tqdm(unit="image", desc=f"vb eval {args.task}", file=sys.stderr)

    def progress(done, total):
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)
    try:
        with warnings.catch_warnings():  # printed below as one line each, from the report
            warnings.simplefilter("ignore", EvalWarning)
            report = evaluate_directory(args.task, args.pred, args.gt, settings, progress=progress,
                                        ray=None if args.ray is None else RayOptions(args.ray, args.workers))
    finally:
        if bar is not None:
            bar.close()
    for warning in report.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    print(format_table(report))
    if args.per_image:
        _print_per_image(report)
    if report.get("missing_ground_truth"):
        print(f"warning: {len(report['missing_ground_truth'])} prediction(s) had no ground truth and were not "
              "evaluated (listed in the report)", file=sys.stderr)
    if args.output is not None:
        write_report(args.output, report, overwrite=args.overwrite)
    if args.plot is not None:
        plot_report(report, args.plot, overwrite=args.overwrite)
    return 0


def _print_per_image(report: dict) -> None:
    skip = {"key", "prediction", "ground_truth", "matched_iou", "pred_convention"}
    print("")
    for record in report["per_image"]:
        values = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in record.items() if k not in skip)
        print(f"{record['key']}\t{values}")


@hookimpl
def vb_commands():
    return [Command("eval", register)]
