"""``magicpose train``: MagicPose's two training stages (``train_appearance.py`` and ``train_pose_control.py``
are this command with the stage set)."""

from __future__ import annotations

import argparse

from magicpose.errors import ArgumentParser

STAGES = {
    "appearance": "stage 1, appearance control pretraining",
    "pose_control": "stage 2, appearance-disentangled pose control",
}
HELP = "two-stage MagicPose training (see: magicpose train --help)"


def add_arguments(parser: argparse.ArgumentParser, stage: str | None = None) -> None:
    """The training flags; ``--stage`` only where the stage is not set by the script."""
    parser.add_argument("--config", required=True, help="OmegaConf YAML, e.g. configs/tiny_appearance.yaml")
    parser.add_argument(
        "--resume",
        default=None,
        help="'latest' (newest complete checkpoint in output_dir, if any) or a checkpoint folder",
    )
    if stage is None:
        parser.add_argument("--stage", required=True, choices=sorted(STAGES))
    else:
        parser.set_defaults(stage=stage)
    parser.add_argument(
        "overrides", nargs="*", help="config overrides as key=value, e.g. train.max_steps=100"
    )


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("train", help=HELP, description="MagicPose training (either stage).")
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from magicpose.commands.training_runs import run_training

    def load():
        from magicpose.training.config import load_config

        return load_config(args.config, args.overrides, stage=args.stage)

    def start(cfg) -> None:
        from magicpose.training.magicpose_trainer import MagicPoseTrainer, describe

        trainer = MagicPoseTrainer(cfg, resume=args.resume)
        trainer.accelerator.print(describe(trainer))
        trainer.train()

    return run_training(load, start)


def main(argv: list[str] | None = None, stage: str | None = None) -> int:
    """The ``train_<stage>.py`` scripts (``torchrun`` and ``accelerate launch`` run them as they are)."""
    parser = ArgumentParser(description=f"MagicPose training ({STAGES.get(stage, 'either stage')}).")
    add_arguments(parser, stage)
    return run(parser.parse_args(argv))
