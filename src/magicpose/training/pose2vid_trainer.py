"""Everybody Dance Now pose2vid training (the global and the local stage): what the shared loop
(:mod:`magicpose.training.loop`) runs. The face-enhancer stage (``stage: face``) is a subclass with its own
step and networks: :mod:`magicpose.training.face_trainer`.

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

The loop's plumbing (sharded data, exact resume: nothing in a step is random) holds as for MagicPose.
Checkpoints hold each trained tensor once: the generator as a ``Pose2VidPipeline`` folder (so ``magicpose
infer --generator pose2vid --weights <checkpoint>`` works), the discriminator in ``discriminator.safetensors``,
the optimizers' moments and the RNG states in accelerate's files. Validation previews are pose | generated |
real rows. At the end ``final/`` is a complete ``Pose2VidPipeline`` folder, written under a temporary name and
renamed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from magicpose import files
from magicpose.data.consecutive import ConsecutivePairDataset
from magicpose.errors import InputError, first_line
from magicpose.models.losses import VGGPerceptualLoss, discriminator_loss, feature_matching_loss, lsgan_loss
from magicpose.models.pix2pixhd import (
    GENERATOR_SIZES,
    MultiscaleDiscriminator,
    discriminator_pair_input,
    local_enhancer_from_global_state_dict,
)
from magicpose.models.pose2vid import Pose2VidGenerator
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
from magicpose.training import checkpoints
from magicpose.training.loop import TrainingLoop
from magicpose.training.pose2vid_config import Pose2VidTrainingConfig

DISCRIMINATOR_FILE = "discriminator.safetensors"
GENERATOR_FIELDS = (*GENERATOR_SIZES, "pose_range")


def build_generator(cfg: Pose2VidTrainingConfig) -> Pose2VidGenerator:
    m = cfg.model
    fields = {name: getattr(m, name) for name in GENERATOR_FIELDS}
    return Pose2VidGenerator(
        architecture=m.architecture, **fields, sample_size=(cfg.data.height, cfg.data.width)
    )


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
    raise InputError(
        f"model.init_from '{folder}' holds no pose2vid generator (no final/generator/, "
        "generator/ or config.json): pass the previous stage's output_dir, or its final/ folder"
    )


def load_generator(folder: Path) -> Pose2VidGenerator:
    """The float32 generator saved in ``folder`` (a :func:`generator_folder`); a bad folder is one line."""
    try:
        return Pose2VidGenerator.from_pretrained(folder)
    except Exception as err:
        raise InputError(
            f"cannot load the generator in '{folder}' ({first_line(err)}): pass the output of a "
            "pose2vid training run"
        ) from err


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
        raise InputError(
            f"model.init_from '{folder}' is a {src.architecture} generator: a "
            f"{dst.architecture} one cannot start from it"
        )
    expected = {name: getattr(dst, name) for name in GENERATOR_FIELDS}
    if local_from_global:
        del expected["n_blocks_local"]  # the global generator has no local enhancer
        expected["ngf"] = 2 * dst.ngf  # the global branch runs at twice the local enhancer's width
    for name, value in expected.items():
        if getattr(src, name) != value:
            raise InputError(
                f"model.init_from '{folder}' has {name}={getattr(src, name)}, this run needs "
                f"{value}: set model.* to match the previous stage"
            )
    state = source.state_dict()
    if not local_from_global:
        generator.load_state_dict(state, strict=True)
        return f"initialised the generator from {folder}"
    branch = local_enhancer_from_global_state_dict(
        {k.removeprefix("net."): v for k, v in state.items()}, src.n_downsample_global, src.n_blocks_global
    )
    missing, unexpected = generator.net.load_state_dict(branch, strict=False)
    if unexpected or any(k.startswith("global_branch.") for k in missing):
        raise InputError(
            f"the global generator in '{folder}' does not fit this local enhancer's global "
            "branch: re-run the global stage with matching model.* settings"
        )
    return f"initialised the global branch from the global generator in {folder}"


def restart_after_fixed_steps(optimizer, step: int, fix_steps: int) -> None:
    """At the first step after the fixed phase, a fresh Adam over every parameter, as EDN's and vid2vid's
    ``update_fixed_params`` build (``optimizer``: an accelerate-wrapped one)."""
    if fix_steps and step == fix_steps:
        optimizer.optimizer.state.clear()


def drop_fixed_gradients(params: list, step: int, fix_steps: int) -> None:
    """During the fixed phase (the first ``fix_steps`` steps), after the backward pass: Adam skips a parameter
    without a gradient, so the fixed tensors and their optimizer state stay exactly as they are. Dropping
    gradients rather than freezing (``requires_grad``) keeps every parameter in use for DDP, prepared once."""
    if step < fix_steps:
        for p in params:
            p.grad = None


class Pose2VidTrainer(TrainingLoop):
    """pose2vid's global or local stage on the shared loop (:mod:`magicpose.training.loop`)."""

    cfg: Pose2VidTrainingConfig
    tracker_project = "magicpose_pose2vid"
    dataset_unit = "frame pairs"
    needs_keypoints = False  # the data's OpenPose keypoints (the face stage finds the head in them)

    def build_dataset(self) -> ConsecutivePairDataset:
        return self.dataset_from_config(ConsecutivePairDataset, keypoints=self.needs_keypoints)

    def prepare(self) -> None:
        self.vgg = self._perceptual_loss()  # before anything is written: a bad VGG file leaves no output

    def inputs(self) -> list:
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

    def build_networks(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        generator, discriminator = build_generator(cfg), build_discriminator(cfg)
        self.init_note = initialise_from(generator, cfg.model.init_from) if cfg.model.init_from else None
        # The global branch's tensors, held out of G's step while train.fix_global_steps lasts.
        local = cfg.model.architecture == "local"
        self.global_params = list(generator.net.global_branch.parameters()) if local else []
        betas = (cfg.train.adam_beta1, cfg.train.adam_beta2)
        opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.train.learning_rate, betas=betas)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.train.learning_rate, betas=betas)
        self.generator, self.discriminator, self.opt_g, self.opt_d = acc.prepare(
            generator, discriminator, opt_g, opt_d
        )
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

    # -- one step -------------------------------------------------------------------------------

    def learning_rate(self, step: int) -> float:
        """The rate of the step taken after ``step`` steps: constant, then linear to 0 over the last
        ``decay_steps`` (the last step uses ``lr / decay_steps``)."""
        train = self.cfg.train
        if not train.decay_steps:
            return train.learning_rate
        return train.learning_rate * min(1.0, (train.max_steps - step) / train.decay_steps)

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, ...]:
        device, generator = self.accelerator.device, self.body_generator
        return (
            generator.pose_input(batch["pose_prev"].to(device)),
            generator.pose_input(batch["pose"].to(device)),
            batch["frame_prev"].to(device),
            batch["frame"].to(device),
        )

    def generator_losses(self, batch: dict) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """G's loss terms, and what D's step reuses: the inputs, the fakes, D's outputs on the real pair."""
        pose_prev, pose, real_prev, real = self._inputs(batch)
        with self.accelerator.autocast():
            fake_prev = self.generator(pose_prev, torch.zeros_like(real_prev))  # the first frame sees zeros
            fake = self.generator(pose, fake_prev)  # not detached: G learns through both passes
            pred_real = self.discriminator(discriminator_pair_input(pose_prev, pose, real_prev, real))
            pred_fake = self.discriminator(discriminator_pair_input(pose_prev, pose, fake_prev, fake))
            terms = {
                "g_gan": lsgan_loss(pred_fake, True),
                "g_feat": feature_matching_loss(pred_fake, pred_real, self.cfg.loss.lambda_feat),
            }
            if self.vgg is not None:
                vgg = self.vgg(fake_prev, real_prev) + self.vgg(fake, real)
                terms["g_vgg"] = 0.5 * vgg if self.cfg.model.architecture == "global" else vgg
            if self.cfg.loss.l1_weight:
                l1 = F.l1_loss(fake_prev.float(), real_prev.float()) + F.l1_loss(fake.float(), real.float())
                terms["g_l1"] = self.cfg.loss.l1_weight * l1
        saved = {
            "pose_prev": pose_prev,
            "pose": pose,
            "fake_prev": fake_prev,
            "fake": fake,
            "pred_real": pred_real,
        }
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
        restart_after_fixed_steps(self.opt_g, step, self.cfg.train.fix_global_steps)

        terms, saved = self.generator_losses(batch)
        loss_g = sum(terms.values())
        acc.backward(loss_g)
        drop_fixed_gradients(self.global_params, step, self.cfg.train.fix_global_steps)
        self._clip(self.generator)
        self.opt_g.step()
        self.opt_g.zero_grad(set_to_none=True)

        self.opt_d.zero_grad(set_to_none=True)  # drop what G's loss put into D's gradients
        with acc.autocast():
            fake_pair = discriminator_pair_input(
                saved["pose_prev"], saved["pose"], saved["fake_prev"].detach(), saved["fake"].detach()
            )
            pred_fake = self.discriminator(fake_pair)
            loss_d = discriminator_loss(saved["pred_real"], pred_fake)
        acc.backward(loss_d)
        self._clip(self.discriminator)
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)
        return {"g": loss_g.item(), **{k: v.item() for k, v in terms.items()}, "d": loss_d.item()}

    def progress_postfix(self, losses: dict[str, float]) -> dict[str, str]:
        return {"G": f"{losses['g']:.3f}", "D": f"{losses['d']:.3f}"}

    def logged(self, losses: dict[str, float]) -> dict[str, float]:
        return {**super().logged(losses), "lr": self.learning_rate(self.global_step - 1)}

    # -- saving -----------------------------------------------------------------------------------

    def pipeline(self) -> Pose2VidPipeline:
        pipe = Pose2VidPipeline(generator=self.unwrapped_generator)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def save_networks(self, models: list, weights: list, output_dir: str) -> None:
        """accelerate's save hook: G as a Pose2VidPipeline folder, D as one safetensors file, each once."""
        if self.accelerator.is_main_process:
            self.pipeline().save_pretrained(output_dir)
            save_file(self.unwrapped_discriminator.state_dict(), str(Path(output_dir) / DISCRIMINATOR_FILE))
        weights.clear()  # so accelerate writes no second copy (model.safetensors, model_1.safetensors)

    def load_networks(self, models: list, input_dir: str) -> None:
        """accelerate's load hook, the inverse of the save hook (the keys carry no DDP prefix, so a checkpoint
        resumes on any number of processes)."""
        checkpoints.load_module_weights(self.unwrapped_generator, Path(input_dir) / "generator")
        self.unwrapped_discriminator.load_state_dict(
            load_file(str(Path(input_dir) / DISCRIMINATOR_FILE)), strict=True
        )
        models.clear()  # nothing left for accelerate to load

    def trained_networks(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.unwrapped_generator, "discriminator": self.unwrapped_discriminator}

    def write_final(self) -> None:
        """``final/``: a complete Pose2VidPipeline folder, written under a temporary name and committed
        (:mod:`magicpose.files`)."""
        with files.atomic_path(self.output_dir / "final", kind="training") as tmp:
            self._write_final(tmp)

    def _write_final(self, folder: Path) -> None:
        self.pipeline().save_pretrained(folder)

    def validation_rows(self) -> list[np.ndarray]:
        return sequential_validation_rows(self, self._validation_keypoints)

    def _validation_keypoints(self, video, frames: list) -> list | None:
        """The validation frames' keypoints, for a face enhancer (none in the body stages)."""
        return None


