"""`vb train CONFIG`: instruction-tune a generator (LoRA) or train a VBNet from scratch.

The training code is imported when a run starts (the config checks alone cost `vb` 18 ms of start-up;
the trainers load torch)."""

from __future__ import annotations

import sys
from pathlib import Path

from vb_plugins.cli.command import Command
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="instruction-tune a generator on encoded vision data (resumes automatically)",
        description="Train from a YAML/JSON config. A run resumes from the newest checkpoint in its output "
                    "directory; checkpoints and the exported model are safetensors.",
    )
    parser.add_argument("config", type=Path, nargs="?", help="YAML or JSON config (see docs)")
    parser.add_argument("--output", dest="output_dir", help="output directory (overrides output_dir)")
    parser.add_argument("--steps", type=int, help="total optimisation steps (overrides steps)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="override any setting, dotted keys for nested ones: --set vbnet.resolution=96")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_train)


def run_train(args) -> int:
    from vb_plugins.training.config import load_config

    overrides: dict = {}
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise InputError(f"--set {setting!r}: expected KEY=VALUE")
        overrides[key.strip()] = value
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    if args.steps:
        overrides["steps"] = args.steps
    config = load_config(args.config, overrides)

    def log(message: str) -> None:  # notes and warnings on stderr; stdout has only the result
        print(message, file=sys.stderr)

    if config.method == "full":
        from vb_plugins.training.vbnet_trainer import train_vbnet

        exported = train_vbnet(config, progress=not args.quiet, log=log)
    else:
        from vb_plugins.training.lora_trainer import train_lora

        exported = train_lora(config, progress=not args.quiet, log=log)
    print(f"model written to {exported}")
    return 0


@hookimpl
def vb_commands():
    return [Command("train", register)]
