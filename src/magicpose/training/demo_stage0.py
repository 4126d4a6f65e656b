"""Stage 0, for the demo only: a small VAE and a base UNet standing in for Stable Diffusion 1.5.

SD 1.5 cannot be downloaded here, so the CPU demo first learns its own frozen "foundation" on the
training frames: an ``AutoencoderKL`` (reconstruction + a small KL term), then an unconditional
``UNet2DConditionModel`` (epsilon MSE on the VAE latents, empty prompt) whose cross-attention reads
a small random, frozen CLIP text encoder. The result is a folder with vae/, unet/, text_encoder/ and
tokenizer/: exactly what the two MagicPose stages expect as ``model.pretrained_dir``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import CLIPTextConfig, CLIPTextModel

from magicpose import files
from magicpose.data.layout import list_videos
from magicpose.errors import InputError
from magicpose.image_utils import center_crop_resize, load_image
from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline
from magicpose.tiny_models import offline_clip_tokenizer
from magicpose.training.config import SEED_MAX, check_numbers, merge_config, read_layers


@dataclass
class BaseConfig:
    output_dir: str = "???"
    data_root: str = "???"
    split: str = "train"
    size: int = 64
    seed: int = 0
    vae_channels: list[int] = field(default_factory=lambda: [32, 64, 64])  # 3 levels: downsamples by 4
    vae_steps: int = 2000
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    unet_channels: list[int] = field(default_factory=lambda: [64, 128, 128])
    unet_attention_levels: list[bool] = field(default_factory=lambda: [True, True, True])
    unet_layers_per_block: int = 2
    unet_steps: int = 4000
    unet_lr: float = 5e-4
    text_hidden_size: int = 64
    batch_size: int = 32
    num_workers: int = 0


class FrameDataset(Dataset):
    """Every frame of a TikTok-layout split, centre-cropped to ``size``, in [-1, 1]."""

    def __init__(self, root: str, split: str, size: int) -> None:
        self.files = [f.image for video in list_videos(root, split) for f in video.frames]
        self.size = size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = np.asarray(
            center_crop_resize(load_image(self.files[i]), self.size, self.size), dtype=np.float32
        )
        return torch.from_numpy(image / 127.5 - 1.0).permute(2, 0, 1)


def _batches(loader: DataLoader, steps: int):
    """``steps`` batches, cycling over the epochs."""
    done = 0
    while True:
        for batch in loader:
            yield batch
            done += 1
            if done == steps:
                return


def build_base_models(cfg: BaseConfig):
    torch.manual_seed(cfg.seed)
    levels = len(cfg.vae_channels)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=tuple(cfg.vae_channels),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=cfg.size,
    )
    latent = cfg.size // 2 ** (levels - 1)
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.unet_attention_levels)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.unet_attention_levels))
    unet = UNet2DConditionModel(
        sample_size=latent,
        in_channels=4,
        out_channels=4,
        block_out_channels=tuple(cfg.unet_channels),
        down_block_types=down,
        up_block_types=up,
        layers_per_block=cfg.unet_layers_per_block,
        norm_num_groups=16,
        cross_attention_dim=cfg.text_hidden_size,
        attention_head_dim=8,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=cfg.text_hidden_size,
            intermediate_size=2 * cfg.text_hidden_size,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=1000,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=2,
            pad_token_id=1,
        )
    )
    return vae, unet, text_encoder


def _optimizer_step(optimizer, loss: torch.Tensor, losses: list[float], bar, what: str, lr_key: str) -> None:
    """Backward and step; a loss that is not a number stops the run (nothing is written) before the step."""
    value = loss.item()
    if not math.isfinite(value):
        raise InputError(
            f"the {what} loss became {value} at step {len(losses) + 1}: lower {lr_key}; nothing was written"
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    losses.append(value)
    bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")


def train_vae(vae: AutoencoderKL, loader: DataLoader, cfg: BaseConfig) -> list[float]:
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr)
    vae.train()
    losses = []
    bar = tqdm(_batches(loader, cfg.vae_steps), total=cfg.vae_steps, desc="stage 0: VAE", unit="step")
    for images in bar:
        posterior = vae.encode(images).latent_dist
        reconstruction = vae.decode(posterior.sample()).sample
        loss = F.mse_loss(reconstruction, images) + cfg.vae_kl_weight * posterior.kl().mean()
        _optimizer_step(optimizer, loss, losses, bar, "VAE", "vae_lr")
    vae.eval().requires_grad_(False)
    return losses


def train_unet(
    unet: UNet2DConditionModel, vae: AutoencoderKL, context: torch.Tensor, loader: DataLoader, cfg: BaseConfig
) -> list[float]:
    scheduler = MagicPosePipeline.default_scheduler()
    alphas = scheduler.alphas_cumprod
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.unet_lr)
    unet.train()
    losses = []
    bar = tqdm(_batches(loader, cfg.unet_steps), total=cfg.unet_steps, desc="stage 0: base UNet", unit="step")
    for images in bar:
        with torch.no_grad():
            latents = vae.encode(images).latent_dist.sample() * vae.config.scaling_factor
        noise = torch.randn_like(latents)
        t = torch.randint(0, len(alphas), (latents.shape[0],))
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        predicted = unet(noisy, t, encoder_hidden_states=context.expand(latents.shape[0], -1, -1)).sample
        _optimizer_step(optimizer, F.mse_loss(predicted, noise), losses, bar, "base UNet", "unet_lr")
    unet.eval().requires_grad_(False)
    return losses


@torch.no_grad()
def scaling_factor(vae: AutoencoderKL, loader: DataLoader, batches: int = 8) -> float:
    """1 / std of the latents, as SD's 0.18215 was chosen, so the diffusion sees unit-variance latents."""
    values = [vae.encode(images).latent_dist.mean for images, _ in zip(loader, range(batches))]
    return float(1.0 / torch.cat(values).std())