def describe(trainer: Pose2VidTrainer) -> str:
    cfg, acc = trainer.cfg, trainer.accelerator
    train = cfg.train
    g_params = sum(p.numel() for p in trainer.unwrapped_generator.parameters())
    d_params = sum(p.numel() for p in trainer.unwrapped_discriminator.parameters())
    epochs = train.max_steps / trainer.batches_per_epoch
    schedule = f"lr {train.learning_rate:g}, " + (
        f"falling linearly to 0 over the last {train.decay_steps} steps" if train.decay_steps else "constant"
    )
    if train.fix_global_steps:
        schedule += f"; global branch fixed for the first {train.fix_global_steps} steps"
    return (
        f"pose2vid {cfg.model.architecture}: generator {g_params / 1e6:.2f}M parameters, discriminator "
        f"{cfg.discriminator.num_D} scales {d_params / 1e6:.2f}M; VGG loss "
        f"{'on' if trainer.vgg is not None else 'off'}; {acc.num_processes} process(es) "
        f"({acc.distributed_type}); "
        f"{len(trainer.dataset)} frame pairs in {len(trainer.dataset.videos)} video(s), "
        f"{trainer.batches_per_epoch} batches per epoch per process; {train.max_steps} steps of "
        f"{trainer.samples_per_step} samples ({train.batch_size} per process x {acc.num_processes} "
        "processes) "
        f"= {epochs:.2f} epochs; {schedule}" + (f"; {trainer.init_note}" if trainer.init_note else "")
    )


