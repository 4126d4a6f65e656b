"""``magicpose train-base``: stage 0 of the CPU demo, a small VAE and base UNet standing in for SD 1.5
(``train_base.py`` is this command)."""

from __future__ import annotations

import argparse

from magicpose.commands.training_runs import script_main

DESCRIPTION = "Stage 0 (demo only): train a small VAE and base UNet."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None, help="YAML with BaseConfig fields, e.g. configs/demo_base.yaml"
    )
    parser.add_argument("overrides", nargs="*", help="key=value overrides")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train-base", help="stage 0 of the CPU demo: small VAE and base UNet", description=DESCRIPTION
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from magicpose.commands.training_runs import run_training
    from magicpose.training.demo_stage0 import load_base_config, train_base

    return run_training(
        lambda: load_base_config(args.config, args.overrides), lambda cfg: print(f"wrote {train_base(cfg)}")
    )


def main(argv: list[str] | None = None) -> int:
    """``train_base.py``."""
    return script_main(DESCRIPTION, add_arguments, run, argv)
