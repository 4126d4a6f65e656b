"""The accelerate training loop every method shares: MagicPose's two stages (``magicpose_trainer.py``),
Everybody Dance Now's pose2vid stages (``pose2vid_trainer.py``) and its face stage (``face_trainer.py``),
vid2vid (``vid2vid_trainer.py``) and MRAA's two stages (``mraa_trainer.py``).

A method is a subclass that says what it trains; this class runs it:

* :meth:`build_dataset` (each sample carries its dataset ``index``), :meth:`build_networks` (networks and
  optimizers, ``accelerator.prepare``-d), :meth:`train_step` (one micro-batch in, its loss terms out as
  floats), :meth:`trained_networks`, accelerate's save and load hooks (:meth:`save_networks`,
  :meth:`load_networks`: each trained tensor stored once, in the method's own folders), :meth:`write_final`
  (the exported folders, on the main process) and :meth:`validation_rows` (the preview's rows);
* optionally :meth:`prepare` (what must load before anything is written), :meth:`check_run_needs`,
  :meth:`check_validation_data`,
  :meth:`inputs`, :meth:`checkpoint_state`, :meth:`write_checkpoint_extra`, :meth:`progress_postfix`,
  :meth:`logged` and :attr:`micro_batches_per_step` (gradient accumulation, run by the step itself inside
  ``accelerator.accumulate``).

What the loop owns, the same for every method: data sharded by rank with per-epoch shuffles
(:class:`~magicpose.data.sampler.ShardedSampler`, so N processes with batch b train as 1 process with batch
N*b), the data order a function of the step (exact resume), the run's checks before any work, atomic
checkpoints every ``checkpoint.every_steps`` and at the end, resume (``latest`` or a folder), a run stopped in
one line on every process when a loss stops being a number, weights refused when not finite, the progress
bar, tensorboard logging, validation previews, the per-process record of the samples seen, fault injection
for the crash tests, and the final export.

Runs unchanged under ``python``, ``torchrun --nproc_per_node N`` and ``accelerate launch``. On CPU,
``ACCELERATE_USE_CPU=true`` makes torchrun ranks synchronise over gloo.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import AutocastKwargs, DistributedDataParallelKwargs, ProjectConfiguration, set_seed
from omegaconf import OmegaConf
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from magicpose import files
from magicpose.data.sampler import ShardedSampler
from magicpose.errors import InputError
from magicpose.training import checkpoints


class TrainingLoop:
    """One training run of a method (see the module notes for what a subclass supplies)."""

    tracker_project = "magicpose"  # tensorboard's project name
    dataset_unit = "frames"  # what one dataset sample is, in the too-small-dataset error
    exported: tuple[str, ...] = ("final",)  # the folders :meth:`write_final` writes into output_dir
    # DDP: whether a step may leave some parameters without a gradient (DDP then looks for them every step)
    find_unused_parameters = False

    def __init__(self, cfg, resume: str | None = None) -> None:
        self.cfg = cfg
        self.output_dir = Path(cfg.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=cfg.train.mixed_precision,
            gradient_accumulation_steps=self.micro_batches_per_step,
            # Every weight is used once per forward pass, so autocast's cache of casts saves nothing; it
            # only carries casts from one checkpointed region into another (pytorch/pytorch#193338).
            kwargs_handlers=[
                AutocastKwargs(cache_enabled=False),
                DistributedDataParallelKwargs(find_unused_parameters=self.find_unused_parameters),
            ],
            log_with="tensorboard" if cfg.logging.report_to == "tensorboard" else None,
            project_config=ProjectConfiguration(
                project_dir=str(self.output_dir), logging_dir=str(self.output_dir / "logs")
            ),
        )
        self.dataset = self.build_dataset()
        self.sampler = ShardedSampler(
            len(self.dataset),
            num_replicas=self.accelerator.num_processes,
            rank=self.accelerator.process_index,
            seed=cfg.train.seed,
        )
        self.batches_per_epoch = len(self.sampler) // cfg.train.batch_size
        if self.batches_per_epoch == 0:
            raise InputError(
                f"dataset '{cfg.data.root}' has {len(self.dataset)} {self.dataset_unit}, fewer than "
                f"one batch of {cfg.train.batch_size} per process x {self.accelerator.num_processes} "
                "processes: lower train.batch_size"
            )
        self.prepare()
        self.resume_from = checkpoints.resolve_resume(self.output_dir, resume, stage=self.stage_id)
        self.resume_latest = resume == "latest"
        self.check_run_needs()
        self._build()

    # -- what a method supplies ---------------------------------------------------------------------

    @property
    def stage_name(self) -> str:
        """The run's name in the progress bar (``train <stage_name>``)."""
        raise NotImplementedError

    @property
    def stage_id(self) -> str:
        """The stage as ``trainer_state.json`` records it; resuming another stage's checkpoint is refused."""
        return self.stage_name.replace(" ", "_")

    @property
    def micro_batches_per_step(self) -> int:
        """Batches per optimizer step (gradient accumulation)."""
        return 1

    def build_dataset(self) -> torch.utils.data.Dataset:
        raise NotImplementedError

    def dataset_from_config(self, dataset_class, **options) -> torch.utils.data.Dataset:
        """``dataset_class`` over ``cfg.data``'s root, split and frame size; ``options``: the method's own."""
        data = self.cfg.data
        return dataset_class(data.root, data.split, height=data.height, width=data.width, **options)

    def prepare(self) -> None:
        """Load what the run needs before anything is written (a bad file then leaves no output)."""

    def build_networks(self) -> None:
        """The networks and optimizers, ``accelerator.prepare``-d; called after ``set_seed(train.seed)``."""
        raise NotImplementedError

    def train_step(self, batch: dict) -> dict[str, float]:
        """One micro-batch: forward, backward and (at the end of an accumulation) the optimizer step; returns
        the loss terms of this process's batch."""
        raise NotImplementedError

    def trained_networks(self) -> dict[str, torch.nn.Module]:
        """The networks whose weights are saved, by the name the non-finite-weights error uses."""
        raise NotImplementedError

    def save_networks(self, models: list, weights: list, output_dir: str) -> None:
        """accelerate's save hook: the trained networks into ``output_dir``, each tensor once (clear
        ``weights`` so that accelerate writes no second copy)."""
        raise NotImplementedError

    def load_networks(self, models: list, input_dir: str) -> None:
        """accelerate's load hook, the inverse of :meth:`save_networks` (clear ``models``)."""
        raise NotImplementedError

    def write_final(self) -> None:
        """The exported folders (:attr:`exported`), written atomically; main process only."""
        raise NotImplementedError

    def validation_rows(self) -> list[np.ndarray]:
        """The preview's rows (main process only); the loop saves and logs them."""
        raise NotImplementedError

    def inputs(self) -> list:
        """The folders the run reads its networks from: never replaced by its outputs."""
        return []

    def check_run_needs(self) -> None:
        """Fail now, not after hours of training, on what validation and the outputs will need."""
        cfg = self.cfg
        if cfg.validation.every_steps:
            self.check_validation_data()
        start = checkpoints.read_step(self.resume_from) if self.resume_from is not None else 0
        checkpoints.check_replaceable_outputs(
            self.output_dir,
            list(self.exported),
            start,
            cfg.train.max_steps,
            inputs=[cfg.data.root, *self.inputs()],
        )
        checkpoints.check_output_dir(self.accelerator, self.output_dir)

    def check_validation_data(self) -> None:
        """That the validation split has a video to preview (a TikTok-layout video of 2 frames by default)."""
        checkpoints.validation_videos(self.cfg.data.root, self.cfg.validation.split or self.cfg.data.split)

    def checkpoint_state(self) -> dict:
        """What ``trainer_state.json`` records beside the step."""
        return {"stage": self.stage_id}

    def write_checkpoint_extra(self, folder: Path) -> None:
        """More files in a checkpoint, written by the main process before it is committed."""

    def progress_postfix(self, losses: dict[str, float]) -> dict[str, str]:
        return {name: f"{value:.4f}" for name, value in losses.items()}

    def logged(self, losses: dict[str, float]) -> dict[str, float]:
        """What tensorboard gets at a logged step (``samples_per_s`` is added)."""
        return {f"loss_{name}": value for name, value in losses.items()}

    # -- set-up -------------------------------------------------------------------------------------

    def _build(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        set_seed(cfg.train.seed)  # the networks' initialisation depends on the seed only
        self.build_networks()
        acc.register_save_state_pre_hook(self.save_networks)
        acc.register_load_state_pre_hook(self.load_networks)
        self.global_step = 0
        if self.resume_from is not None:
            checkpoints.load_state(acc, self.resume_from, latest=self.resume_latest)
            self.global_step = checkpoints.read_step(self.resume_from)
            acc.print(f"resumed from {self.resume_from} at step {self.global_step}")
        if acc.is_main_process:
            files.write_text_atomic(
                self.output_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg))
            )
            if cfg.logging.report_to == "tensorboard":
                acc.init_trackers(self.tracker_project, config=flat_config(cfg))

    @property
    def samples_per_step(self) -> int:
        """The global batch: samples per optimizer step over all processes."""
        return self.cfg.train.batch_size * self.micro_batches_per_step * self.accelerator.num_processes

    # -- the loop -----------------------------------------------------------------------------------

    def _loader(self, micro_step: int) -> DataLoader:
        """The data of the epoch that ``micro_step`` falls in, from the batch it falls on."""
        epoch, batch_in_epoch = divmod(micro_step, self.batches_per_epoch)
        if hasattr(self.dataset, "set_epoch"):  # per-epoch randomness of the samples (MagicPose's pairs)
            self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start=batch_in_epoch * self.cfg.train.batch_size)
        return DataLoader(
            self.dataset,
            batch_size=self.cfg.train.batch_size,
            sampler=self.sampler,
            num_workers=self.cfg.data.num_workers,
            drop_last=True,
        )

    def _batches(self, micro_step: int) -> Iterator[dict]:
        """Every micro-batch from ``micro_step`` on, epoch after epoch."""
        while True:
            for batch in self._loader(micro_step):
                yield batch
                micro_step += 1

    def train(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        per_step = self.micro_batches_per_step
        bar = tqdm(
            total=cfg.train.max_steps,
            initial=self.global_step,
            desc=f"train {self.stage_name}",
            unit="step",
            disable=not acc.is_local_main_process,
        )
        started, start_step = time.perf_counter(), self.global_step
        self.seen: list[int] = []  # dataset indices this process trained on
        self.step_times: list[float] = []  # perf_counter at the end of each optimizer step
        step_losses: list[dict[str, float]] = []  # the micro-batches of the step under way
        batches = self._batches(self.global_step * per_step)
        while self.global_step < cfg.train.max_steps:
            batch = next(batches)
            step_losses.append(self.train_step(batch))
            self.seen.extend(int(i) for i in batch["index"])
            if len(step_losses) < per_step:
                continue
            # Every process agrees to stop when any one's loss is not a number: nothing of this step is saved.
            bad = next((v for losses in step_losses for v in losses.values() if not math.isfinite(v)), None)
            checkpoints.stop_if_not_finite(acc, bad, self.global_step + 1, self.output_dir)
            losses = (
                {name: float(np.mean([s[name] for s in step_losses])) for name in step_losses[0]}
                if per_step > 1
                else step_losses[0]
            )
            step_losses = []
            self.global_step += 1
            self.step_times.append(time.perf_counter())
            rate = (self.global_step - start_step) * self.samples_per_step / (time.perf_counter() - started)
            bar.update()
            bar.set_postfix(**self.progress_postfix(losses), samples_per_s=f"{rate:.1f}")
            if cfg.logging.log_every and self.global_step % cfg.logging.log_every == 0:
                acc.log({**self.logged(losses), "samples_per_s": rate}, step=self.global_step)
            checkpoints.fault("sigkill-after-step", self.global_step)
            if checkpoints.due(self.global_step, cfg.checkpoint.every_steps, cfg.train.max_steps):
                self.save_checkpoint()
            if cfg.validation.every_steps and self.global_step % cfg.validation.every_steps == 0:
                self.validate()
        batches.close()
        bar.close()
        if cfg.logging.record_samples:
            checkpoints.write_seen_samples(self.output_dir, acc.process_index, self.seen)
        self.save_final()
        acc.end_training()

    # -- saving -------------------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        checkpoints.check_finite(self.trained_networks(), self.global_step)
        checkpoints.save(
            self.accelerator,
            self.output_dir,
            self.global_step,
            self.cfg.checkpoint.keep_last,
            self.checkpoint_state(),
            write_extra=self.write_checkpoint_extra,
        )

    def save_final(self) -> None:
        """The exported folders, once every process has finished and every weight is finite."""
        acc = self.accelerator
        checkpoints.check_finite(self.trained_networks(), self.global_step)
        acc.wait_for_everyone()
        if acc.is_main_process:
            self.write_final()
        acc.wait_for_everyone()

    @torch.no_grad()
    def validate(self) -> Path | None:
        """The preview of :meth:`validation_rows`, saved as ``validation/step-<step>.png`` and logged."""
        from magicpose.video import write_preview_grid

        acc, path = self.accelerator, None
        if acc.is_main_process:
            rows = self.validation_rows()
            folder = self.output_dir / "validation"
            folder.mkdir(parents=True, exist_ok=True)
            path = write_preview_grid(folder / f"step-{self.global_step:06d}.png", rows)
            for tracker in acc.trackers:
                if tracker.name == "tensorboard":
                    from PIL import Image

                    with Image.open(path) as image:
                        tracker.writer.add_image(
                            "validation",
                            np.asarray(image.convert("RGB")),
                            self.global_step,
                            dataformats="HWC",
                        )
        acc.wait_for_everyone()
        return path


def flat_config(cfg) -> dict:
    """A structured config as tensorboard's flat hyper-parameters: ``section.key`` -> scalar."""
    flat = {}
    for section, values in OmegaConf.to_container(OmegaConf.structured(cfg)).items():
        if isinstance(values, dict):
            flat.update(
                {f"{section}.{k}": v for k, v in values.items() if isinstance(v, int | float | str | bool)}
            )
        else:
            flat[section] = values
    return flat