def sequential_validation_rows(trainer, keypoints_of=None) -> list[np.ndarray]:
    """pose | generated | real rows for the first ``validation.num_frames`` frames of the validation split's
    first video, generated as inference does (``trainer.pipeline().iter_frames``: one after another, from a zero
    frame), for the person-specific generators; ``keypoints_of(video, frames)`` gives a face enhancer its
    keypoints."""
    from magicpose.data.layout import list_videos
    from magicpose.image_utils import center_crop_resize, load_image
    from magicpose.video import make_preview_frame

    cfg = trainer.cfg
    video = list_videos(cfg.data.root, cfg.validation.split or cfg.data.split)[0]
    frames = video.frames[: cfg.validation.num_frames]
    height, width = cfg.data.height, cfg.data.width
    poses = [np.asarray(center_crop_resize(load_image(f.pose), width, height)) for f in frames]
    options = {"pose_keypoints": keypoints_of(video, frames)} if keypoints_of is not None else {}
    generator = trainer.unwrapped_generator
    generator.eval()
    try:
        generated = list(trainer.pipeline().iter_frames(poses, height, width, **options))
    finally:
        generator.train()
    reals = [np.asarray(center_crop_resize(load_image(f.image), width, height)) for f in frames]
    return [make_preview_frame(*columns) for columns in zip(poses, generated, reals, strict=True)]
