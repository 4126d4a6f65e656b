"""vid2vid pose2body training: what the shared loop (:mod:`magicpose.training.loop`) runs, as NVIDIA's
``train.py`` / ``vid2vid_model_D.py`` do it for the pose scripts (``--no_first_img``).

One training step takes a batch of clips (``ClipDataset``: ``train.max_frames_total`` consecutive frames) and
uses the first ``clip_length(step)`` frames (``n_frames_total``, doubling every ``grow_every`` steps). The
frames ``n_frames_G - 1 ..`` are generated one after another, ``max_frames_per_gpu`` at a time; each group is
one update of G, then D, then the temporal D (the original's inner loop over ``n_frames_load``). Within a
clip the previous frames fed back are detached every frame (``max_frames_backpropagate 1``); the first group
hallucinates its frames without warping (``use_raw_only``), zeros standing in for the frames before it.

Losses per group, each a mean over its frames (``B x n``):

* G: LSGAN of the image D on the final and on the raw (hallucinated) frame, each with feature matching
  (``lambda_feat``), VGG on both (``vgg_weight``; or ``l1_weight``, not in vid2vid, for runs without VGG19);
  the flow terms with the reference flow (``loss.flow_net_path``, :mod:`.flow_reference`): ``F_Flow =
  masked_l1(flow, ref) * lambda_F / 2**(scales-1)``, ``F_Warp = masked_l1(warp(real_prev, flow), real) *
  lambda_T``, ``W = masked_l1(weight, 0)``, ``G_Warp = masked_l1(fake, warp(fake_prev, ref)) * lambda_T``, all
  masked by the reference's confidence; the temporal D's LSGAN and feature matching.
* Without a reference flow (no flow network here): the flow head learns from ``F_Warp`` unmasked (the
  photometric warp of the real frames) only; ``F_Flow``, ``W`` and ``G_Warp`` are off and the temporal D
  sees zero flows. The trainer says so in one line at start-up.
* D: ``0.5 * (real + fake + real + raw)`` as the original sums its final- and raw-frame terms.
* temporal D, scale s: clips of ``n_frames_D`` frames ``n_frames_D**s`` apart ending at each generated frame
  (real ones, and generated ones with the earlier generated frames detached), with the reference flows
  between them divided by 20, ``0.5 * (real + fake)``.

Coarse to fine (``model.init_from``, ``train.fix_global_steps``): a coarser run's scales are loaded into this
generator's coarser scales (:func:`initialise_coarser_scales`); during the first ``fix_global_steps`` steps
their gradients are dropped before G's step, so only the finest scale trains, and G's Adam then restarts over
every scale (as pose2vid's local stage does it, :func:`~.pose2vid_trainer.drop_fixed_gradients`).

Everything else (sharding, exact resume, checkpoints, the learning-rate decay) is the loop's and pose2vid's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from magicpose import files
from magicpose.data.clips import ClipDataset
from magicpose.errors import InputError
from magicpose.models.losses import VGGPerceptualLoss, discriminator_loss, feature_matching_loss, lsgan_loss
from magicpose.models.pix2pixhd import MultiscaleDiscriminator
from magicpose.models.vid2vid import FLOW_SCALE, Vid2VidGenerator, warp
from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline
from magicpose.training import checkpoints
from magicpose.training.flow_reference import FlowReference, load_flow_reference, masked_l1
from magicpose.training.loop import TrainingLoop
from magicpose.training.pose2vid_trainer import (
    drop_fixed_gradients,
    restart_after_fixed_steps,
    sequential_validation_rows,
)
from magicpose.training.vid2vid_config import Vid2VidTrainingConfig, clip_length
from magicpose.weights import load_vid2vid_pipeline

DISCRIMINATOR_FILE = "discriminator.safetensors"
TEMPORAL_FILE = "temporal_discriminator.safetensors"


class TemporalDiscriminators(nn.Module):
    """One multiscale discriminator per temporal scale, on ``n_frames_D`` frames and the flows between them."""

    def __init__(self, n_scales: int, n_frames: int, ndf: int, n_layers: int, num_D: int) -> None:
        super().__init__()
        channels = 3 * n_frames + 2 * (n_frames - 1)
        self.scales = nn.ModuleList(
            MultiscaleDiscriminator(channels, ndf, n_layers, num_D) for _ in range(n_scales)
        )

    def forward(self, clips: Tensor, scale: int):
        return self.scales[scale](clips)


# The generator's settings that model.* holds, under the same names.
GENERATOR_FIELDS = (
    "n_frames_G",
    "ngf",
    "n_downsample_G",
    "n_blocks",
    "n_blocks_local",
    "n_scales_spatial",
    "norm",
    "no_flow",
)


def build_generator(cfg: Vid2VidTrainingConfig) -> Vid2VidGenerator:
    fields = {name: getattr(cfg.model, name) for name in GENERATOR_FIELDS}
    return Vid2VidGenerator(
        pose_channels=3, image_channels=3, **fields, sample_size=(cfg.data.height, cfg.data.width)
    )


def coarser_run_folder(path: str | Path) -> Path:
    """The pipeline folder model.init_from names: a run folder's ``final/``, else the folder itself (a
    Vid2VidPipeline folder or a checkpoint folder)."""
    folder = Path(path)
    return folder / "final" if (folder / "final" / "model_index.json").is_file() else folder


def initialise_coarser_scales(generator: Vid2VidGenerator, path: str | Path) -> str:
    """Load a coarser run's generator (one spatial scale fewer) into ``generator``'s coarser scales, scale by
    scale (the original's 512p run loads the 256p run's net_G0); the finest scale keeps its initialisation.
    Weights that do not fit (another family, another number of scales, other sizes) are one line."""
    folder = coarser_run_folder(path)
    try:
        source = load_vid2vid_pipeline(folder).generator
    except InputError as err:
        raise InputError(f"model.init_from: {err}") from None
    src, dst = source.config, generator.config
    if src.n_scales_spatial != dst.n_scales_spatial - 1:
        raise InputError(
            f"model.init_from '{folder}' has n_scales_spatial={src.n_scales_spatial}, this run needs "
            f"{dst.n_scales_spatial - 1} (one scale fewer than model.n_scales_spatial={dst.n_scales_spatial}): "
            "pass the run of the next coarser resolution"
        )
    for name in ("pose_channels", "image_channels", *GENERATOR_FIELDS):
        if name != "n_scales_spatial" and getattr(src, name) != getattr(dst, name):
            raise InputError(
                f"model.init_from '{folder}' has {name}={getattr(src, name)}, this run needs "
                f"{getattr(dst, name)}: set model.* to match the coarser run"
            )
    for coarse, scale in zip(source.scales, generator.scales, strict=False):
        scale.load_state_dict(coarse.state_dict(), strict=True)
    return f"initialised scale(s) 0-{src.n_scales_spatial - 1} from the coarser run in {folder}"


def _frames(x: Tensor) -> Tensor:
    """(B, n, C, H, W) -> (B * n, C, H, W)."""
    return x.reshape(-1, *x.shape[2:])


class Vid2VidTrainer(TrainingLoop):
    cfg: Vid2VidTrainingConfig
    tracker_project = "magicpose_vid2vid"
    dataset_unit = "clips"
    # the first group of a clip composites nothing, so the occlusion-weight head gets no gradient there
    find_unused_parameters = True

    @property
    def stage_name(self) -> str:
        return "vid2vid"

    def build_dataset(self) -> ClipDataset:
        return self.dataset_from_config(ClipDataset, length=self.cfg.train.max_frames_total)

    def prepare(self) -> None:
        loss, device = self.cfg.loss, self.accelerator.device
        self.vgg = None
        if loss.vgg_weight:
            try:
                self.vgg = VGGPerceptualLoss.from_file(loss.vgg19_path, weight=loss.vgg_weight).to(device)
            except InputError as err:
                raise InputError(
                    f"loss.vgg19_path: {err} (loss.vgg_weight=0 turns the VGG term off)"
                ) from err
        self.flow: FlowReference | None = None
        if loss.flow_net_path:
            self.flow = load_flow_reference(loss.flow_net_path, loss.flow_net, loss.conf_threshold, device)

    def inputs(self) -> list:
        return [coarser_run_folder(self.cfg.model.init_from)] if self.cfg.model.init_from else []

    def build_networks(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        generator = build_generator(cfg)
        d, t = cfg.discriminator, cfg.temporal
        discriminator = MultiscaleDiscriminator(3 + 3, ndf=d.ndf, n_layers=d.n_layers, num_D=d.num_D)
        temporal = TemporalDiscriminators(t.n_scales_temporal, t.n_frames_D, t.ndf, t.n_layers, t.num_D)
        init_from = cfg.model.init_from
        self.init_note = initialise_coarser_scales(generator, init_from) if init_from else None
        # The coarser scales' tensors, held out of G's step while train.fix_global_steps lasts.
        self.coarse_params = [p for scale in generator.scales[:-1] for p in scale.parameters()]
        betas = (cfg.train.adam_beta1, cfg.train.adam_beta2)
        optimizers = [
            torch.optim.Adam(net.parameters(), lr=cfg.train.learning_rate, betas=betas)
            for net in (generator, discriminator, temporal)
        ]
        (self.generator, self.discriminator, self.temporal, self.opt_g, self.opt_d, self.opt_t) = acc.prepare(
            generator, discriminator, temporal, *optimizers
        )
        for net in (self.generator, self.discriminator, self.temporal):
            net.train()

    @property
    def unwrapped_generator(self) -> Vid2VidGenerator:
        return self.accelerator.unwrap_model(self.generator)

    # -- one step -------------------------------------------------------------------------------

    def learning_rate(self, step: int) -> float:
        """Constant, then linear to 0 over the last ``decay_steps`` (as pose2vid)."""
        train = self.cfg.train
        if not train.decay_steps:
            return train.learning_rate
        return train.learning_rate * min(1.0, (train.max_steps - step) / train.decay_steps)

    def _update(self, loss: Tensor, module: nn.Module, optimizer, fixed: list = ()) -> None:
        """One optimizer step on ``loss``; ``fixed`` parameters keep their values (the fixed phase)."""
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        drop_fixed_gradients(fixed, self.global_step, self.cfg.train.fix_global_steps)
        if self.cfg.train.max_grad_norm:
            params = [p for p in module.parameters() if p.grad is not None]
            self.accelerator.clip_grad_norm_(params, self.cfg.train.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def _reference(self, current: Tensor, previous: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """The reference flow and confidence for (B, n, 3, H, W) frame pairs, flattened to (B * n, ...)."""
        if self.flow is None:
            return None, None
        return self.flow(_frames(current), _frames(previous))

    def _temporal_clips(self, frames: Tensor, first: int, ends: range, scale: int) -> Tensor | None:
        """(B, T, 3, H, W) frames indexed from ``first``: for each end in ``ends``, the ``n_frames_D`` frames
        ``n_frames_D**scale`` apart ending there, with the reference flows between them / 20 (zeros without a
        reference), as (B * clips, channels, H, W); None when no clip fits."""
        n, k = self.cfg.temporal.n_frames_D, self.cfg.temporal.n_frames_D**scale
        clips = []
        for end in ends:
            picks = [end - k * j for j in range(n - 1, -1, -1)]
            if picks[0] < first:
                continue
            chosen = frames[:, [p - first for p in picks]]  # (B, n, 3, H, W)
            flows = []
            for j in range(1, n):
                flow, _ = self._reference(chosen[:, j : j + 1], chosen[:, j - 1 : j])
                flows.append(torch.zeros_like(chosen[:, 0, :2]) if flow is None else flow / FLOW_SCALE)
            clips.append(torch.cat([chosen.reshape(chosen.shape[0], -1, *chosen.shape[-2:]), *flows], dim=1))
        return torch.cat(clips) if clips else None

    def _group_losses(self, fake, raw, flow, weight, real, real_prev, fake_prev, pose, history, ends):
        """G's terms for one group of generated frames, and what the D steps need."""
        cfg, loss = self.cfg, self.cfg.loss
        fake_f, raw_f, real_f, prev_f, pose_f = (_frames(x) for x in (fake, raw, real, real_prev, pose))
        flow_ref, conf = self._reference(real, real_prev)
        terms: dict[str, Tensor] = {}
        with self.accelerator.autocast():
            pred_real = self.discriminator(torch.cat([pose_f, real_f], 1))
            pred_fake = self.discriminator(torch.cat([pose_f, fake_f], 1))
            pred_raw = self.discriminator(torch.cat([pose_f, raw_f], 1))
            terms["g_gan"] = lsgan_loss(pred_fake, True) + lsgan_loss(pred_raw, True)
            terms["g_feat"] = feature_matching_loss(
                pred_fake, pred_real, loss.lambda_feat
            ) + feature_matching_loss(pred_raw, pred_real, loss.lambda_feat)
            if self.vgg is not None:
                terms["g_vgg"] = self.vgg(fake_f, real_f) + self.vgg(raw_f, real_f)
            if loss.l1_weight:
                terms["g_l1"] = loss.l1_weight * (F.l1_loss(fake_f, real_f) + F.l1_loss(raw_f, real_f))
            if flow is not None:
                flow_f, weight_f = _frames(flow), _frames(weight)
                terms["f_warp"] = masked_l1(warp(prev_f, flow_f), real_f, conf) * loss.lambda_T
                if flow_ref is not None:
                    scales = cfg.model.n_scales_spatial
                    terms["f_flow"] = masked_l1(flow_f, flow_ref, conf) * loss.lambda_F / 2 ** (scales - 1)
                    terms["w"] = masked_l1(weight_f, torch.zeros_like(weight_f), conf)
            if flow_ref is not None:
                target = warp(_frames(fake_prev), flow_ref).detach()
                terms["g_warp"] = masked_l1(fake_f, target, conf) * loss.lambda_T
            temporal = []
            real_hist, fake_hist, first = history
            for s in range(cfg.temporal.n_scales_temporal):
                real_clips = self._temporal_clips(torch.cat([real_hist, real], 1), first, ends, s)
                if real_clips is None:
                    continue
                fake_clips = self._temporal_clips(torch.cat([fake_hist, fake], 1), first, ends, s)
                t_real, t_fake = self.temporal(real_clips, s), self.temporal(fake_clips, s)
                terms[f"g_t{s}_gan"] = lsgan_loss(t_fake, True)
                terms[f"g_t{s}_feat"] = feature_matching_loss(t_fake, t_real, loss.lambda_feat)
                temporal.append((s, fake_clips, t_real))
        saved = {"pose": pose_f, "fake": fake_f, "raw": raw_f, "pred_real": pred_real, "temporal": temporal}
        return terms, saved

    def train_step(self, batch: dict) -> dict[str, float]:
        """Every group of the clip: G, D and temporal D updates; returns the groups' mean loss terms."""
        cfg, acc = self.cfg, self.accelerator
        lr = self.learning_rate(self.global_step)
        for optimizer in (self.opt_g, self.opt_d, self.opt_t):
            for group in optimizer.param_groups:
                group["lr"] = lr
        restart_after_fixed_steps(self.opt_g, self.global_step, cfg.train.fix_global_steps)
        length, tG = clip_length(cfg.train, self.global_step), cfg.model.n_frames_G
        poses = batch["poses"][:, :length].to(acc.device).float() / 255.0 * 2 - 1
        real = batch["frames"][:, :length].to(acc.device)
        b, _, _, h, w = real.shape
        generator = self.unwrapped_generator
        previous = generator.initial_previous(b, h, w)
        fake_last = real[
            :, tG - 2 : tG - 1
        ]  # the original's fake_B_prev of the first group: the real frame before
        keep = (cfg.temporal.n_frames_D - 1) * cfg.temporal.n_frames_D ** (cfg.temporal.n_scales_temporal - 1)
        real_hist, fake_hist = real[:, :0], real[:, :0]
        logged: list[dict[str, float]] = []
        starts = range(tG - 1, length, cfg.train.max_frames_per_gpu)
        for group, start in enumerate(starts):
            ends = range(start, min(start + cfg.train.max_frames_per_gpu, length))
            steps = []
            for t in ends:
                window = poses[:, t - tG + 1 : t + 1].reshape(b, -1, h, w)
                with acc.autocast():
                    out = self.generator(window, [p.detach() for p in previous], use_raw_only=group == 0)
                previous = generator.next_previous(previous, out)
                steps.append(out)
            fake = torch.stack([o.frame for o in steps], 1)
            raw = torch.stack([o.raw for o in steps], 1)
            flow = torch.stack([o.flow for o in steps], 1) if steps[0].flow is not None else None
            weight = torch.stack([o.weight for o in steps], 1) if steps[0].weight is not None else None
            fake_prev = torch.cat([fake_last, fake[:, :-1].detach()], 1)
            first = ends[0] - real_hist.shape[1]
            terms, saved = self._group_losses(
                fake,
                raw,
                flow,
                weight,
                real[:, ends.start : ends.stop],
                real[:, ends.start - 1 : ends.stop - 1],
                fake_prev,
                poses[:, ends.start : ends.stop],
                (real_hist, fake_hist, first),
                ends,
            )
            loss_g = sum(terms.values())
            self._update(loss_g, self.generator, self.opt_g, fixed=self.coarse_params)
            loss_d, loss_t = self._discriminator_losses(saved)
            self._update(loss_d, self.discriminator, self.opt_d)
            if loss_t is not None:
                self._update(loss_t, self.temporal, self.opt_t)
            values = {
                "g": loss_g.item(),
                **{k: v.item() for k, v in terms.items()},
                "d": loss_d.item(),
                "d_t": 0.0 if loss_t is None else loss_t.item(),
            }
            logged.append(values)
            fake_last = fake[:, -1:].detach()
            real_hist = (
                torch.cat([real_hist, real[:, ends.start : ends.stop]], 1)[:, -keep:] if keep else real_hist
            )
            fake_hist = torch.cat([fake_hist, fake.detach()], 1)[:, -keep:] if keep else fake_hist
        names = dict.fromkeys(k for values in logged for k in values)
        return {k: float(np.mean([values.get(k, 0.0) for values in logged])) for k in names}

    def _discriminator_losses(self, saved: dict) -> tuple[Tensor, Tensor | None]:
        with self.accelerator.autocast():
            pose = saved["pose"]
            fake = self.discriminator(torch.cat([pose, saved["fake"].detach()], 1))
            raw = self.discriminator(torch.cat([pose, saved["raw"].detach()], 1))
            real = saved["pred_real"]
            loss_d = 0.5 * (
                lsgan_loss(real, True)
                + lsgan_loss(fake, False)
                + lsgan_loss(real, True)
                + lsgan_loss(raw, False)
            )
            loss_t = None
            for s, fake_clips, t_real in saved["temporal"]:
                t_fake = self.temporal(fake_clips.detach(), s)
                term = discriminator_loss(t_real, t_fake)
                loss_t = term if loss_t is None else loss_t + term
        return loss_d, loss_t

    def progress_postfix(self, losses: dict[str, float]) -> dict[str, str]:
        return {"G": f"{losses['g']:.3f}", "D": f"{losses['d']:.3f}", "D_T": f"{losses['d_t']:.3f}"}

    def logged(self, losses: dict[str, float]) -> dict[str, float]:
        return {
            **super().logged(losses),
            "lr": self.learning_rate(self.global_step - 1),
            "clip_length": clip_length(self.cfg.train, self.global_step - 1),
        }

    # -- saving -----------------------------------------------------------------------------------

    def pipeline(self) -> Vid2VidPipeline:
        pipe = Vid2VidPipeline(generator=self.unwrapped_generator)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def trained_networks(self) -> dict[str, nn.Module]:
        unwrap = self.accelerator.unwrap_model
        return {
            "generator": self.unwrapped_generator,
            "discriminator": unwrap(self.discriminator),
            "temporal discriminator": unwrap(self.temporal),
        }

    def save_networks(self, models: list, weights: list, output_dir: str) -> None:
        """G as a Vid2VidPipeline folder, the discriminators as one safetensors file each."""
        if self.accelerator.is_main_process:
            self.pipeline().save_pretrained(output_dir)
            networks = self.trained_networks()
            save_file(networks["discriminator"].state_dict(), str(Path(output_dir) / DISCRIMINATOR_FILE))
            save_file(networks["temporal discriminator"].state_dict(), str(Path(output_dir) / TEMPORAL_FILE))
        weights.clear()

    def load_networks(self, models: list, input_dir: str) -> None:
        networks = self.trained_networks()
        checkpoints.load_module_weights(networks["generator"], Path(input_dir) / "generator")
        networks["discriminator"].load_state_dict(
            load_file(str(Path(input_dir) / DISCRIMINATOR_FILE)), strict=True
        )
        networks["temporal discriminator"].load_state_dict(
            load_file(str(Path(input_dir) / TEMPORAL_FILE)), strict=True
        )
        models.clear()

    def write_final(self) -> None:
        """``final/``: a complete Vid2VidPipeline folder, written under a temporary name and committed."""
        with files.atomic_path(self.output_dir / "final", kind="training") as tmp:
            self.pipeline().save_pretrained(tmp)

    def validation_rows(self) -> list[np.ndarray]:
        return sequential_validation_rows(self)


