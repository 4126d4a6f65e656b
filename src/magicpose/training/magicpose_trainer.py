"""The MagicPose training loop (both stages), on accelerate.

Stage "appearance" (the original's appearance-control pretraining): the appearance UNet, initialised
as a copy of the main UNet, learns alone; there is no pose path. Stage "pose_control" (appearance-
disentangled pose control): the stage-1 appearance UNet and the OpenPose ControlNet train together.
In both, the main UNet, the VAE and the text encoder are frozen, the prompt is "" (its embedding is
computed once and the text encoder freed), and the loss is epsilon MSE at uniform timesteps.

Fixed against the original: data sharded by rank with per-sample seeds (the noise, timestep and VAE
sample of a sample do not depend on the rank or on the number of processes), the frame-distance
limit honoured, gradients clipped under every precision, exact resume, atomic checkpoints.

Runs unchanged under ``python``, ``torchrun --nproc_per_node N`` and ``accelerate launch`` (DDP, or
DeepSpeed/FSDP by accelerate configuration). On CPU, ``ACCELERATE_USE_CPU=true`` makes torchrun
ranks synchronise over gloo.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import AutocastKwargs, ProjectConfiguration, set_seed
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from omegaconf import OmegaConf
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import CLIPTextModel, CLIPTokenizer

from magicpose import files
from magicpose.data.pairs import PairDataset
from magicpose.data.sampler import ShardedSampler
from magicpose.empty_prompt import (
    EMPTY_PROMPT_FOLDER,
    compute_empty_prompt_embeds,
    load_empty_prompt_embeds,
    save_empty_prompt_embeds,
)
from magicpose.errors import InputError
from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline
from magicpose.training import checkpoints
from magicpose.training.config import TrainingConfig
from magicpose.training.model import MagicPoseTrainingModel
from magicpose.weights import load_as_stored


def _to(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    # Cast only when asked: a no-op float32 cast makes diffusers warn.
    return module.to(device) if dtype == torch.float32 else module.to(device, dtype=dtype)


def _load(cls, folder: Path, what: str, **kwargs):
    if not Path(folder).is_dir():
        raise InputError(f"{what} folder '{folder}' does not exist: check model.* paths in the config")
    try:
        return cls.from_pretrained(folder, **kwargs)
    except Exception as err:
        raise InputError(f"cannot load the {what} from '{folder}' ({str(err).splitlines()[0]}): "
                         "pass a diffusers-format folder") from err


def _tokenizer(pretrained_dir: Path) -> CLIPTokenizer | None:
    folder = pretrained_dir / "tokenizer"
    return CLIPTokenizer.from_pretrained(folder, model_max_length=77) if folder.is_dir() else None


@torch.no_grad()
def empty_prompt_embedding(pretrained_dir: Path) -> torch.Tensor:
    """CLIP embedding of "" (1, 77, dim): the stored one of a converted folder, else computed with the
    text encoder (and the tokenizer when there is one), which is freed right after."""
    stored = load_empty_prompt_embeds(pretrained_dir)
    if stored is not None:
        return stored.float()
    text_encoder = _load(CLIPTextModel, pretrained_dir / "text_encoder", "text encoder")
    try:
        return compute_empty_prompt_embeds(text_encoder, _tokenizer(pretrained_dir))
    except ValueError as err:
        raise InputError(f"'{pretrained_dir}' has no tokenizer/ and no {EMPTY_PROMPT_FOLDER}/ ({err})") from err


def build_models(cfg: TrainingConfig):
    """Frozen VAE and UNet, trainable appearance UNet and (stage 2) ControlNet, per the stage."""
    root = Path(cfg.model.pretrained_dir)
    vae = _load(AutoencoderKL, root / "vae", "VAE")
    unet = _load(UNet2DConditionModel, root / "unet", "main UNet")
    if cfg.model.appearance_unet:
        appearance_unet = _load(UNet2DConditionModel, Path(cfg.model.appearance_unet), "appearance UNet")
    elif cfg.stage == "pose_control":
        raise InputError("stage pose_control needs model.appearance_unet: the stage-1 appearance UNet folder "
                         "(<stage1 output>/final/appearance_unet)")
    else:
        appearance_unet = copy.deepcopy(unet)  # the original initialises it as a copy of the SD UNet
    controlnet = None
    if cfg.stage == "pose_control":
        if cfg.model.controlnet:
            controlnet = _load(ControlNetModel, Path(cfg.model.controlnet), "ControlNet")
        else:
            # The pose-map embedding must downsample as much as the VAE does (SD 1.5: 8, four levels).
            levels = len(vae.config.block_out_channels)
            controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 96, 256)[:levels])
    vae.requires_grad_(False)
    unet.requires_grad_(False)
    return vae, unet, appearance_unet, controlnet


class Trainer:
    def __init__(self, cfg: TrainingConfig, resume: str | None = None) -> None:
        self.cfg = cfg
        self.output_dir = Path(cfg.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=cfg.train.mixed_precision,
            gradient_accumulation_steps=cfg.train.gradient_accumulation_steps,
            # Every weight is used once per forward pass, so autocast's cache of casts saves nothing; it
            # only carries casts from one checkpointed region into another (pytorch/pytorch#193338).
            kwargs_handlers=[AutocastKwargs(cache_enabled=False)],
            log_with="tensorboard" if cfg.logging.report_to == "tensorboard" else None,
            project_config=ProjectConfiguration(project_dir=str(self.output_dir),
                                                logging_dir=str(self.output_dir / "logs")),
        )
        set_seed(cfg.train.seed)
        self.weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(cfg.train.mixed_precision,
                                                                               torch.float32)
        self.dataset = PairDataset(cfg.data.root, cfg.data.split, height=cfg.data.height, width=cfg.data.width,
                                   max_frame_distance=cfg.data.max_frame_distance, seed=cfg.train.seed,
                                   crop=cfg.data.crop, crop_scale=tuple(cfg.data.crop_scale))
        self.sampler = ShardedSampler(len(self.dataset), num_replicas=self.accelerator.num_processes,
                                      rank=self.accelerator.process_index, seed=cfg.train.seed)
        self.batches_per_epoch = len(self.sampler) // cfg.train.batch_size
        if self.batches_per_epoch == 0:
            raise InputError(f"dataset '{cfg.data.root}' has {len(self.dataset)} frames, fewer than one batch of "
                             f"{cfg.train.batch_size} per process x {self.accelerator.num_processes} processes: "
                             "lower train.batch_size")
        self.resume_from = checkpoints.resolve_resume(self.output_dir, resume, stage=cfg.stage)
        self.resume_latest = resume == "latest"
        self._check_run_needs()
        self._build()

    # -- set-up -----------------------------------------------------------------------------------

    def _check_run_needs(self) -> None:
        """Fail now, not after hours of training, on what validation and the final export will need."""
        cfg, root = self.cfg, Path(self.cfg.model.pretrained_dir)
        if cfg.validation.every_steps:
            checkpoints.validation_videos(cfg.data.root, cfg.validation.split or cfg.data.split)
        for name in ("text_encoder", "tokenizer"):  # optional, but exported when present
            folder = root / name
            if folder.exists() and not any((folder / f).is_file() for f in ("config.json", "tokenizer_config.json")):
                raise InputError(f"'{folder}' is not a diffusers/transformers folder (no config file): "
                                 f"remove it or copy the complete {name}")
        start = checkpoints.read_step(self.resume_from) if self.resume_from is not None else 0
        exported = ["final", "pipeline"] if cfg.stage == "pose_control" else ["final"]
        checkpoints.check_replaceable_outputs(self.output_dir, exported, start, cfg.train.max_steps, inputs=[
            cfg.model.pretrained_dir, cfg.model.appearance_unet, cfg.model.controlnet, cfg.data.root])
        checkpoints.check_output_dir(self.accelerator, self.output_dir)

    def _build(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        self.context = empty_prompt_embedding(Path(cfg.model.pretrained_dir)).to(acc.device)
        vae, unet, appearance_unet, controlnet = build_models(cfg)
        # Every module on the training device before its first use (the probe pass below); the frozen
        # ones in the precision of training, the trained ones in float32 (autocast computes in low precision).
        self.vae = _to(vae, acc.device, self.weight_dtype)
        _to(unet, acc.device, self.weight_dtype)
        for trained in (appearance_unet, controlnet):
            if trained is not None:
                trained.to(acc.device)
        model = MagicPoseTrainingModel(appearance_unet, controlnet, unet)
        with acc.autocast():
            self.unused = model.freeze_unused_parameters(*self._probe_inputs(unet))
        if cfg.train.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        model.train()
        unet.eval()
        self.vae.eval()
        appearance_lr = cfg.train.appearance_learning_rate
        groups = [{"params": [p for p in appearance_unet.parameters() if p.requires_grad],
                   "lr": cfg.train.learning_rate if appearance_lr is None else appearance_lr}]
        if controlnet is not None:
            groups.append({"params": [p for p in controlnet.parameters() if p.requires_grad],
                           "lr": cfg.train.learning_rate})
        optimizer = torch.optim.AdamW(groups, betas=(cfg.train.adam_beta1, cfg.train.adam_beta2),
                                      eps=cfg.train.adam_epsilon, weight_decay=cfg.train.weight_decay)
        self.model, self.optimizer = acc.prepare(model, optimizer)
        acc.register_save_state_pre_hook(self._save_trained_modules)
        acc.register_load_state_pre_hook(self._load_trained_modules)
        self.noise_scheduler = MagicPosePipeline.default_scheduler()
        self.alphas_cumprod = self.noise_scheduler.alphas_cumprod.to(acc.device)
        self.global_step = 0
        checkpoint = self.resume_from
        if checkpoint is not None:
            checkpoints.load_state(acc, checkpoint, latest=self.resume_latest)
            self.global_step = checkpoints.read_step(checkpoint)
            acc.print(f"resumed from {checkpoint} at step {self.global_step}")
        if acc.is_main_process:
            files.write_text_atomic(self.output_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(self.cfg)))
            if cfg.logging.report_to == "tensorboard":
                acc.init_trackers("magicpose", config=_flat_config(cfg))

    def _probe_inputs(self, unet):
        """A one-sample batch of the right shapes, for finding parameters that get no gradient."""
        scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        shape = (1, unet.config.in_channels, self.cfg.data.height // scale, self.cfg.data.width // scale)
        g = torch.Generator().manual_seed(0)
        latents = torch.randn(shape, generator=g).to(self.accelerator.device)
        pose = torch.rand((1, 3, self.cfg.data.height, self.cfg.data.width), generator=g).to(self.accelerator.device)
        return latents, latents.clone(), self.context, pose

    # -- one step -------------------------------------------------------------------------------

    @torch.no_grad()
    def _encode(self, pixels: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
        """A sample of the VAE posterior per image (as the original), drawn from that sample's own seed."""
        dist = self.vae.encode(pixels.to(self.accelerator.device, self.weight_dtype)).latent_dist
        eps = torch.stack([torch.randn(dist.mean.shape[1:], generator=g) for g in generators])
        latents = dist.mean + dist.std * eps.to(dist.mean.device, dist.mean.dtype)
        return latents.float() * self.vae.config.scaling_factor

    def loss(self, batch: dict) -> torch.Tensor:
        device = self.accelerator.device
        generators = [torch.Generator().manual_seed(int(s)) for s in batch["seed"]]
        target = self._encode(batch["image"], generators)
        reference = self._encode(batch["reference"], generators)
        timesteps = torch.stack([torch.randint(0, len(self.alphas_cumprod), (), generator=g) for g in generators])
        noise = torch.stack([torch.randn(target.shape[1:], generator=g) for g in generators]).to(device)
        timesteps = timesteps.to(device)
        alpha = self.alphas_cumprod[timesteps].view(-1, 1, 1, 1)
        noisy = alpha.sqrt() * target + (1 - alpha).sqrt() * noise
        context = self.context.expand(target.shape[0], -1, -1)
        pose = batch["pose"].to(device) if self.cfg.stage == "pose_control" else None
        with self.accelerator.autocast():
            predicted = self.model(reference, noisy, timesteps, context, pose)
        return F.mse_loss(predicted.float(), noise.float())

    # -- the loop ---------------------------------------------------------------------------------

    def _loader(self, micro_step: int) -> DataLoader:
        """The data of the epoch that ``micro_step`` falls in, from the batch it falls on."""
        epoch, batch_in_epoch = divmod(micro_step, self.batches_per_epoch)
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start=batch_in_epoch * self.cfg.train.batch_size)
        return DataLoader(self.dataset, batch_size=self.cfg.train.batch_size, sampler=self.sampler,
                          num_workers=self.cfg.data.num_workers, drop_last=True)

    @property
    def samples_per_step(self) -> int:
        """The global batch: samples per optimizer step over all processes."""
        return self.cfg.train.batch_size * self.cfg.train.gradient_accumulation_steps * self.accelerator.num_processes

    def train(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        params = [p for p in self.model.parameters() if p.requires_grad]
        bank = acc.unwrap_model(self.model).bank
        micro_step = self.global_step * cfg.train.gradient_accumulation_steps
        bar = tqdm(total=cfg.train.max_steps, initial=self.global_step, desc=f"train {cfg.stage}", unit="step",
                   disable=not acc.is_local_main_process)
        started, start_step, running = time.perf_counter(), self.global_step, []
        self.seen: list[int] = []  # dataset indices this process trained on
        self.step_times: list[float] = []  # perf_counter at the end of each optimizer step
        bad_loss = None  # a non-finite loss of this process in the optimizer step under way
        while self.global_step < cfg.train.max_steps:
            for batch in self._loader(micro_step):
                # accelerate's accumulation: the loss divided by the steps, DDP synchronised (and the
                # optimizer stepped, the gradients clipped) only on the last micro-batch; DeepSpeed
                # does the same inside its engine.
                with acc.accumulate(self.model):
                    try:
                        loss = self.loss(batch)
                        acc.backward(loss)
                    finally:
                        bank.reset()
                    running.append(loss.item())
                    if bad_loss is None and not math.isfinite(running[-1]):
                        bad_loss = running[-1]
                    if acc.sync_gradients:  # no step on a non-finite loss of any process: every one stops
                        checkpoints.stop_if_not_finite(acc, bad_loss, self.global_step + 1, self.output_dir)
                    if acc.sync_gradients and cfg.train.max_grad_norm:
                        acc.clip_grad_norm_(params, cfg.train.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
                self.seen.extend(int(i) for i in batch["index"])
                micro_step += 1
                if not acc.sync_gradients:
                    continue
                self.global_step += 1
                self.step_times.append(time.perf_counter())
                rate = (self.global_step - start_step) * self.samples_per_step / (time.perf_counter() - started)
                bar.update()
                bar.set_postfix(loss=f"{np.mean(running):.4f}", samples_per_s=f"{rate:.1f}")
                if cfg.logging.log_every and self.global_step % cfg.logging.log_every == 0:
                    acc.log({"loss": float(np.mean(running)), "samples_per_s": rate}, step=self.global_step)
                running = []
                checkpoints.fault("sigkill-after-step", self.global_step)
                if checkpoints.due(self.global_step, cfg.checkpoint.every_steps, cfg.train.max_steps):
                    self.save_checkpoint()
                if cfg.validation.every_steps and self.global_step % cfg.validation.every_steps == 0:
                    self.validate()
                if self.global_step >= cfg.train.max_steps:
                    break
        bar.close()
        if cfg.logging.record_samples:
            checkpoints.write_seen_samples(self.output_dir, acc.process_index, self.seen)
        self.save_final()
        acc.end_training()

    # -- saving -----------------------------------------------------------------------------------

    def _trained_modules(self) -> dict:
        model = self.accelerator.unwrap_model(self.model)
        modules = {"appearance_unet": model.appearance_unet}
        if model.controlnet is not None:
            modules["controlnet"] = model.controlnet
        return modules

    def _save_trained_modules(self, models: list, weights: list, output_dir: str) -> None:
        """accelerate's save hook: the trained weights go into the diffusers folders only, once."""
        if self.accelerator.is_main_process:
            for name, module in self._trained_modules().items():
                module.save_pretrained(Path(output_dir) / name)
        weights.clear()  # so accelerate writes no second copy (model.safetensors)

    def _load_trained_modules(self, models: list, input_dir: str) -> None:
        """accelerate's load hook, the inverse of the save hook."""
        for name, module in self._trained_modules().items():
            checkpoints.load_module_weights(module, Path(input_dir) / name)
        models.clear()  # nothing left for accelerate to load

    def save_checkpoint(self) -> None:
        checkpoints.check_finite(self._trained_modules(), self.global_step)
        state = {"stage": self.cfg.stage, "pretrained_dir": str(Path(self.cfg.model.pretrained_dir).resolve())}
        checkpoints.save(self.accelerator, self.output_dir, self.global_step, self.cfg.checkpoint.keep_last, state,
                         write_extra=lambda folder: save_empty_prompt_embeds(self.context, folder))

    def save_final(self) -> None:
        """``final/<module>/`` diffusers folders; after stage 2 also a complete ``pipeline/`` for inference.
        Both written under temporary names and committed together when complete (:mod:`magicpose.files`)."""
        acc = self.accelerator
        checkpoints.check_finite(self._trained_modules(), self.global_step)
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return
        with files.atomic_outputs() as tmp:
            final = tmp(self.output_dir / "final", kind="training")
            for name, module in self._trained_modules().items():
                module.save_pretrained(final / name)
            if self.cfg.stage == "pose_control":
                self.export_pipeline(tmp(self.output_dir / "pipeline", kind="training"))

    def export_pipeline(self, folder: Path) -> Path:
        """The inference pipeline, written into ``folder`` (:meth:`save_final` gives a temporary one): the
        trained modules as trained (float32), and the frozen ones as ``model.pretrained_dir`` stores them,
        not the low-precision copies used for training."""
        root = Path(self.cfg.model.pretrained_dir)
        optional = {}
        if (root / "text_encoder").is_dir():
            optional["text_encoder"] = load_as_stored(CLIPTextModel, root / "text_encoder")
            optional["tokenizer"] = _tokenizer(root)
        modules = self._trained_modules()
        pipe = MagicPosePipeline(vae=load_as_stored(AutoencoderKL, root / "vae"),
                                 text_encoder=optional.get("text_encoder"), tokenizer=optional.get("tokenizer"),
                                 unet=load_as_stored(UNet2DConditionModel, root / "unet"),
                                 appearance_unet=modules["appearance_unet"], controlnet=modules.get("controlnet"),
                                 scheduler=MagicPosePipeline.default_scheduler())
        pipe.empty_prompt_embeds = self.context.detach().cpu()  # saved with the pipeline
        pipe.save_pretrained(folder)
        return folder

    def pipeline(self) -> MagicPosePipeline:
        """A MagicPosePipeline around the models being trained (it attaches its own bank while it samples)."""
        modules = self._trained_modules()
        model = self.accelerator.unwrap_model(self.model)
        pipe = MagicPosePipeline(vae=self.vae, text_encoder=None, tokenizer=None, unet=model.unet,
                                 appearance_unet=modules["appearance_unet"], controlnet=modules.get("controlnet"),
                                 scheduler=MagicPosePipeline.default_scheduler())
        pipe.empty_prompt_embeds = self.context.detach()
        pipe.set_progress_bar_config(disable=True)
        return pipe

    @torch.no_grad()
    def validate(self) -> None:
        """A reference | pose | output preview of the first validation video, saved and logged."""
        from magicpose.data.layout import list_videos
        from magicpose.image_utils import center_crop_resize, load_image
        from magicpose.video import make_preview_frame, write_preview_grid

        acc, cfg = self.accelerator, self.cfg
        if acc.is_main_process:
            video = list_videos(cfg.data.root, cfg.validation.split or cfg.data.split)[0]
            frames = video.frames[: cfg.validation.num_frames + 1]
            height, width = cfg.data.height, cfg.data.width
            reference = center_crop_resize(load_image(frames[0].image), width, height)
            poses = [np.asarray(center_crop_resize(load_image(f.pose), width, height)) for f in frames[1:]]
            model = acc.unwrap_model(self.model)
            model.eval()
            try:
                pipe = self.pipeline()
                # Under mixed precision the frozen models are in bf16/fp16 and the trained ones in float32:
                # autocast runs them together, as in the training forward pass.
                with acc.autocast():
                    out = pipe(image=reference, pose_images=poses, height=height, width=width,
                               num_inference_steps=cfg.validation.num_inference_steps,
                               guidance_scale=cfg.validation.guidance_scale, prompt_embeds=self.context,
                               generator=torch.Generator().manual_seed(cfg.train.seed), output_type="np").frames[0]
            finally:
                model.train()
            rows = [make_preview_frame(np.asarray(reference), p, (o * 255).round().astype(np.uint8))
                    for p, o in zip(poses, out)]
            (self.output_dir / "validation").mkdir(parents=True, exist_ok=True)
            path = write_preview_grid(self.output_dir / "validation" / f"step-{self.global_step:06d}.png", rows)
            for tracker in acc.trackers:
                if tracker.name == "tensorboard":
                    tracker.writer.add_image("validation", np.asarray(_read_png(path)), self.global_step,
                                             dataformats="HWC")
        acc.wait_for_everyone()


def _read_png(path: Path):
    from PIL import Image

    return Image.open(path).convert("RGB")


def _flat_config(cfg: TrainingConfig) -> dict:
    flat = {}
    for section, values in OmegaConf.to_container(OmegaConf.structured(cfg)).items():
        if isinstance(values, dict):
            flat.update({f"{section}.{k}": v for k, v in values.items() if isinstance(v, int | float | str | bool)})
        else:
            flat[section] = values
    return flat


def describe(trainer: Trainer) -> str:
    model = trainer.accelerator.unwrap_model(trainer.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.unet.parameters()) + sum(p.numel() for p in trainer.vae.parameters())
    train = trainer.cfg.train
    return (f"stage {trainer.cfg.stage}: {trainable / 1e6:.2f}M trainable parameters, {frozen / 1e6:.2f}M frozen, "
            f"{len(trainer.unused)} unused tensors frozen, {trainer.accelerator.num_processes} process(es) "
            f"({trainer.accelerator.distributed_type}), {len(trainer.dataset)} frames, "
            f"{trainer.batches_per_epoch} batches per epoch per process; {math.ceil(train.max_steps)} steps of "
            f"{trainer.samples_per_step} samples ({train.batch_size} per process x "
            f"{train.gradient_accumulation_steps} accumulated x {trainer.accelerator.num_processes} processes)")

