"""`vb predict TASK IMAGE... -o DIR`: generate, decode and save, resumably."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from vb_plugins.cli.options import add_task_options, task_and_spec
from vb_plugins.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict a task on images with a generator and save visualizations and values",
        description="Per image STEM writes: STEM.generated.png (the generator's painting), STEM.TASK.npy "
                    "(decoded values) and STEM.TASK.png (viewable), STEM.confidence.npy, STEM.uncertainty.npy "
                    "(with --ensemble > 1) and STEM.json (settings; written last). Images whose STEM.json "
                    "exists are skipped unless --overwrite.",
    )
    parser.add_argument("task")
    parser.add_argument("images", nargs="+", type=Path, help="image files or directories of images")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory (created)")
    parser.add_argument("--model", default=None,
                        help="local pipeline directory, Hub id, or backend:model (default: the bundled model)")
    parser.add_argument("--lora", help="LoRA weights (.safetensors file or directory) for diffusers models")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model family's)")
    parser.add_argument("--guidance", type=float, help="guidance scale (default: the model family's)")
    parser.add_argument("--megapixels", type=float, help="generation size (default: the model's native size)")
    parser.add_argument("--ensemble", type=int, default=1, help="samples per image, combined (default 1)")
    parser.add_argument("--batch-size", type=int, default=4, help="largest batch (halved on out-of-memory)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    parser.add_argument("--dtype", help="float32, bfloat16, float16 (default: per device)")
    parser.add_argument("--dialect", help="prompt dialect (default: the model's)")
    parser.add_argument("--overwrite", action="store_true", help="redo images that already have results")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_task_options(parser)
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


def output_stems(images: list[Path]) -> list[str]:
    """A distinct output name per image: its stem, disambiguated by parent folders when stems repeat."""
    stems = [p.stem for p in images]
    for i, image in enumerate(images):
        if stems.count(image.stem) > 1:
            stems[i] = "_".join(image.resolve().parts[-3:-1] + (image.stem,))
    return stems


def run_predict(args) -> int:
    from vb_plugins.io import read_rgb, write_npy, write_png, write_text
    from vb_plugins.predict import Predictor

    task, spec = task_and_spec(args)
    images = expand_images(args.images)
    for image in images:  # fail before any work: every input must be a readable image
        read_rgb(image)
    if args.output.exists() and not args.output.is_dir():
        raise InputError(f"{args.output}: exists and is not a directory")
    args.output.mkdir(parents=True, exist_ok=True)
    stems = output_stems(images)
    if not args.overwrite:
        refuse_other_task(args.output, stems, task.name)
    todo = [(image, stem) for image, stem in zip(images, stems)
            if args.overwrite or not (args.output / f"{stem}.json").exists()]
    skipped = len(images) - len(todo)
    if skipped:
        print(f"skipping {skipped} image(s) already done in {args.output} (use --overwrite to redo)", file=sys.stderr)
    if not todo:
        return 0
    predictor = Predictor(task, args.model, spec=spec, dialect=args.dialect, steps=args.steps,
                          guidance=args.guidance, megapixels=args.megapixels, ensemble=args.ensemble,
                          batch_size=args.batch_size, seed=args.seed, device=args.device, dtype=args.dtype,
                          lora=args.lora)
    predictor.generator  # load (and fail on a bad model or a missing key) before any progress is drawn
    progress_bar = None
    if not args.quiet:
        from tqdm import tqdm

        progress_bar = tqdm(total=len(todo), unit="image", desc=f"vb predict {task.name}", file=sys.stderr)
    stem_of = dict((str(image), stem) for image, stem in todo)
    try:
        for prediction in predictor.predict_iter([image for image, _ in todo], keys=[str(i) for i, _ in todo]):
            save_prediction(prediction, args.output, stem_of[prediction.key], task, write_npy, write_png, write_text)
            if progress_bar:
                progress_bar.update(1)
    finally:
        if progress_bar:
            progress_bar.close()
    return 0


def refuse_other_task(directory: Path, stems: list[str], task_name: str) -> None:
    """A finished STEM.json of another task means the files would collide: refuse, don't skip."""
    for stem in stems:
        record = directory / f"{stem}.json"
        if not record.is_file():
            continue
        try:
            done = json.loads(record.read_text()).get("task")
        except (ValueError, AttributeError):
            raise InputError(f"{record}: exists but is not a vb predict record (use another -o or --overwrite)") from None
        if done != task_name:
            raise InputError(f"{directory}: already holds {done!r} predictions ({record.name}); "
                             f"write {task_name!r} to another directory, or pass --overwrite")


def save_prediction(prediction, directory: Path, stem: str, task, write_npy, write_png, write_text) -> None:
    """Write one prediction's files; the JSON record goes last so its presence means 'complete'."""
    for k, visualization in enumerate(prediction.visualizations):
        suffix = "" if k == 0 else f"-{k}"
        write_png(directory / f"{stem}.generated{suffix}.png", visualization)
    values = np.asarray(prediction.values)
    write_npy(directory / f"{stem}.{task.name}.npy", values.astype(np.float32) if values.dtype.kind == "f" else values)
    write_png(directory / f"{stem}.{task.name}.png", prediction.preview())
    write_npy(directory / f"{stem}.confidence.npy", prediction.confidence.astype(np.float32))
    if prediction.uncertainty is not None:
        write_npy(directory / f"{stem}.uncertainty.npy", prediction.uncertainty.astype(np.float32))
    record = prediction.record()
    record["extras"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in prediction.extras.items()}
    write_text(directory / f"{stem}.json", json.dumps(record, indent=2, sort_keys=True))
