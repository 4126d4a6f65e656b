"""Two-stage MagicPose training: ``train_appearance.py`` and ``train_pose_control.py`` call :func:`main`."""

from __future__ import annotations

import argparse

from magicpose.errors import ArgumentParser


def build_parser(stage: str | None = None) -> argparse.ArgumentParser:
    what = {"appearance": "stage 1, appearance control pretraining",
            "pose_control": "stage 2, appearance-disentangled pose control"}
    # as `magicpose train` the usage line names the subcommand; the train_*.py scripts keep their own name
    prog = "magicpose train" if stage is None else None
    parser = ArgumentParser(prog=prog,
                                     description=f"MagicPose training ({what.get(stage, 'either stage')}).")
    parser.add_argument("--config", required=True, help="OmegaConf YAML, e.g. configs/tiny_appearance.yaml")
    parser.add_argument("--resume", default=None,
                        help="'latest' (newest complete checkpoint in output_dir, if any) or a checkpoint folder")
    if stage is None:
        parser.add_argument("--stage", required=True, choices=sorted(what))
    parser.add_argument("overrides", nargs="*", help="config overrides as key=value, e.g. train.max_steps=100")
    return parser


def main(argv: list[str] | None = None, stage: str | None = None) -> int:
    args = build_parser(stage).parse_args(argv)
    from magicpose.training.command import run_training

    def load():
        from magicpose.training.config import load_config

        return load_config(args.config, args.overrides, stage=stage or args.stage)

    def start(cfg) -> None:
        from magicpose.training.magicpose_trainer import Trainer, describe

        trainer = Trainer(cfg, resume=args.resume)
        trainer.accelerator.print(describe(trainer))
        trainer.train()

    return run_training(load, start)