def check_base_config(cfg: BaseConfig) -> None:
    """Every number in range, the sizes the networks can be built with; one line naming the key."""
    check_numbers(
        cfg,
        at_least={
            "size": 1,
            "seed": 0,
            "vae_steps": 1,
            "unet_steps": 1,
            "vae_kl_weight": 0,
            "unet_layers_per_block": 1,
            "text_hidden_size": 4,
            "batch_size": 1,
            "num_workers": 0,
        },
        above={"vae_lr": 0, "unet_lr": 0},
        at_most={"seed": SEED_MAX},
    )
    for name, channels, groups in (
        ("vae_channels", cfg.vae_channels, 8),
        ("unet_channels", cfg.unet_channels, 16),
    ):
        if not channels or any(c < groups or c % groups for c in channels):
            raise InputError(
                f"{name}={list(channels)} must be one or more widths, each a multiple of {groups} "
                f"(the networks' group norms have {groups} groups)"
            )
    if len(cfg.unet_attention_levels) != len(cfg.unet_channels):
        raise InputError(
            f"unet_attention_levels={list(cfg.unet_attention_levels)} must have one entry per "
            f"unet_channels level ({len(cfg.unet_channels)})"
        )
    if cfg.text_hidden_size % 4:
        raise InputError(
            f"text_hidden_size={cfg.text_hidden_size} must be a multiple of 4 (4 attention heads)"
        )
    multiple = 2 ** (len(cfg.vae_channels) - 1 + len(cfg.unet_channels) - 1)
    if cfg.size % multiple:
        raise InputError(
            f"size={cfg.size} must be a multiple of {multiple} (the VAE and the UNet halve it "
            f"{len(cfg.vae_channels) - 1 + len(cfg.unet_channels) - 1} times in all)"
        )


def load_base_config(path: str | Path | None, overrides: list[str] = ()) -> BaseConfig:
    """Schema defaults <- YAML file <- ``key=value`` overrides, read and checked as the other training
    commands' configs (:mod:`magicpose.training.config`)."""
    layers = [OmegaConf.structured(BaseConfig), *read_layers(path, overrides, "configs/demo_base.yaml")]
    cfg = merge_config(layers, "stage 0", path)
    check_base_config(cfg)
    return cfg


def train_base(cfg: BaseConfig) -> Path:
    """Train and write ``output_dir`` as one folder, committed when complete (:mod:`magicpose.files`): a failed
    or interrupted run leaves what was there before."""
    out = Path(cfg.output_dir)
    files.check_replaceable(out, "output_dir", inputs=[cfg.data_root], kind="base")
    dataset = FrameDataset(cfg.data_root, cfg.split, cfg.size)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    if len(loader) == 0:
        raise InputError(
            f"'{cfg.data_root}' has {len(dataset)} frames, fewer than one batch of {cfg.batch_size}: "
            "lower batch_size"
        )
    with files.parents_removed_on_error(out.parent), files.atomic_path(out, kind="base") as tmp:
        try:
            tmp.mkdir()  # now, not after the training: an output_dir that cannot be written fails at once
        except OSError as err:
            raise InputError(
                f"cannot write to output_dir '{out}' ({err.strerror}): pass a writable output_dir"
            ) from None
        _train_into(tmp, dataset, loader, cfg)
    return out


def _train_into(out: Path, dataset: FrameDataset, loader: DataLoader, cfg: BaseConfig) -> None:
    vae, unet, text_encoder = build_base_models(cfg)
    tokenizer = offline_clip_tokenizer()
    started = time.perf_counter()
    vae_losses = train_vae(vae, loader, cfg)
    vae.register_to_config(scaling_factor=scaling_factor(vae, loader))
    ids = tokenizer("", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        context = text_encoder(ids)[0]
    unet_losses = train_unet(unet, vae, context, loader, cfg)
    for name, module in (
        ("vae", vae),
        ("unet", unet),
        ("text_encoder", text_encoder),
        ("tokenizer", tokenizer),
    ):
        module.save_pretrained(out / name)
    (out / "base_training.json").write_text(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - started, 1),
                "frames": len(dataset),
                "vae_loss_first_last": [float(np.mean(vae_losses[:20])), float(np.mean(vae_losses[-20:]))],
                "unet_loss_first_last": [float(np.mean(unet_losses[:20])), float(np.mean(unet_losses[-20:]))],
                "config": OmegaConf.to_container(OmegaConf.structured(cfg)),
            },
            indent=2,
        )
        + "\n"
    )