def describe(trainer: Vid2VidTrainer) -> str:
    cfg, acc = trainer.cfg, trainer.accelerator
    train = cfg.train
    networks = trainer.trained_networks()
    millions = {name: sum(p.numel() for p in net.parameters()) / 1e6 for name, net in networks.items()}
    growth = (
        f"clips of {train.n_frames_total} frames doubling every {train.grow_every} steps up to "
        f"{train.max_frames_total}"
        if train.grow_every
        else f"clips of {train.n_frames_total} frames"
    )
    flow = (
        "reference flow from " + str(cfg.loss.flow_net_path)
        if trainer.flow is not None
        else "no reference flow network (loss.flow_net_path): the flow head learns from the warp of the real "
        "frames alone, the temporal discriminator sees zero flows"
    )
    return (
        f"vid2vid: generator {millions['generator']:.2f}M parameters ({cfg.model.n_scales_spatial} scale(s)), "
        f"image discriminator {millions['discriminator']:.2f}M, temporal "
        f"{millions['temporal discriminator']:.2f}M ({cfg.temporal.n_scales_temporal} scale(s)); {growth}, "
        f"{train.max_frames_per_gpu} frames per update; VGG loss {'on' if trainer.vgg is not None else 'off'}; "
        f"{flow}; {acc.num_processes} process(es) ({acc.distributed_type}); {len(trainer.dataset)} clips in "
        f"{len(trainer.dataset.videos)} video(s); {train.max_steps} steps of {trainer.samples_per_step} clips"
        + (
            f"; coarser scales fixed for the first {train.fix_global_steps} steps"
            if train.fix_global_steps
            else ""
        )
        + (f"; {trainer.init_note}" if trainer.init_note else "")
    )
