"""MagicPose training (both stages): what the shared loop (:mod:`magicpose.training.loop`) runs.

Stage "appearance" (the original's appearance-control pretraining): the appearance UNet, initialised
as a copy of the main UNet, learns alone; there is no pose path. Stage "pose_control" (appearance-
disentangled pose control): the stage-1 appearance UNet and the OpenPose ControlNet train together.
In both, the main UNet, the VAE and the text encoder are frozen, the prompt is "" (its embedding is
computed once and the text encoder freed), and the loss is epsilon MSE at uniform timesteps.

Fixed against the original: data sharded by rank with per-sample seeds (the noise, timestep and VAE
sample of a sample do not depend on the rank or on the number of processes), the frame-distance
limit honoured, gradients clipped under every precision, exact resume, atomic checkpoints. Under
``accelerate launch`` it also runs with DeepSpeed or FSDP, by accelerate's configuration.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from magicpose import files
from magicpose.data.pairs import PairDataset
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
from magicpose.training.loop import TrainingLoop
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
        raise InputError(
            f"cannot load the {what} from '{folder}' ({str(err).splitlines()[0]}): "
            "pass a diffusers-format folder"
        ) from err


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
        raise InputError(
            f"'{pretrained_dir}' has no tokenizer/ and no {EMPTY_PROMPT_FOLDER}/ ({err})"
        ) from err


def build_models(cfg: TrainingConfig):
    """Frozen VAE and UNet, trainable appearance UNet and (stage 2) ControlNet, per the stage."""
    root = Path(cfg.model.pretrained_dir)
    vae = _load(AutoencoderKL, root / "vae", "VAE")
    unet = _load(UNet2DConditionModel, root / "unet", "main UNet")
    if cfg.model.appearance_unet:
        appearance_unet = _load(UNet2DConditionModel, Path(cfg.model.appearance_unet), "appearance UNet")
    elif cfg.stage == "pose_control":
        raise InputError(
            "stage pose_control needs model.appearance_unet: the stage-1 appearance UNet folder "
            "(<stage1 output>/final/appearance_unet)"
        )
    else:
        appearance_unet = copy.deepcopy(unet)  # the original initialises it as a copy of the SD UNet
    controlnet = None
    if cfg.stage == "pose_control":
        if cfg.model.controlnet:
            controlnet = _load(ControlNetModel, Path(cfg.model.controlnet), "ControlNet")
        else:
            # The pose-map embedding must downsample as much as the VAE does (SD 1.5: 8, four levels).
            levels = len(vae.config.block_out_channels)
            controlnet = ControlNetModel.from_unet(
                unet, conditioning_embedding_out_channels=(16, 32, 96, 256)[:levels]
            )
    vae.requires_grad_(False)
    unet.requires_grad_(False)
    return vae, unet, appearance_unet, controlnet


class MagicPoseTrainer(TrainingLoop):
    """MagicPose's stage 1 or 2 (``cfg.stage``) on the shared loop (:mod:`magicpose.training.loop`)."""

    cfg: TrainingConfig

    @property
    def stage_name(self) -> str:
        return self.cfg.stage

    @property
    def micro_batches_per_step(self) -> int:
        return self.cfg.train.gradient_accumulation_steps

    @property
    def exported(self) -> tuple[str, ...]:  # after stage 2 also a complete inference pipeline
        return ("final", "pipeline") if self.cfg.stage == "pose_control" else ("final",)

    def build_dataset(self) -> PairDataset:
        data = self.cfg.data
        return self.dataset_from_config(
            PairDataset,
            max_frame_distance=data.max_frame_distance,
            seed=self.cfg.train.seed,
            crop=data.crop,
            crop_scale=tuple(data.crop_scale),
        )

    def inputs(self) -> list:
        model = self.cfg.model
        return [model.pretrained_dir, model.appearance_unet, model.controlnet]

    # -- set-up -----------------------------------------------------------------------------------

    def check_run_needs(self) -> None:
        """The optional text encoder and tokenizer are exported when present: complete folders or none."""
        root = Path(self.cfg.model.pretrained_dir)
        for name in ("text_encoder", "tokenizer"):
            folder = root / name
            if folder.exists() and not any(
                (folder / f).is_file() for f in ("config.json", "tokenizer_config.json")
            ):
                raise InputError(
                    f"'{folder}' is not a diffusers/transformers folder (no config file): "
                    f"remove it or copy the complete {name}"
                )
        super().check_run_needs()

    def build_networks(self) -> None:
        cfg, acc = self.cfg, self.accelerator
        self.weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(
            cfg.train.mixed_precision, torch.float32
        )
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
        groups = [
            {
                "params": [p for p in appearance_unet.parameters() if p.requires_grad],
                "lr": cfg.train.learning_rate if appearance_lr is None else appearance_lr,
            }
        ]
        if controlnet is not None:
            groups.append(
                {
                    "params": [p for p in controlnet.parameters() if p.requires_grad],
                    "lr": cfg.train.learning_rate,
                }
            )
        optimizer = torch.optim.AdamW(
            groups,
            betas=(cfg.train.adam_beta1, cfg.train.adam_beta2),
            eps=cfg.train.adam_epsilon,
            weight_decay=cfg.train.weight_decay,
        )
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.noise_scheduler = MagicPosePipeline.default_scheduler()
        self.alphas_cumprod = self.noise_scheduler.alphas_cumprod.to(acc.device)

    def _probe_inputs(self, unet):
        """A one-sample batch of the right shapes, for finding parameters that get no gradient."""
        scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        shape = (1, unet.config.in_channels, self.cfg.data.height // scale, self.cfg.data.width // scale)
        g = torch.Generator().manual_seed(0)
        latents = torch.randn(shape, generator=g).to(self.accelerator.device)
        pose = torch.rand((1, 3, self.cfg.data.height, self.cfg.data.width), generator=g).to(
            self.accelerator.device
        )
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
        timesteps = torch.stack(
            [torch.randint(0, len(self.alphas_cumprod), (), generator=g) for g in generators]
        )
        noise = torch.stack([torch.randn(target.shape[1:], generator=g) for g in generators]).to(device)
        timesteps = timesteps.to(device)
        alpha = self.alphas_cumprod[timesteps].view(-1, 1, 1, 1)
        noisy = alpha.sqrt() * target + (1 - alpha).sqrt() * noise
        context = self.context.expand(target.shape[0], -1, -1)
        pose = batch["pose"].to(device) if self.cfg.stage == "pose_control" else None
        with self.accelerator.autocast():
            predicted = self.model(reference, noisy, timesteps, context, pose)
        return F.mse_loss(predicted.float(), noise.float())

    def train_step(self, batch: dict) -> dict[str, float]:
        """One micro-batch in accelerate's accumulation: the loss divided by the steps, DDP synchronised (and
        the gradients clipped, the optimizer stepped) only on the last micro-batch; DeepSpeed does the same
        inside its engine."""
        acc = self.accelerator
        with acc.accumulate(self.model):
            try:
                loss = self.loss(batch)
                acc.backward(loss)
            finally:
                acc.unwrap_model(self.model).bank.reset()
            if acc.sync_gradients and self.cfg.train.max_grad_norm:
                acc.clip_grad_norm_(self.params, self.cfg.train.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return {"loss": loss.item()}

    def progress_postfix(self, losses: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{losses['loss']:.4f}"}

    def logged(self, losses: dict[str, float]) -> dict[str, float]:
        return {"loss": losses["loss"]}

    # -- saving -----------------------------------------------------------------------------------

    def trained_networks(self) -> dict[str, torch.nn.Module]:
        model = self.accelerator.unwrap_model(self.model)
        modules = {"appearance_unet": model.appearance_unet}
        if model.controlnet is not None:
            modules["controlnet"] = model.controlnet
        return modules

    def save_networks(self, models: list, weights: list, output_dir: str) -> None:
        """The trained weights go into their diffusers folders only, once."""
        if self.accelerator.is_main_process:
            for name, module in self.trained_networks().items():
                module.save_pretrained(Path(output_dir) / name)
        weights.clear()  # so accelerate writes no second copy (model.safetensors)

    def load_networks(self, models: list, input_dir: str) -> None:
        for name, module in self.trained_networks().items():
            checkpoints.load_module_weights(module, Path(input_dir) / name)
        models.clear()  # nothing left for accelerate to load

    def checkpoint_state(self) -> dict:
        return {"stage": self.cfg.stage, "pretrained_dir": str(Path(self.cfg.model.pretrained_dir).resolve())}

    def write_checkpoint_extra(self, folder: Path) -> None:
        save_empty_prompt_embeds(self.context, folder)

    def write_final(self) -> None:
        """``final/<module>/`` diffusers folders; after stage 2 also a complete ``pipeline/`` for inference.
        Both written under temporary names and committed together when complete (:mod:`magicpose.files`)."""
        with files.atomic_outputs() as tmp:
            final = tmp(self.output_dir / "final", kind="training")
            for name, module in self.trained_networks().items():
                module.save_pretrained(final / name)
            if self.cfg.stage == "pose_control":
                self.export_pipeline(tmp(self.output_dir / "pipeline", kind="training"))

    def export_pipeline(self, folder: Path) -> Path:
        """The inference pipeline, written into ``folder`` (:meth:`write_final` gives a temporary one): the
        trained modules as trained (float32), and the frozen ones as ``model.pretrained_dir`` stores them,
        not the low-precision copies used for training."""
        root = Path(self.cfg.model.pretrained_dir)
        optional = {}
        if (root / "text_encoder").is_dir():
            optional["text_encoder"] = load_as_stored(CLIPTextModel, root / "text_encoder")
            optional["tokenizer"] = _tokenizer(root)
        modules = self.trained_networks()
        pipe = MagicPosePipeline(
            vae=load_as_stored(AutoencoderKL, root / "vae"),
            text_encoder=optional.get("text_encoder"),
            tokenizer=optional.get("tokenizer"),
            unet=load_as_stored(UNet2DConditionModel, root / "unet"),
            appearance_unet=modules["appearance_unet"],
            controlnet=modules.get("controlnet"),
            scheduler=MagicPosePipeline.default_scheduler(),
        )
        pipe.empty_prompt_embeds = self.context.detach().cpu()  # saved with the pipeline
        pipe.save_pretrained(folder)
        return folder

    def pipeline(self) -> MagicPosePipeline:
        """A MagicPosePipeline around the models being trained (it attaches its own bank while it samples)."""
        modules = self.trained_networks()
        model = self.accelerator.unwrap_model(self.model)
        pipe = MagicPosePipeline(
            vae=self.vae,
            text_encoder=None,
            tokenizer=None,
            unet=model.unet,
            appearance_unet=modules["appearance_unet"],
            controlnet=modules.get("controlnet"),
            scheduler=MagicPosePipeline.default_scheduler(),
        )
        pipe.empty_prompt_embeds = self.context.detach()
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def validation_rows(self) -> list[np.ndarray]:
        """reference | pose | output rows for the first frames of the first validation video."""
        from magicpose.data.layout import list_videos
        from magicpose.image_utils import center_crop_resize, load_image
        from magicpose.video import make_preview_frame

        acc, cfg = self.accelerator, self.cfg
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
                out = pipe(
                    image=reference,
                    pose_images=poses,
                    height=height,
                    width=width,
                    num_inference_steps=cfg.validation.num_inference_steps,
                    guidance_scale=cfg.validation.guidance_scale,
                    prompt_embeds=self.context,
                    generator=torch.Generator().manual_seed(cfg.train.seed),
                    output_type="np",
                ).frames[0]
        finally:
            model.train()
        return [
            make_preview_frame(np.asarray(reference), p, (o * 255).round().astype(np.uint8))
            for p, o in zip(poses, out, strict=True)
        ]


def describe(trainer: MagicPoseTrainer) -> str:
    model = trainer.accelerator.unwrap_model(trainer.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.unet.parameters()) + sum(
        p.numel() for p in trainer.vae.parameters()
    )
    train = trainer.cfg.train
    return (
        f"stage {trainer.cfg.stage}: {trainable / 1e6:.2f}M trainable parameters, {frozen / 1e6:.2f}M frozen, "
        f"{len(trainer.unused)} unused tensors frozen, {trainer.accelerator.num_processes} process(es) "
        f"({trainer.accelerator.distributed_type}), {len(trainer.dataset)} frames, "
        f"{trainer.batches_per_epoch} batches per epoch per process; {math.ceil(train.max_steps)} steps of "
        f"{trainer.samples_per_step} samples ({train.batch_size} per process x "
        f"{train.gradient_accumulation_steps} accumulated x {trainer.accelerator.num_processes} processes)"
    )
