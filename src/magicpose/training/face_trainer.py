"""The Everybody Dance Now face-enhancer stage (``stage: face``), on the pose2vid trainer's loop.

EDN's third stage (official code: ``train_fullts.py --load_pretrain <local stage> --face_discrim
--face_generator --faceGtype global``): the trained body generator G, **frozen** (eval mode, no gradient, in
no optimizer), renders consecutive frame pairs, and a face residual generator G_f with a face discriminator
D_f learn on the head crops. Per step, on a batch of consecutive pairs with each frame's keypoints:

1. under ``no_grad``: ``y_prev = G(pose_prev, 0)``, ``y = G(pose, y_prev)``, the body stage's recursion,
   exactly as inference runs it (the enhanced face is not fed back to G, as in ``Pose2VidPipeline``);
2. each frame's head box: :func:`~magicpose.models.face_enhancer.face_box` on the frame's keypoints mapped
   into the training frame (the nose, else the ears), moved inside the frame; one side for the whole run,
   ``data.height x model.size_fraction`` rounded to G_f's multiple (EDN: 128 px in 512 px-high frames), so
   crops batch. A frame without a visible head has no box and is left out of every term below;
3. ``fake = G_f(y_crop, x_crop) = y_crop + residual``, the official G_f seeing ``cat(x_crop, y_crop)``
   (x: the pose map in G's pose range), Lotayou's the crop alone;
4. G_f's loss, a mean over the N frames with a head (of the whole step, all processes together):
   ``LSGAN(D_f(x_crop, fake) -> real) + loss.vgg_weight * VGG(fake, real_crop)``. With one pair of two
   heads (EDN's batch) that is the official ``0.5 * sum over both frames``;
5. D_f's loss, the same mean of ``0.5 * (LSGAN(D_f(x_crop, real_crop), 1) + LSGAN(D_f(x_crop, fake), 0))``
   on the detached fakes: the official ``(D_realface + D_fakeface) * 0.5`` with each frame's term x0.5.
   D_f (``NLayerDiscriminator``, BatchNorm, no sigmoid) sees ``cat(x_crop, crop)``: 6 channels (official),
   or the crop alone (3) for Lotayou's G_f, which sees no pose;
6. G_f's Adam step, then D_f's (lr 2e-4, betas (0.5, 0.999), the body stages' schedule).

Where this leaves the official code, and why:

* **D_f sees one crop per call.** Its BatchNorm then normalises each crop on its own, as in the official code,
  whose batch is one pair (its face box is read for the first sample only). It also makes frames
  independent: a frame without a head changes nothing for the others, and N processes train as 1.
* **Face losses only.** The official G_f is also trained through the full frames (the enhanced face is
  pasted into them and judged by the body D, its feature matching and the full-frame VGG; the enhanced first
  frame feeds G for the second), and after ``--niter_fix_main`` epochs the body D trains again. Here G_f
  learns from the face terms above, no feature matching (the official face terms have none) and no image
  pool (``pool_size`` 0); nothing outside the face enhancer changes, and the frames G_f learns on are the
  ones inference gives it.
* **Each frame has its own box** (the official code uses the first frame's box for both), as inference does.
* **A step without any head** in the whole step's batch computes no loss and takes no optimizer step (Adam's
  moments stay), but counts as a step: the data order and the learning rate stay functions of the step
  number, so resume stays exact. Its logged losses are 0 with ``faces`` 0.

Processes: G_f and D_f are not wrapped in DDP. Each process divides its frames' losses by the step's global
number of heads (one all-reduce of a count), and the processes sum their gradients (one all-reduce per
network per step), so N processes with batch b train as 1 process with batch N*b whichever frames lack a
head, and a process without a head in a step still takes part. Lotayou's BatchNorm G_f normalises over each
process's crops (as DDP without SyncBatchNorm): only the official variant trains identically on N processes.
D_f's BatchNorm running statistics are tracked per process (rank 0's are saved); D_f only ever runs in
training mode, where they are not used.

Checkpoints hold each trained tensor once: ``face_enhancer/`` (a diffusers folder), ``face_discriminator.
safetensors``, the Adam moments and RNG states in accelerate's files; ``trainer_state.json`` names the body
generator's folder and a fingerprint of its tensors, and resuming with another body is refused. A checkpoint
loads as a pipeline (``magicpose infer --generator pose2vid --weights <checkpoint>``) with that body.
``final/`` is a complete ``Pose2VidPipeline`` folder: the body generator's folder copied byte for byte, and
the trained face enhancer.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import Tensor

from magicpose.data.consecutive import check_keypoints, keypoint_file, read_frame_pose
from magicpose.errors import InputError
from magicpose.models.face_enhancer import FaceBox, crop, face_box, face_box_size
from magicpose.models.losses import discriminator_loss, lsgan_loss
from magicpose.models.pix2pixhd import NLayerDiscriminator
from magicpose.models.pose2vid import FACE_SIZES, FaceEnhancer
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
from magicpose.training import checkpoints
from magicpose.training.pose2vid_config import Pose2VidFaceTrainingConfig
from magicpose.training.pose2vid_trainer import Pose2VidTrainer, generator_folder, load_generator

FACE_FOLDER = "face_enhancer"
FACE_DISCRIMINATOR_FILE = "face_discriminator.safetensors"
STAGE = "pose2vid_face"


def build_face_enhancer(cfg: Pose2VidFaceTrainingConfig) -> FaceEnhancer:
    m = cfg.model
    # feedback "body": this stage trains on the frozen body's frames, each generated from the body's previous
    # frame; the feathered paste is this package's default for its own face enhancers
    return FaceEnhancer(
        variant=m.variant,
        ngf=m.ngf,
        n_downsampling=m.n_downsampling,
        n_blocks=m.n_blocks,
        size_fraction=m.size_fraction,
        paste="feather",
        feedback="body",
    )


def build_face_discriminator(cfg: Pose2VidFaceTrainingConfig) -> NLayerDiscriminator:
    # (pose crop, face crop) for the pose-conditioned official G_f; the face crop alone for Lotayou's
    channels = 6 if cfg.model.variant == "official" else 3
    d = cfg.discriminator
    return NLayerDiscriminator(channels, ndf=d.ndf, n_layers=d.n_layers, norm="batch")


def fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state dict (names and bytes): the body generator a face run trained with."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class FaceStageTrainer(Pose2VidTrainer):
    """The face stage: ``self.generator`` and ``self.discriminator`` are G_f and D_f (the trained networks,
    as in the body stages, so the loop, the schedule and the clipping are the base class's); ``self.body`` is
    the frozen pose2vid generator."""

    cfg: Pose2VidFaceTrainingConfig
    needs_keypoints = True

    # -- set-up -----------------------------------------------------------------------------------

    def check_run_needs(self) -> None:
        """The body generator, the crop size and the validation keypoints, before anything is written."""
        cfg = self.cfg
        self.body_folder = generator_folder(cfg.model.init_from)
        body = load_generator(self.body_folder)
        height, width = cfg.data.height, cfg.data.width
        if height % body.size_multiple or width % body.size_multiple:
            raise InputError(
                f"data.height and data.width must be multiples of {body.size_multiple} for the "
                f"body generator in '{self.body_folder}', got {height}x{width}"
            )
        self.body = body.to(self.accelerator.device).eval().requires_grad_(False)
        self.body_fingerprint = fingerprint(self.body)
        self.init_note = f"body generator from {self.body_folder}, frozen"
        downsamplings = cfg.model.n_downsampling
        if downsamplings is None:
            downsamplings = FACE_SIZES[cfg.model.variant][1]
        self.crop_size = face_box_size(width, height, cfg.model.size_fraction, 2**downsamplings)
        if self.crop_size is None:
            raise InputError(
                f"{width}x{height} frames are too small for head crops of at least "
                f"{2 ** (downsamplings + 1)} px (the face generator halves them {downsamplings} "
                "times): raise data.height and data.width"
            )
        if cfg.validation.every_steps:  # the preview shows the face enhancer: the frames need keypoints
            split = cfg.validation.split or cfg.data.split
            check_keypoints(cfg.data.root, split, checkpoints.validation_videos(cfg.data.root, split)[:1])
        super().check_run_needs()

    def build_networks(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        face, discriminator = build_face_enhancer(cfg), build_face_discriminator(cfg)
        betas = (cfg.train.adam_beta1, cfg.train.adam_beta2)
        self.generator, self.discriminator = face.to(acc.device).train(), discriminator.to(acc.device).train()
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.train.learning_rate, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.train.learning_rate, betas=betas)
        # Only the optimizers are prepared: gradients are summed across processes by _sync_gradients.
        self.opt_g, self.opt_d = acc.prepare(opt_g, opt_d)

    @property
    def body_generator(self):
        return self.body

    @property
    def stage_name(self) -> str:
        return "pose2vid face"

    # -- one step -------------------------------------------------------------------------------

    def head_boxes(self, keypoints: Tensor) -> list[FaceBox | None]:
        """(B, 18, 3) keypoints in the training frame -> each frame's head box (None: no visible head)."""
        cfg, face = self.cfg, self.unwrapped_generator
        rule = "lotayou" if face.config.variant == "lotayou" else "official"  # as the pipeline crops
        return [
            face_box(
                body.numpy(),
                cfg.data.width,
                cfg.data.height,
                face.config.size_fraction,
                face.size_multiple,
                rule,
            )
            for body in keypoints.detach().cpu()
        ]

    @torch.no_grad()
    def face_crops(self, batch: dict) -> dict:
        """The frozen body's frames for the batch and the head crops of every frame that shows a head:
        ``pose`` (in G's pose range), ``generated`` (G's frame) and ``real``, each (N, 3, s, s), previous
        frames first; ``boxes``: (frame, sample, box) of each crop, frame 0 being ``t-1``."""
        pose_prev, pose, real_prev, real = self._inputs(batch)
        with self.accelerator.autocast():
            fake_prev = self.body(pose_prev, torch.zeros_like(real_prev))
            fake = self.body(pose, fake_prev)
        crops: dict = {"pose": [], "generated": [], "real": [], "boxes": []}
        frames = ((pose_prev, fake_prev, real_prev, "keypoints_prev"), (pose, fake, real, "keypoints"))
        for t, (x, y, r, key) in enumerate(frames):
            for i, box in enumerate(self.head_boxes(batch[key])):
                if box is not None:
                    crops["boxes"].append((t, i, box))
                    for name, images in (("pose", x), ("generated", y), ("real", r)):
                        crops[name].append(crop(images[i], box))
        empty = torch.zeros(0, 3, self.crop_size, self.crop_size, device=self.accelerator.device)
        return {k: v if k == "boxes" else (torch.stack(v) if v else empty) for k, v in crops.items()}

    def _d_input(self, pose_crop: Tensor, face_crop: Tensor) -> Tensor:
        return torch.cat([pose_crop, face_crop], 1) if self.unwrapped_generator.uses_pose else face_crop

    def _judge(self, pose_crops: Tensor, face_crops: Tensor, target_is_real: bool) -> Tensor:
        """``sum_i LSGAN(D_f(crop i) -> target)``, D_f called on each crop alone (see the module notes)."""
        total = face_crops.new_zeros(())
        for i in range(len(face_crops)):
            outputs = self.discriminator(self._d_input(pose_crops[i : i + 1], face_crops[i : i + 1]))
            total = total + lsgan_loss(outputs, target_is_real)
        return total

    def face_generator_losses(self, crops: dict, heads: int) -> tuple[dict[str, Tensor], Tensor]:
        """G_f's terms on this process's crops, each a sum over its frames divided by ``heads``, the step's
        number of frames with a head over all processes; and the enhanced crops."""
        n = len(crops["real"])
        with self.accelerator.autocast():
            fake = self.generator(crops["generated"], crops["pose"]) if n else crops["generated"]
            terms = {"g_gan": self._judge(crops["pose"], fake, True) / heads}
            if self.vgg is not None:
                # the VGG loss is a mean over the crops of the batch: times n, a sum over the frames
                terms["g_vgg"] = self.vgg(fake, crops["real"]) * (n / heads) if n else fake.new_zeros(())
            if self.cfg.loss.l1_weight:  # not in EDN (see LossConfig.l1_weight); a sum over frames, like VGG
                l1 = F.l1_loss(fake.float(), crops["real"].float()) * (n / heads) if n else fake.new_zeros(())
                terms["g_l1"] = self.cfg.loss.l1_weight * l1
        return terms, fake

    def face_discriminator_loss(self, crops: dict, fake: Tensor, heads: int) -> Tensor:
        """D_f's loss on this process's crops: ``sum_i 0.5 * (real_i + fake_i) / heads`` (fakes detached)."""
        fake = fake.detach()
        with self.accelerator.autocast():
            loss = fake.new_zeros(())
            for i in range(len(fake)):
                pose_crop = crops["pose"][i : i + 1]
                pred_fake = self.discriminator(
                    self._d_input(pose_crop, fake[i : i + 1])
                )  # the official order
                pred_real = self.discriminator(self._d_input(pose_crop, crops["real"][i : i + 1]))
                loss = loss + discriminator_loss(pred_real, pred_fake)
        return loss / heads

    def _sum_over_processes(self, values: Tensor) -> Tensor:
        if self.accelerator.num_processes > 1:
            torch.distributed.all_reduce(values)
        return values

    def _sync_gradients(self, module: torch.nn.Module) -> None:
        """Sum every process's gradients into each (a process without a head contributes zeros)."""
        if self.accelerator.num_processes == 1:
            return
        params = list(module.parameters())
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        offset = 0
        for p in params:
            p.grad = flat[offset : offset + p.numel()].view_as(p)
            offset += p.numel()

    def _optimizer_step(self, loss: Tensor, has_frames: bool, module: torch.nn.Module, optimizer) -> None:
        if has_frames:
            self.accelerator.backward(loss)
        self._sync_gradients(module)
        self._clip(module)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def train_step(self, batch: dict) -> dict[str, float]:
        """One G_f step then one D_f step; returns the step's loss terms over all processes, and ``faces``,
        its number of frames with a head."""
        acc = self.accelerator
        self._set_learning_rate(self.learning_rate(self.global_step))
        crops = self.face_crops(batch)
        n = len(crops["real"])
        heads = int(self._sum_over_processes(torch.tensor([float(n)], device=acc.device)).item())
        names = [
            "g_gan",
            *(["g_vgg"] if self.vgg is not None else []),
            *(["g_l1"] if self.cfg.loss.l1_weight else []),
        ]
        if heads == 0:  # nothing to learn from in this step: no update, but the step counts
            return {"g": 0.0, **dict.fromkeys(names, 0.0), "d": 0.0, "faces": 0}

        terms, fake = self.face_generator_losses(crops, heads)
        loss_g = sum(terms.values())
        self._optimizer_step(loss_g, n > 0, self.generator, self.opt_g)
        self.opt_d.zero_grad(set_to_none=True)  # drop what G_f's loss put into D_f's gradients
        loss_d = self.face_discriminator_loss(crops, fake, heads)
        self._optimizer_step(loss_d, n > 0, self.discriminator, self.opt_d)
        logged = self._sum_over_processes(
            torch.stack([terms[k].detach().float() for k in names] + [loss_d.detach().float()])
        )
        values = dict(zip([*names, "d"], logged.tolist(), strict=True))
        return {"g": sum(values[k] for k in names), **values, "faces": heads}

    # -- saving -----------------------------------------------------------------------------------

    def pipeline(self) -> Pose2VidPipeline:
        pipe = Pose2VidPipeline(generator=self.body, face_enhancer=self.unwrapped_generator)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def inputs(self) -> list[Path]:
        return [self.body_folder]

    def trained_networks(self) -> dict[str, torch.nn.Module]:
        return {"face enhancer": self.unwrapped_generator, "face discriminator": self.discriminator}

    def checkpoint_state(self) -> dict:
        return {
            "stage": STAGE,
            "body_generator": str(self.body_folder.resolve()),
            "body_fingerprint": self.body_fingerprint,
        }

    def save_networks(self, models: list, weights: list, output_dir: str) -> None:
        """accelerate's save hook: G_f as a diffusers folder, D_f as one safetensors file; the frozen body is
        named in trainer_state.json, not copied."""
        if self.accelerator.is_main_process:
            self.unwrapped_generator.save_pretrained(Path(output_dir) / FACE_FOLDER)
            save_file(self.discriminator.state_dict(), str(Path(output_dir) / FACE_DISCRIMINATOR_FILE))
        weights.clear()

    def load_networks(self, models: list, input_dir: str) -> None:
        state = checkpoints.read_state(Path(input_dir))
        if state.get("body_fingerprint") != self.body_fingerprint:
            raise InputError(
                f"checkpoint '{input_dir}' was trained on another body generator "
                f"('{state.get('body_generator')}') than model.init_from holds "
                f"('{self.body_folder}'): resume with the body it was trained on"
            )
        checkpoints.load_module_weights(self.unwrapped_generator, Path(input_dir) / FACE_FOLDER)
        discriminator = load_file(str(Path(input_dir) / FACE_DISCRIMINATOR_FILE))
        self.discriminator.load_state_dict(discriminator, strict=True)
        models.clear()

    def _write_final(self, folder: Path) -> None:
        """The pipeline with the body generator's own folder copied byte for byte (its dtype included)."""
        super()._write_final(folder)
        shutil.rmtree(folder / "generator")
        shutil.copytree(self.body_folder, folder / "generator")

    def _validation_keypoints(self, video, frames: list) -> list:
        root, split = self.cfg.data.root, self.cfg.validation.split or self.cfg.data.split
        poses = []
        for frame in frames:
            with Image.open(frame.image) as image:
                size = image.size
            poses.append(read_frame_pose(keypoint_file(root, split, video.name, frame.name), size))
        return poses


def describe_face(trainer: FaceStageTrainer) -> str:
    cfg, acc = trainer.cfg, trainer.accelerator
    train, face, body = cfg.train, trainer.unwrapped_generator, trainer.body

    def millions(module: torch.nn.Module) -> str:
        return f"{sum(p.numel() for p in module.parameters()) / 1e6:.2f}M"

    schedule = f"lr {train.learning_rate:g}, " + (
        f"falling linearly to 0 over the last {train.decay_steps} steps" if train.decay_steps else "constant"
    )
    crops = f"{trainer.crop_size}x{trainer.crop_size}"
    return (
        f"pose2vid face: face enhancer ({face.config.variant}) {millions(face)} parameters on {crops} "
        f"head crops, face discriminator {millions(trainer.discriminator)}; "
        f"{body.config.architecture} body generator {millions(body)} from {trainer.body_folder}, frozen; "
        f"VGG loss {'on' if trainer.vgg is not None else 'off'}; {acc.num_processes} process(es); "
        f"{len(trainer.dataset)} frame pairs in {len(trainer.dataset.videos)} video(s), "
        f"{trainer.batches_per_epoch} batches per epoch per process; {train.max_steps} steps of "
        f"{trainer.samples_per_step} samples = {train.max_steps / trainer.batches_per_epoch:.2f} epochs; "
        f"{schedule}"
    )
