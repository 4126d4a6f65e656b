"""``magicpose train-pose2vid``: Everybody Dance Now's global, local or face-enhancer stage (``train_pose2vid.py``
is this command)."""

from __future__ import annotations

import argparse

from magicpose.commands.training_runs import add_training_parser, script_main

DESCRIPTION = "Everybody Dance Now pose2vid training (global, local or face-enhancer stage)."


def add_arguments(
    parser: argparse.ArgumentParser,
    example: str = "configs/pose2vid_global.yaml, pose2vid_local.yaml or pose2vid_face.yaml (stage: face)",
) -> None:
    """The GAN training flags (``train-vid2vid`` shares them): the config, --resume, key=value overrides."""
    parser.add_argument("--config", required=True, help=f"OmegaConf YAML, e.g. {example}")
    parser.add_argument(
        "--resume",
        default=None,
        help="'latest' (newest complete checkpoint in output_dir, if any) or a checkpoint folder",
    )
    parser.add_argument(
        "overrides", nargs="*", help="config overrides as key=value, e.g. train.max_steps=100"
    )


def add_parser(subparsers) -> argparse.ArgumentParser:
    summary = "Everybody Dance Now pose2vid training"
    return add_training_parser(subparsers, "train-pose2vid", summary, DESCRIPTION, add_arguments)


def run(args: argparse.Namespace) -> int:
    from magicpose.commands.training_runs import run_training
    from magicpose.training.pose2vid_config import load_pose2vid_config

    return run_training(
        lambda: load_pose2vid_config(args.config, args.overrides), lambda cfg: _train(cfg, args.resume)
    )


def _train(cfg, resume: str | None) -> None:
    """The stage's trainer: the face stage's, or the body stages'."""
    from magicpose.commands.training_runs import describe_and_train

    if cfg.stage == "face":
        from magicpose.training.face_trainer import FaceStageTrainer, describe_face

        describe_and_train(FaceStageTrainer(cfg, resume=resume), describe_face)
        return
    from magicpose.training.pose2vid_trainer import Pose2VidTrainer, describe

    fixed = "a randomly initialised global branch: train the global stage first"
    describe_and_train(Pose2VidTrainer(cfg, resume=resume), describe, fixed)


def main(argv: list[str] | None = None) -> int:
    """``train_pose2vid.py`` (``torchrun`` and ``accelerate launch`` run it as it is)."""
    return script_main(DESCRIPTION, add_arguments, run, argv)
