"""``magicpose train-vid2vid``: vid2vid pose2body training (``train_vid2vid.py`` is this command)."""

from __future__ import annotations

import argparse

from magicpose.commands.train_pose2vid import add_arguments as add_gan_arguments
from magicpose.errors import ArgumentParser

DESCRIPTION = "vid2vid pose2body training: the sequential flow-warped generator and its two discriminators."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_gan_arguments(parser, example="configs/tiny_vid2vid.yaml or configs/demo_vid2vid.yaml")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train-vid2vid",
        help="vid2vid pose2body training (see: magicpose train-vid2vid --help)",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from magicpose.commands.training_runs import run_training
    from magicpose.training.vid2vid_config import load_vid2vid_config

    def start(cfg) -> None:
        from magicpose.training.vid2vid_trainer import Vid2VidTrainer, describe

        trainer = Vid2VidTrainer(cfg, resume=args.resume)
        trainer.accelerator.print(describe(trainer))
        trainer.train()

    return run_training(lambda: load_vid2vid_config(args.config, args.overrides), start)


def main(argv: list[str] | None = None) -> int:
    """``train_vid2vid.py`` (``torchrun`` and ``accelerate launch`` run it as it is)."""
    parser = ArgumentParser(description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))
