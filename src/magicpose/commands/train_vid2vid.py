"""``magicpose train-vid2vid``: vid2vid pose2body training (``train_vid2vid.py`` is this command)."""

from __future__ import annotations

import argparse

from magicpose.commands.train_pose2vid import add_arguments as add_gan_arguments
from magicpose.commands.training_runs import add_training_parser, script_main

DESCRIPTION = "vid2vid pose2body training: the sequential flow-warped generator and its two discriminators."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_gan_arguments(parser, example="configs/tiny_vid2vid.yaml or configs/demo_vid2vid.yaml")


def add_parser(subparsers) -> argparse.ArgumentParser:
    summary = "vid2vid pose2body training"
    return add_training_parser(subparsers, "train-vid2vid", summary, DESCRIPTION, add_arguments)


def run(args: argparse.Namespace) -> int:
    from magicpose.commands.training_runs import describe_and_train, run_training
    from magicpose.training.vid2vid_config import load_vid2vid_config

    def start(cfg) -> None:
        from magicpose.training.vid2vid_trainer import Vid2VidTrainer, describe

        fixed = "randomly initialised coarser scales: train the coarser resolution first"
        describe_and_train(Vid2VidTrainer(cfg, resume=args.resume), describe, fixed)

    return run_training(lambda: load_vid2vid_config(args.config, args.overrides), start)


def main(argv: list[str] | None = None) -> int:
    """``train_vid2vid.py`` (``torchrun`` and ``accelerate launch`` run it as it is)."""
    return script_main(DESCRIPTION, add_arguments, run, argv)
