"""The Everybody Dance Now pose2vid training loop (the global and the local stage), on accelerate. The face-
enhancer stage (``stage: face``) runs this loop too, with its own step and networks:
:mod:`magicpose.training.face_trainer`.

Per step, on a batch of consecutive frame pairs (``magicpose.data.consecutive``), as the official EDN code
(``pix2pixHD_model_fullts.py``, ``train_fullts.py``) does it:

1. ``y_prev = G(pose_prev, zeros)`` and ``y = G(pose, y_prev)``; ``y_prev`` is *not* detached, so the
   gradient reaches G through both passes;
2. the multiscale discriminator sees 12-channel pairs ``cat(pose_prev, pose, frame_prev, frame)``, real
   frames or ``(y_prev, y)``;
3. G's loss: LSGAN(fake pair -> real) + feature matching (``loss.lambda_feat``) +
   ``VGG(y_prev, frame_prev) + VGG(y, frame)`` (``loss.vgg_weight``); with the global architecture the VGG
   term is halved, as the official code does (its comment: "need 2x VGG for artifacts when training local");
4. G's Adam step, then D's: ``0.5 * (LSGAN(real, 1) + LSGAN(D(detached fakes), 0))``. D's outputs on the
   real pair are computed once and serve both G's feature matching (detached) and D's loss, as pix2pixHD
   does (D's weights do not change during G's step).

Poses reach G and D in the generator's ``pose_range`` (``Pose2VidGenerator.pose_input``, the function
inference uses); frames are in [-1, 1]. Adam, lr 2e-4, betas (0.5, 0.999) for both networks; the learning
rate is constant, then falls linearly to 0 over the last ``train.decay_steps`` steps. With
``train.fix_global_steps`` (local architecture) the global branch's gradients are dropped before G's step
for those first steps, so Adam leaves those tensors untouched while the local enhancer trains; at the first
step after them G's optimizer state is reset and every parameter trains, as EDN's ``update_fixed_params``
rebuilds its Adam over all parameters. The gradients are dropped rather than the branch frozen
(``requires_grad``) so that DDP, prepared once, always sees every parameter used.

The plumbing is the MagicPose trainer's: data sharded by rank with ``ShardedSampler`` (N processes with
batch b train exactly like 1 process with batch N*b), exact resume (the data order is a function of the
step; nothing in a step is random), atomic checkpoints holding each trained tensor once (the generator as a
``Pose2VidPipeline`` folder, so ``magicpose infer --generator pose2vid --weights <checkpoint>`` works; the
discriminator in ``discriminator.safetensors``; the optimizers' moments and the RNG states in accelerate's
files), fault injection for the tests, a progress bar, validation previews (pose | generated | real). At the
end ``final/`` is a complete ``Pose2VidPipeline`` folder, written under a temporary name and renamed.

Runs unchanged under ``python``, ``torchrun --nproc_per_node N`` and ``accelerate launch``. On CPU,
``ACCELERATE_USE_CPU=true`` makes torchrun ranks synchronise over gloo.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from magicpose import files
from magicpose.data.consecutive import ConsecutivePairDataset
from magicpose.data.sampler import ShardedSampler
from magicpose.errors import ArgumentParser, InputError, first_line
from magicpose.models.losses import VGGPerceptualLoss, discriminator_loss, feature_matching_loss, lsgan_loss
from magicpose.models.pix2pixhd import (
    MultiscaleDiscriminator,
    discriminator_pair_input,
    local_enhancer_from_global_state_dict,
)
from magicpose.models.pose2vid import Pose2VidGenerator
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
from magicpose.training import checkpoints
from magicpose.training.command import run_training
from magicpose.training.pose2vid_config import Pose2VidTrainingConfig, load_pose2vid_config

DISCRIMINATOR_FILE = "discriminator.safetensors"
GENERATOR_FIELDS = ("ngf", "n_downsample_global", "n_blocks_global", "n_blocks_local", "norm", "pose_range")


def build_generator(cfg: Pose2VidTrainingConfig) -> Pose2VidGenerator:
    m = cfg.model
    return Pose2VidGenerator(architecture=m.architecture, ngf=m.ngf,
                             n_downsample_global=m.n_downsample_global, n_blocks_global=m.n_blocks_global,
                             n_blocks_local=m.n_blocks_local, norm=m.norm, pose_range=m.pose_range,
                             sample_size=(cfg.data.height, cfg.data.width))


def build_discriminator(cfg: Pose2VidTrainingConfig) -> MultiscaleDiscriminator:
    # two (pose, frame) pairs of RGB images: 12 channels
    d = cfg.discriminator
    return MultiscaleDiscriminator(4 * 3, ndf=d.ndf, n_layers=d.n_layers, num_D=d.num_D, norm=cfg.model.norm)


def generator_folder(path: str | Path) -> Path:
    """The generator folder of a previous stage: ``<run>/final/generator``, ``<pipeline>/generator`` or the
    generator folder itself."""
    folder = Path(path)
    for candidate in (folder / "final" / "generator", folder / "generator", folder):
        if (candidate / "config.json").is_file():
            return candidate
    raise InputError(f"model.init_from '{folder}' holds no pose2vid generator (no final/generator/, "
                     "generator/ or config.json): pass the previous stage's output_dir, or its final/ folder")


def load_generator(folder: Path) -> Pose2VidGenerator:
    """The float32 generator saved in ``folder`` (a :func:`generator_folder`); a bad folder is one line."""
    try:
        return Pose2VidGenerator.from_pretrained(folder)
    except Exception as err:
        raise InputError(f"cannot load the generator in '{folder}' ({first_line(err)}): pass the output of a "
                         "pose2vid training run") from err


def initialise_from(generator: Pose2VidGenerator, path: str | Path) -> str:
    """Load a previous stage's generator into ``generator`` and say what was loaded.

    A global generator seeds a local one's global branch exactly (its c7 head and tanh dropped, EDN's
    ``--load_pretrain``); a generator of the same architecture is loaded whole.
    """
    folder = generator_folder(path)
    source = load_generator(folder)
    src, dst = source.config, generator.config
    local_from_global = src.architecture == "global" and dst.architecture == "local"
    if src.architecture != dst.architecture and not local_from_global:
        raise InputError(f"model.init_from '{folder}' is a {src.architecture} generator: a "
                         f"{dst.architecture} one cannot start from it")
    expected = {name: getattr(dst, name) for name in GENERATOR_FIELDS}
    if local_from_global:
        del expected["n_blocks_local"]  # the global generator has no local enhancer
        expected["ngf"] = 2 * dst.ngf  # the global branch runs at twice the local enhancer's width
    for name, value in expected.items():
        if getattr(src, name) != value:
            raise InputError(f"model.init_from '{folder}' has {name}={getattr(src, name)}, this run needs "
                             f"{value}: set model.* to match the previous stage")
    state = source.state_dict()
    if not local_from_global:
        generator.load_state_dict(state, strict=True)
        return f"initialised the generator from {folder}"
    branch = local_enhancer_from_global_state_dict({k.removeprefix("net."): v for k, v in state.items()},
                                                   src.n_downsample_global, src.n_blocks_global)
    missing, unexpected = generator.net.load_state_dict(branch, strict=False)
    if unexpected or any(k.startswith("global_branch.") for k in missing):
        raise InputError(f"the global generator in '{folder}' does not fit this local enhancer's global "
                         "branch: re-run the global stage with matching model.* settings")
    return f"initialised the global branch from the global generator in {folder}"


class Pose2VidTrainer:
    needs_keypoints = False  # the data's OpenPose keypoints (the face stage finds the head in them)

    def __init__(self, cfg: Pose2VidTrainingConfig, resume: str | None = None) -> None:
        self.cfg = cfg
        self.output_dir = Path(cfg.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=cfg.train.mixed_precision,
            log_with="tensorboard" if cfg.logging.report_to == "tensorboard" else None,
            project_config=ProjectConfiguration(project_dir=str(self.output_dir),
                                                logging_dir=str(self.output_dir / "logs")),
        )
        self.dataset = ConsecutivePairDataset(cfg.data.root, cfg.data.split, height=cfg.data.height,
                                              width=cfg.data.width, keypoints=self.needs_keypoints)
        self.sampler = ShardedSampler(len(self.dataset), num_replicas=self.accelerator.num_processes,
                                      rank=self.accelerator.process_index, seed=cfg.train.seed)
        self.batches_per_epoch = len(self.sampler) // cfg.train.batch_size
        if self.batches_per_epoch == 0:
            processes = self.accelerator.num_processes
            raise InputError(f"dataset '{cfg.data.root}' has {len(self.dataset)} frame pairs, fewer than one "
                             f"batch of {cfg.train.batch_size} per process x {processes} processes: lower "
                             "train.batch_size")
        self.vgg = self._perceptual_loss()  # before anything is written: a bad VGG file leaves no output
        stage = self.stage_name.replace(" ", "_")  # as trainer_state.json records it
        self.resume_from = checkpoints.resolve_resume(self.output_dir, resume, stage=stage)
        self.resume_latest = resume == "latest"
        self._check_run_needs()
        self._build()

    # -- set-up -----------------------------------------------------------------------------------

    def _check_run_needs(self) -> None:
        """Fail now, not after hours of training, on what validation and the outputs will need."""
        cfg = self.cfg
        if cfg.validation.every_steps:
            checkpoints.validation_videos(cfg.data.root, cfg.validation.split or cfg.data.split)
        start = checkpoints.read_step(self.resume_from) if self.resume_from is not None else 0
        checkpoints.check_replaceable_outputs(self.output_dir, ["final"], start, cfg.train.max_steps,
                                              inputs=[cfg.data.root, *self.inputs()])
        checkpoints.check_output_dir(self.accelerator, self.output_dir)

    def inputs(self) -> list[Path]:
        """The folders the run reads its networks from (never replaced by its outputs)."""
        return [generator_folder(self.cfg.model.init_from)] if self.cfg.model.init_from else []

    def _perceptual_loss(self) -> VGGPerceptualLoss | None:
        loss = self.cfg.loss
        if loss.vgg_weight == 0:
            return None  # no file needed
        try:
            vgg = VGGPerceptualLoss.from_file(loss.vgg19_path, weight=loss.vgg_weight)
        except InputError as err:
            raise InputError(f"loss.vgg19_path: {err} (loss.vgg_weight=0 turns the VGG term off)") from err
        return vgg.to(self.accelerator.device)

    def _build(self) -> None:
        """The networks and optimizers (:meth:`_build_networks`), accelerate's hooks, the resumed state."""
        cfg, acc = self.cfg, self.accelerator
        set_seed(cfg.train.seed)  # the networks' init depends on the seed only
        self._build_networks()
        acc.register_save_state_pre_hook(self._save_networks)
        acc.register_load_state_pre_hook(self._load_networks)
        self.global_step = 0
        checkpoint = self.resume_from
        if checkpoint is not None:
            checkpoints.load_state(acc, checkpoint, latest=self.resume_latest)
            self.global_step = checkpoints.read_step(checkpoint)
            acc.print(f"resumed from {checkpoint} at step {self.global_step}")
        if acc.is_main_process:
            files.write_text_atomic(self.output_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))
            if cfg.logging.report_to == "tensorboard":
                acc.init_trackers("magicpose_pose2vid", config=_flat_config(cfg))

    def _build_networks(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        generator, discriminator = build_generator(cfg), build_discriminator(cfg)
        self.init_note = initialise_from(generator, cfg.model.init_from) if cfg.model.init_from else None
        # The global branch's tensors, held out of G's step while train.fix_global_steps lasts.
        local = cfg.model.architecture == "local"
        self.global_params = list(generator.net.global_branch.parameters()) if local else []
        betas = (cfg.train.adam_beta1, cfg.train.adam_beta2)
        opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.train.learning_rate, betas=betas)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.train.learning_rate, betas=betas)
        self.generator, self.discriminator, self.opt_g, self.opt_d = acc.prepare(generator, discriminator,
                                                                                 opt_g, opt_d)
        self.generator.train()
        self.discriminator.train()

    @property
    def unwrapped_generator(self) -> Pose2VidGenerator:
        return self.accelerator.unwrap_model(self.generator)

    @property
    def body_generator(self) -> Pose2VidGenerator:
        """The pose2vid generator that renders the frames (trained here; frozen in the face stage)."""
        return self.unwrapped_generator

    @property
    def stage_name(self) -> str:
        return f"pose2vid {self.cfg.model.architecture}"

    @property
    def unwrapped_discriminator(self) -> MultiscaleDiscriminator:
        return self.accelerator.unwrap_model(self.discriminator)

    @property
    def samples_per_step(self) -> int:
        return self.cfg.train.batch_size * self.accelerator.num_processes

    # -- one step -------------------------------------------------------------------------------

    def learning_rate(self, step: int) -> float:
        """The rate of the step taken after ``step`` steps: constant, then linear to 0 over the last
        ``decay_steps`` (the last step uses ``lr / decay_steps``)."""
        train = self.cfg.train
        if not train.decay_steps:
            return train.learning_rate
        return train.learning_rate * min(1.0, (train.max_steps - step) / train.decay_steps)

    def fixing_global(self, step: int) -> bool:
        """Whether the step taken after ``step`` steps leaves the global branch untouched."""
        return step < self.cfg.train.fix_global_steps

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, ...]:
        device, generator = self.accelerator.device, self.body_generator
        return (generator.pose_input(batch["pose_prev"].to(device)),
                generator.pose_input(batch["pose"].to(device)),
                batch["frame_prev"].to(device), batch["frame"].to(device))

    def generator_losses(self, batch: dict) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """G's loss terms, and what D's step reuses: the inputs, the fakes, D's outputs on the real pair."""
        pose_prev, pose, real_prev, real = self._inputs(batch)
        with self.accelerator.autocast():
            fake_prev = self.generator(pose_prev, torch.zeros_like(real_prev))  # the first frame sees zeros
            fake = self.generator(pose, fake_prev)  # not detached: G learns through both passes
            pred_real = self.discriminator(discriminator_pair_input(pose_prev, pose, real_prev, real))
            pred_fake = self.discriminator(discriminator_pair_input(pose_prev, pose, fake_prev, fake))
            terms = {"g_gan": lsgan_loss(pred_fake, True),
                     "g_feat": feature_matching_loss(pred_fake, pred_real, self.cfg.loss.lambda_feat)}
            if self.vgg is not None:
                vgg = self.vgg(fake_prev, real_prev) + self.vgg(fake, real)
                terms["g_vgg"] = 0.5 * vgg if self.cfg.model.architecture == "global" else vgg
            if self.cfg.loss.l1_weight:
                l1 = F.l1_loss(fake_prev.float(), real_prev.float()) + F.l1_loss(fake.float(), real.float())
                terms["g_l1"] = self.cfg.loss.l1_weight * l1
        saved = {"pose_prev": pose_prev, "pose": pose, "fake_prev": fake_prev, "fake": fake,
                 "pred_real": pred_real}
        return terms, saved

    def _set_learning_rate(self, lr: float) -> None:
        for optimizer in (self.opt_g, self.opt_d):
            for group in optimizer.param_groups:
                group["lr"] = lr

    def _clip(self, module: torch.nn.Module) -> None:
        if self.cfg.train.max_grad_norm:
            params = [p for p in module.parameters() if p.grad is not None]
            self.accelerator.clip_grad_norm_(params, self.cfg.train.max_grad_norm)

    def train_step(self, batch: dict) -> dict[str, float]:
        """One G step then one D step; returns the loss terms of this process's batch."""
        acc, step = self.accelerator, self.global_step
        self._set_learning_rate(self.learning_rate(step))
        if self.cfg.train.fix_global_steps and step == self.cfg.train.fix_global_steps:
            # a fresh Adam over every parameter, as EDN's update_fixed_params builds
            self.opt_g.optimizer.state.clear()

        terms, saved = self.generator_losses(batch)
        loss_g = sum(terms.values())
        acc.backward(loss_g)
        if self.fixing_global(step):
            for p in self.global_params:
                p.grad = None  # Adam skips a parameter without a gradient: the tensor and its state stay
        self._clip(self.generator)
        self.opt_g.step()
        self.opt_g.zero_grad(set_to_none=True)

        self.opt_d.zero_grad(set_to_none=True)  # drop what G's loss put into D's gradients
        with acc.autocast():
            fake_pair = discriminator_pair_input(saved["pose_prev"], saved["pose"],
                                                 saved["fake_prev"].detach(), saved["fake"].detach())
            pred_fake = self.discriminator(fake_pair)
            loss_d = discriminator_loss(saved["pred_real"], pred_fake)
        acc.backward(loss_d)
        self._clip(self.discriminator)
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)
        return {"g": loss_g.item(), **{k: v.item() for k, v in terms.items()}, "d": loss_d.item()}

    # -- the loop ---------------------------------------------------------------------------------

    def _loader(self, step: int) -> DataLoader:
        """The data of the epoch that ``step`` falls in, from the batch it falls on."""
        epoch, batch_in_epoch = divmod(step, self.batches_per_epoch)
        self.sampler.set_epoch(epoch, start=batch_in_epoch * self.cfg.train.batch_size)
        return DataLoader(self.dataset, batch_size=self.cfg.train.batch_size, sampler=self.sampler,
                          num_workers=self.cfg.data.num_workers, drop_last=True)

    def train(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        bar = tqdm(total=cfg.train.max_steps, initial=self.global_step, unit="step",
                   desc=f"train {self.stage_name}", disable=not acc.is_local_main_process)
        started, start_step = time.perf_counter(), self.global_step
        seen: list[int] = []  # dataset indices this process trained on (logging.record_samples)
        while self.global_step < cfg.train.max_steps:
            for batch in self._loader(self.global_step):
                losses = self.train_step(batch)
                bad = next((v for v in losses.values() if not math.isfinite(v)), None)
                checkpoints.stop_if_not_finite(acc, bad, self.global_step + 1, self.output_dir)
                if cfg.logging.record_samples:
                    seen.extend(int(i) for i in batch["index"])
                self.global_step += 1
                done = (self.global_step - start_step) * self.samples_per_step
                rate = done / (time.perf_counter() - started)
                bar.update()
                bar.set_postfix(G=f"{losses['g']:.3f}", D=f"{losses['d']:.3f}", samples_per_s=f"{rate:.1f}")
                if cfg.logging.log_every and self.global_step % cfg.logging.log_every == 0:
                    logged = {f"loss_{k}": v for k, v in losses.items()}
                    logged |= {"lr": self.learning_rate(self.global_step - 1), "samples_per_s": rate}
                    acc.log(logged, step=self.global_step)
                checkpoints.fault("sigkill-after-step", self.global_step)
                if checkpoints.due(self.global_step, cfg.checkpoint.every_steps, cfg.train.max_steps):
                    self.save_checkpoint()
                if cfg.validation.every_steps and self.global_step % cfg.validation.every_steps == 0:
                    self.validate()
                if self.global_step >= cfg.train.max_steps:
                    break
        bar.close()
        if cfg.logging.record_samples:
            checkpoints.write_seen_samples(self.output_dir, acc.process_index, seen)
        self.save_final()
        acc.end_training()

    # -- saving -----------------------------------------------------------------------------------

    def pipeline(self) -> Pose2VidPipeline:
        pipe = Pose2VidPipeline(generator=self.unwrapped_generator)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _save_networks(self, models: list, weights: list, output_dir: str) -> None:
        """accelerate's save hook: G as a Pose2VidPipeline folder, D as one safetensors file, each once."""
        if self.accelerator.is_main_process:
            self.pipeline().save_pretrained(output_dir)
            save_file(self.unwrapped_discriminator.state_dict(), str(Path(output_dir) / DISCRIMINATOR_FILE))
        weights.clear()  # so accelerate writes no second copy (model.safetensors, model_1.safetensors)

    def _load_networks(self, models: list, input_dir: str) -> None:
        """accelerate's load hook, the inverse of the save hook (the keys carry no DDP prefix, so a checkpoint
        resumes on any number of processes)."""
        checkpoints.load_module_weights(self.unwrapped_generator, Path(input_dir) / "generator")
        self.unwrapped_discriminator.load_state_dict(load_file(str(Path(input_dir) / DISCRIMINATOR_FILE)),
                                                     strict=True)
        models.clear()  # nothing left for accelerate to load

    def checkpoint_state(self) -> dict:
        """What ``trainer_state.json`` records beside the step."""
        return {"stage": self.stage_name.replace(" ", "_")}

    def trained_networks(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.unwrapped_generator, "discriminator": self.unwrapped_discriminator}

    def save_checkpoint(self) -> None:
        checkpoints.check_finite(self.trained_networks(), self.global_step)
        checkpoints.save(self.accelerator, self.output_dir, self.global_step, self.cfg.checkpoint.keep_last,
                         self.checkpoint_state())

    def _write_final(self, folder: Path) -> None:
        self.pipeline().save_pretrained(folder)

    def save_final(self) -> Path:
        """``final/``: a complete Pose2VidPipeline folder, written under a temporary name and committed
        (:mod:`magicpose.files`)."""
        acc = self.accelerator
        checkpoints.check_finite(self.trained_networks(), self.global_step)
        acc.wait_for_everyone()
        final = self.output_dir / "final"
        if acc.is_main_process:
            with files.atomic_path(final, kind="training") as tmp:
                self._write_final(tmp)
        acc.wait_for_everyone()
        return final

    @torch.no_grad()
    def validate(self) -> Path | None:
        """pose | generated | real rows for the first ``validation.num_frames`` frames of the validation
        split's first video, generated as inference does (one after another, from a zero frame); saved and
        logged."""
        from magicpose.data.layout import list_videos
        from magicpose.image_utils import center_crop_resize, load_image
        from magicpose.video import make_preview_frame, write_preview_grid

        acc, cfg = self.accelerator, self.cfg
        path = None
        if acc.is_main_process:
            video = list_videos(cfg.data.root, cfg.validation.split or cfg.data.split)[0]
            frames = video.frames[: cfg.validation.num_frames]
            height, width = cfg.data.height, cfg.data.width
            poses = [np.asarray(center_crop_resize(load_image(f.pose), width, height)) for f in frames]
            generator = self.unwrapped_generator
            generator.eval()
            try:
                generated = list(self.pipeline().iter_frames(
                    poses, height, width, pose_keypoints=self._validation_keypoints(video, frames)))
            finally:
                generator.train()
            reals = [np.asarray(center_crop_resize(load_image(f.image), width, height)) for f in frames]
            rows = [make_preview_frame(*columns) for columns in zip(poses, generated, reals, strict=True)]
            folder = self.output_dir / "validation"
            folder.mkdir(parents=True, exist_ok=True)
            path = write_preview_grid(folder / f"step-{self.global_step:06d}.png", rows)
            for tracker in acc.trackers:
                if tracker.name == "tensorboard":
                    from PIL import Image

                    tracker.writer.add_image("validation", np.asarray(Image.open(path).convert("RGB")),
                                             self.global_step, dataformats="HWC")
        acc.wait_for_everyone()
        return path

    def _validation_keypoints(self, video, frames: list) -> list | None:
        """The validation frames' keypoints, for a face enhancer (none in the body stages)."""
        return None


def _flat_config(cfg: Pose2VidTrainingConfig) -> dict:
    flat = {}
    for section, values in OmegaConf.to_container(OmegaConf.structured(cfg)).items():
        if isinstance(values, dict):
            flat.update({f"{section}.{k}": v for k, v in values.items()
                         if isinstance(v, int | float | str | bool)})
        else:
            flat[section] = values
    return flat


def describe(trainer: Pose2VidTrainer) -> str:
    cfg, acc = trainer.cfg, trainer.accelerator
    train = cfg.train
    g_params = sum(p.numel() for p in trainer.unwrapped_generator.parameters())
    d_params = sum(p.numel() for p in trainer.unwrapped_discriminator.parameters())
    epochs = train.max_steps / trainer.batches_per_epoch
    schedule = f"lr {train.learning_rate:g}, " + (
        f"falling linearly to 0 over the last {train.decay_steps} steps" if train.decay_steps else "constant")
    if train.fix_global_steps:
        schedule += f"; global branch fixed for the first {train.fix_global_steps} steps"
    return (f"pose2vid {cfg.model.architecture}: generator {g_params / 1e6:.2f}M parameters, discriminator "
            f"{cfg.discriminator.num_D} scales {d_params / 1e6:.2f}M; VGG loss "
            f"{'on' if trainer.vgg is not None else 'off'}; {acc.num_processes} process(es) "
            f"({acc.distributed_type}); "
            f"{len(trainer.dataset)} frame pairs in {len(trainer.dataset.videos)} video(s), "
            f"{trainer.batches_per_epoch} batches per epoch per process; {train.max_steps} steps of "
            f"{trainer.samples_per_step} samples ({train.batch_size} per process x {acc.num_processes} "
            "processes) "
            f"= {epochs:.2f} epochs; {schedule}" + (f"; {trainer.init_note}" if trainer.init_note else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="magicpose train-pose2vid",
        description="Everybody Dance Now pose2vid training (global, local or face-enhancer stage).")
    parser.add_argument("--config", required=True,
                        help="OmegaConf YAML, e.g. configs/pose2vid_global.yaml, pose2vid_local.yaml or "
                             "pose2vid_face.yaml (stage: face)")
    parser.add_argument("--resume", default=None,
                        help="'latest' (newest complete checkpoint in output_dir, if any) or a checkpoint "
                             "folder")
    parser.add_argument("overrides", nargs="*",
                        help="config overrides as key=value, e.g. train.max_steps=100")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_training(lambda: load_pose2vid_config(args.config, args.overrides), lambda cfg: _train(cfg, args.resume))


def _train(cfg, resume: str | None) -> None:
    if cfg.stage == "face":
        from magicpose.training.face_trainer import FaceStageTrainer, describe_face

        trainer = FaceStageTrainer(cfg, resume=resume)
        trainer.accelerator.print(describe_face(trainer))
        trainer.train()
        return
    trainer = Pose2VidTrainer(cfg, resume=resume)
    trainer.accelerator.print(describe(trainer))
    if cfg.train.fix_global_steps and not cfg.model.init_from and trainer.global_step == 0:
        trainer.accelerator.print("warning: train.fix_global_steps without model.init_from holds a "
                                  "randomly initialised global branch: train the global stage first")
    trainer.train()
