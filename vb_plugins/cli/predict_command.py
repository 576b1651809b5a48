"""`vb predict TASK IMAGE... -o DIR`: generate, decode and save, resumably."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from vb_plugins import io as vb_io
from vb_plugins.cli import reasoning_options
from vb_plugins.cli.command import Command
from vb_plugins.cli.decode_extras import parse_preview_range
from vb_plugins.cli.options import add_run_options, add_task_options, run_settings, task_options
from vb_plugins.cli.predict_outputs import (
    OutputLock,
    clear_staging,
    commit,
    existing_outputs,
    read_records,
    recorded_outputs,
    refuse_other_settings,
    staging_folder,
)
from vb_plugins.cli.predict_ray import add_ray_options, run_predict_on_ray, wants_ray
from vb_plugins.errors import InputError
from vb_plugins.generation.bundled import BUNDLED_NAMES
from vb_plugins.hookspecs import hookimpl
from vb_plugins.predict import Predictor
from vb_plugins.previews import preview_for
from vb_plugins.settings import SETTINGS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict a task on images with a generator and save visualizations and values",
        description="Per image STEM writes: STEM.generated.png (the generator's painting), STEM.TASK.npy "
                    "(decoded values) and STEM.TASK.png (viewable, the image's size), STEM.preview.png (readable: "
                    "depth with a colour bar in metres, labels with a legend of class names, normals with a key), "
                    "STEM.referring-1.png, -2.png, ... (one 0/255 mask per object when a prompt names several), "
                    "STEM.confidence.npy (reliability, 0..1), STEM.expected_error.npy (depth: metres, normals: "
                    "degrees), STEM.uncertainty.npy "
                    "(with --ensemble > 1) and STEM.json (settings; written last). Images whose STEM.json "
                    "exists are skipped unless --overwrite, provided the folder's results were made with the same "
                    "settings (else the run is refused). One run at a time writes to a folder.",
    )
    parser.add_argument("task")
    parser.add_argument("images", nargs="+", help="image files or directories of images (with --ray also globs, "
                                                  "text files of paths, and URIs such as s3://bucket/folder)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory (created)")
    add_run_options(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="redo this run's images even if they have results (made with any settings)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no notes about the model (errors and skips still print)")
    add_task_options(parser)
    group = parser.add_argument_group("prompt and preview")
    group.add_argument("--prompt", help="paint with this prompt instead of the task's own; the legend (classes and "
                                        "colours, background, referring objects, depth scheme) is read from it, "
                                        "instead of --classes/--expression/--colour/--background/--scheme")
    group.add_argument("--no-preview", dest="preview", action="store_false",
                       help="do not write STEM.preview.png (saves a fraction of a second per image)")
    group.add_argument("--preview-range", metavar="NEAR,FAR",
                       help="fixed depth range of the previews in metres, the same for every image (default: each "
                            "image's 2nd-98th percentile)")
    reasoning_options.add_query_option(parser)
    add_ray_options(parser)
    parser.set_defaults(handler=run_predict)


def expand_images(paths: list[Path]) -> list[Path]:
    """Files as given, directories expanded to their images (sorted); missing paths are an error."""
    images: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"{path}: directory holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            images += found
        elif path.is_file():
            images.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return images


def refuse_inputs_in_output(paths: list[Path], output: Path) -> None:
    """Inputs may not sit in the output folder: a rerun would read the outputs back as inputs. (A folder
    below an input folder is fine: directories are not searched recursively.)"""
    folder = output.resolve()
    for path in paths:
        if path.is_dir() and path.resolve() == folder:
            raise InputError(f"-o {output}: is also an input folder, so a rerun would read the outputs back as "
                             f"inputs; write to another folder (e.g. -o {output / 'vb'})")
        if path.is_file() and path.resolve().parent == folder:
            raise InputError(f"{path}: is in the output folder {output}, so a rerun would read the outputs back "
                             f"as inputs; write to another folder (e.g. -o {output / 'vb'})")


def output_stems(images: list[Path]) -> list[tuple[Path, str]]:
    """(image, output name) pairs: each file once, named by its stem, disambiguated by its parent folders
    when stems repeat across folders. Inputs that would still share a name (``x.jpg`` and ``x.png`` in one
    folder) are refused: they would silently leave one result set for several images."""
    unique, seen = [], set()
    for image in images:  # a file named twice (itself and through its folder) is one input
        if image.resolve() not in seen:
            seen.add(image.resolve())
            unique.append(image)
    stems = [p.stem for p in unique]
    named = []
    for image, stem in zip(unique, stems):
        if stems.count(stem) > 1:
            stem = "_".join(image.resolve().parts[-3:-1] + (image.stem,))
        named.append((image, stem))
    sharing: dict[str, list[tuple[Path, str]]] = {}
    for image, stem in named:  # case-blind, as macOS and Windows folders are
        sharing.setdefault(stem.casefold(), []).append((image, stem))
    for group in sharing.values():
        if len(group) > 1:
            shown = ", ".join(str(p) for p, _ in group[:4]) + (f" and {len(group) - 4} more" if len(group) > 4 else "")
            raise InputError(f"inputs {shown} would all be saved as {group[0][1]}.*; rename them or predict them "
                             "into separate folders")
    return named


def object_masks_of(task, spec) -> list:
    """The referred objects that get a mask file each (several objects named by one prompt), else none."""
    return list(spec.classes) if task.name == "referring" and spec is not None and spec.classes else []


def local_path(value: str | None) -> str | None:
    """A model or LoRA string that names an existing file or folder, made absolute so that records name it
    the same whichever folder a rerun starts from; other strings (Hub ids, ``backend:model``) as given."""
    if not value or value in BUNDLED_NAMES:
        return value
    path = Path(value).expanduser()
    return str(path.resolve()) if path.exists() else value


def run_predict(args) -> int:
    if wants_ray(args):
        return run_predict_on_ray(args)
    reasoning_options.apply_query(args)
    # Every check that needs no model comes first, then the model loads, and only then is anything written.
    # The model's profile may decode the task asked for with another task (Open Vision Banana's depth is
    # relative depth): the files are named after the task that decoded them.
    preview_range = parse_preview_range(args.preview_range)
    if preview_range is not None and not args.preview:
        raise InputError("--preview-range: not with --no-preview")
    options = task_options(args)
    prompt = options.pop("prompt", None)  # painted as given (Predictor's prompt), not only read for the legend
    unknown = sorted(set(options) & set(SETTINGS))
    if unknown:
        option = SETTINGS[unknown[0]].option or unknown[0]
        raise InputError(f"--set {unknown[0]}: is a run setting, not a task option; use {option}")
    predictor = Predictor(args.task, settings=run_settings(args, local_path), prompt=prompt, **options)
    task, spec = predictor.task, predictor.spec
    unguided = predictor
    images = [Path(image) for image in args.images]  # strings: with --ray, URIs stay as given
    refuse_inputs_in_output(images, args.output)
    named = output_stems(expand_images(images))
    # A VLM first (--rewriter, --gate) and texts per image (--queries)
    predictor = reasoning_options.guide(predictor, [image for image, _ in named])
    for image, _ in named:  # every input must be a readable image
        vb_io.read_rgb(image)
    if args.output.exists() and not args.output.is_dir():
        raise InputError(f"{args.output}: exists and is not a directory")
    notices = unguided.notices()  # loads the model, and refuses a task it cannot paint
    reasoning_options.load(predictor)
    current = {"task": task.name, "spec": spec.to_dict(), "prompts": predictor.prompts,
               "settings": predictor.describe()}
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{args.output}: cannot create the output folder ({error.strerror or error})") from None
    with OutputLock(args.output, f"vb predict {task.name}"):
        clear_staging(args.output)
        stems = [stem for _, stem in named]
        records = read_records(args.output, stems, args.overwrite)
        if not args.overwrite:
            refuse_other_settings(args.output, records, current)
        todo = [(image, stem) for image, stem in named if args.overwrite or stem not in records]
        skipped = len(named) - len(todo)
        if skipped:
            print(f"skipping {skipped} image(s) already done in {args.output} (use --overwrite to redo)",
                  file=sys.stderr)
        if not todo:
            return 0
        if not args.quiet:
            for notice in notices:
                print(f"vb predict: note: {notice}", file=sys.stderr)
        stale = existing_outputs(args.output, [stem for _, stem in todo])
        progress_bar = None
        if not args.quiet:
            from tqdm import tqdm

            progress_bar = tqdm(total=len(todo), unit="image", desc=f"vb predict {task.name}", file=sys.stderr)
        stem_of = dict((str(image), stem) for image, stem in todo)
        failures = []  # images whose VLM question failed: the others are still written
        on_error = reasoning_options.failure_options(predictor, f"vb predict {task.name}", failures)
        try:
            for prediction in predictor.predict_iter([image for image, _ in todo], keys=[str(i) for i, _ in todo],
                                                     **on_error):
                stem = stem_of[prediction.key]
                reasoning_options.report(prediction, prediction.key)
                save_prediction(prediction, args.output, stem, task, vb_io.write_npy, vb_io.write_png,
                                vb_io.write_text, stale[stem], preview=args.preview, preview_range=preview_range)
                if progress_bar:
                    progress_bar.update(1)
        finally:
            if progress_bar:
                progress_bar.close()
    return 1 if failures else 0


def save_prediction(prediction, directory: Path, stem: str, task, write_npy, write_png, write_text,
                    stale=(), preview: bool = True, preview_range: tuple[float, float] | None = None) -> None:
    """Write one prediction's result set: staged, then moved into place with the JSON record last, so a
    record means 'complete'. Files of an earlier set (``stale``, and those its record lists) that this one
    lacks are removed. ``preview``: also write STEM.preview.png (:func:`vb_plugins.previews.preview_for`,
    the picture ``vb decode --preview`` writes; depth on ``preview_range`` metres when given)."""
    directory = Path(directory)
    stale = set(stale) | set(recorded_outputs(directory, stem))
    with staging_folder(directory) as stage:
        names = []

        def put(writer, name, value):
            writer(stage / name, value)
            names.append(name)

        for k, visualization in enumerate(prediction.visualizations):
            put(write_png, f"{stem}.generated{'' if k == 0 else f'-{k}'}.png", visualization)
        values = np.asarray(prediction.values)
        put(write_npy, f"{stem}.{task.name}.npy", values.astype(np.float32) if values.dtype.kind == "f" else values)
        put(write_png, f"{stem}.{task.name}.png", prediction.preview())
        objects = {}
        for k, (name, _) in enumerate(object_masks_of(task, prediction.spec), start=1):  # as `vb decode` writes them
            put(write_png, f"{stem}.{task.name}-{k}.png", ((values == k) * 255).astype(np.uint8))
            objects[f"{stem}.{task.name}-{k}.png"] = name
        if preview:
            put(write_png, f"{stem}.preview.png", preview_for(task, prediction, prediction.spec, preview_range).pixels)
        put(write_npy, f"{stem}.confidence.npy", prediction.confidence.astype(np.float32))
        if prediction.uncertainty is not None:
            put(write_npy, f"{stem}.uncertainty.npy", prediction.uncertainty.astype(np.float32))
        if prediction.expected_error is not None:
            put(write_npy, f"{stem}.expected_error.npy", prediction.expected_error.astype(np.float32))
        record = prediction.record()
        record["extras"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in prediction.extras.items()}
        if objects:
            record["objects"] = objects  # which mask file holds which referred object
        record["outputs"] = sorted(names + [f"{stem}.json"])
        put(write_text, f"{stem}.json", json.dumps(record, indent=2, sort_keys=True))
        commit(directory, stage, stem, names, stale)


@hookimpl
def vb_commands():
    return [Command("predict", register)]
