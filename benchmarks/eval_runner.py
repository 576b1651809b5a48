"""End-to-end benchmark: predict a folder of images with a generator, then score it with a paper protocol.

    python benchmarks/eval_runner.py depth --images nyu/rgb --gt nyu/depth --work runs/nyu \\
        [--model ID_OR_PATH] [--ensemble 3] [--predict-args="--steps 8"] --dataset nyu --depth-scale 1000

    python benchmarks/eval_runner.py semantic --images cityscapes/leftImg8bit/val --gt cityscapes/gtFine/val \\
        --work runs/cs --classes "$(python -c 'from vb_plugins.evaluation import CITYSCAPES_CLASSES as c; \\
        import json; print(json.dumps({n: "#%02x%02x%02x" % rgb for n, rgb in c}))')" --dataset cityscapes

Runs ``vb predict TASK IMAGES -o WORK/predictions`` (resumable: images already predicted are skipped), then
``vb eval TASK --pred WORK/predictions --gt GT -o WORK/report.json --plot WORK/plot.png`` with every
argument this script does not know passed on to ``vb eval``. The report gains a ``run`` entry: the model,
the prediction command and the seconds spent predicting. ``--classes`` goes to both commands.
FiftyOne datasets are evaluated through :func:`vb_plugins.evaluation.evaluate_pairs` by the FiftyOne plugin.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from vb_plugins.cli import main as vb


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task")
    parser.add_argument("--images", type=Path, required=True, help="folder of input images")
    parser.add_argument("--gt", type=Path, action="append", required=True, help="ground-truth folder")
    parser.add_argument("--work", type=Path, required=True, help="folder for predictions, report and plot")
    parser.add_argument("--model", help="generator (default: the bundled model)")
    parser.add_argument("--ensemble", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", help="class legend, for semantic (passed to predict and eval)")
    parser.add_argument("--predict-args", default="",
                        help='extra `vb predict` arguments as one string: --predict-args="--steps 8"')
    return parser.parse_known_args(argv)


def run(argv=None) -> int:
    args, eval_args = parse(argv)
    predictions = args.work / "predictions"
    args.work.mkdir(parents=True, exist_ok=True)
    predict = ["predict", args.task, str(args.images), "-o", str(predictions), "--ensemble", str(args.ensemble),
               "--seed", str(args.seed), *shlex.split(args.predict_args)]
    if args.model:
        predict += ["--model", args.model]
    if args.classes:
        predict += ["--classes", args.classes]
    start = time.perf_counter()
    code = vb(predict)
    seconds = time.perf_counter() - start
    if code:
        return code
    report_path = args.work / "report.json"
    evaluate = ["eval", args.task, "--pred", str(predictions), "-o", str(report_path),
                "--plot", str(args.work / "plot.png"), "--overwrite"]
    for gt in args.gt:
        evaluate += ["--gt", str(gt)]
    if args.classes:
        evaluate += ["--classes", args.classes]
    code = vb(evaluate + eval_args)
    if code:
        return code
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["run"] = {"model": args.model or "bundled default", "predict_command": "vb " + shlex.join(predict),
                     "predict_seconds": round(seconds, 3), "note": "images predicted earlier were skipped"}
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"report: {report_path}  plot: {args.work / 'plot.png'}  predicting took {seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run())
