"""``magicpose train-mraa``: MRAA's two stages, region motion (``--mode train``) and then the AVD network
(``--mode train_avd``); ``train_mraa.py`` is this command."""

from __future__ import annotations

import argparse

from magicpose.commands.train_pose2vid import add_arguments as add_training_arguments
from magicpose.commands.training_runs import add_training_parser, script_main

DESCRIPTION = (
    "MRAA training: region predictor, background predictor and generator (--mode train), then the AVD network "
    "for cross-identity animation (--mode train_avd, on a finished train run: model.init_from=RUN_DIR)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_arguments(parser, example="configs/tiny_mraa.yaml or configs/demo_mraa.yaml")
    parser.add_argument(
        "--mode",
        choices=("train", "train_avd"),
        default=None,
        help="the stage (as the original's --mode); default: the config's stage (train)",
    )


def add_parser(subparsers) -> argparse.ArgumentParser:
    return add_training_parser(subparsers, "train-mraa", "MRAA training", DESCRIPTION, add_arguments)


def run(args: argparse.Namespace) -> int:
    from magicpose.commands.training_runs import describe_and_train, run_training
    from magicpose.training.mraa_config import load_mraa_config

    overrides = [*args.overrides, *([f"stage={args.mode}"] if args.mode else [])]

    def start(cfg) -> None:
        from magicpose.training.mraa_trainer import MRAATrainer, describe

        describe_and_train(MRAATrainer(cfg, resume=args.resume), describe)

    return run_training(lambda: load_mraa_config(args.config, overrides), start)


def main(argv: list[str] | None = None) -> int:
    """``train_mraa.py`` (``torchrun`` and ``accelerate launch`` run it as it is)."""
    return script_main(DESCRIPTION, add_arguments, run, argv)
