"""``magicpose train-pose2vid``: Everybody Dance Now's global, local or face-enhancer stage (``train_pose2vid.py``
is this command)."""

from __future__ import annotations

import argparse

from magicpose.errors import ArgumentParser

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
    parser = subparsers.add_parser(
        "train-pose2vid",
        help="Everybody Dance Now pose2vid training (see: magicpose train-pose2vid --help)",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from magicpose.commands.training_runs import run_training
    from magicpose.training.pose2vid_config import load_pose2vid_config

    return run_training(
        lambda: load_pose2vid_config(args.config, args.overrides), lambda cfg: _train(cfg, args.resume)
    )


def _train(cfg, resume: str | None) -> None:
    """The stage's trainer: the face stage's, or the body stages'."""
    if cfg.stage == "face":
        from magicpose.training.face_trainer import FaceStageTrainer, describe_face

        trainer = FaceStageTrainer(cfg, resume=resume)
        trainer.accelerator.print(describe_face(trainer))
        trainer.train()
        return
    from magicpose.training.pose2vid_trainer import Pose2VidTrainer, describe

    trainer = Pose2VidTrainer(cfg, resume=resume)
    trainer.accelerator.print(describe(trainer))
    if cfg.train.fix_global_steps and not cfg.model.init_from and trainer.global_step == 0:
        trainer.accelerator.print(
            "warning: train.fix_global_steps without model.init_from holds a "
            "randomly initialised global branch: train the global stage first"
        )
    trainer.train()


def main(argv: list[str] | None = None) -> int:
    """``train_pose2vid.py`` (``torchrun`` and ``accelerate launch`` run it as it is)."""
    parser = ArgumentParser(description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))
