"""Small random models built in code: tests, benchmarks and the random demo weights use them.

Nothing here is downloaded. Two sizes:

* ``"tiny"``: the diffusers test configuration (2 UNet levels, a few thousand parameters), for fast tests;
* ``"sd-small"``: the Stable Diffusion 1.5 block layout (4 levels, attention at the first three,
  2 layers per block, 8 heads) with fewer channels, for benchmarks whose costs should be
  proportioned like SD's.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline

UNET_CONFIGS = {
    "tiny": dict(
        block_out_channels=(4, 8),
        layers_per_block=2,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=2,
        norm_num_groups=1,
    ),
    "sd-small": dict(
        block_out_channels=(32, 64, 128, 128),
        layers_per_block=2,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=(
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=64,
        attention_head_dim=8,
        norm_num_groups=8,
    ),
}
CONTROLNET_EMBEDDING_CHANNELS = {"tiny": (16, 32), "sd-small": (16, 32, 96, 256)}
VAE_CONFIGS = {
    "tiny": dict(block_out_channels=(4, 8), norm_num_groups=2),
    "sd-small": dict(block_out_channels=(16, 32, 32, 32), norm_num_groups=8),
}
TEXT_CONFIGS = {
    "tiny": dict(hidden_size=32, intermediate_size=37),
    "sd-small": dict(hidden_size=64, intermediate_size=128),
}


def offline_clip_tokenizer() -> CLIPTokenizer:
    """A byte-level CLIP tokenizer built in memory: any text tokenizes, nothing is downloaded."""
    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _controlnet_from(unet_config: dict, size: str) -> ControlNetModel:
    keep = {
        k: v for k, v in unet_config.items() if k not in ("up_block_types", "out_channels", "sample_size")
    }
    return ControlNetModel(conditioning_embedding_out_channels=CONTROLNET_EMBEDDING_CHANNELS[size], **keep)


def perturb_zero_initialised(
    controlnet: ControlNetModel, generator: torch.Generator, std: float = 0.1
) -> None:
    """Give a fresh ControlNet's zero convolutions random weights, so the pose really matters.

    A new ``ControlNetModel`` outputs exactly zero residuals; tests and the random demo would
    otherwise pass whatever the pose is.
    """
    zero_modules = [
        controlnet.controlnet_cond_embedding.conv_out,
        controlnet.controlnet_mid_block,
        *controlnet.controlnet_down_blocks,
    ]
    with torch.no_grad():
        for module in zero_modules:
            for p in module.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * std)


def make_components(size: str = "tiny", seed: int = 0) -> dict:
    """All MagicPose components with seeded random weights (ControlNet zero convs perturbed)."""
    if size not in UNET_CONFIGS:
        raise ValueError(f"unknown size {size!r}: choose one of {sorted(UNET_CONFIGS)}")
    unet_config = UNET_CONFIGS[size]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**unet_config)
    torch.manual_seed(seed + 1)
    appearance_unet = UNet2DConditionModel(**unet_config)
    torch.manual_seed(seed + 2)
    controlnet = _controlnet_from(unet_config, size)
    perturb_zero_initialised(controlnet, torch.Generator().manual_seed(seed + 3))
    levels = len(VAE_CONFIGS[size]["block_out_channels"])
    torch.manual_seed(seed + 4)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        latent_channels=4,
        **VAE_CONFIGS[size],
    )
    torch.manual_seed(seed + 5)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=2,
            pad_token_id=1,
            vocab_size=1000,
            layer_norm_eps=1e-5,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            **TEXT_CONFIGS[size],
        )
    )
    tokenizer = offline_clip_tokenizer()
    # The tiny vocabulary (1000) must hold every id the byte-level tokenizer produces (514 of them).
    assert len(tokenizer) <= text_encoder.config.vocab_size
    for model in (unet, appearance_unet, controlnet, vae, text_encoder):
        model.eval()
    return dict(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        appearance_unet=appearance_unet,
        controlnet=controlnet,
        scheduler=MagicPosePipeline.default_scheduler(),
    )


def make_pipeline(size: str = "tiny", seed: int = 0) -> MagicPosePipeline:
    pipe = MagicPosePipeline(**make_components(size, seed))
    pipe.set_progress_bar_config(disable=True)
    return pipe


MRAA_TINY_HOURGLASS = {"block_expansion": 4, "max_features": 16, "num_blocks": 2}


def make_mraa_pipeline(
    seed: int = 0,
    avd: bool = True,
    bg_type: str = "affine",
    regions: dict | None = None,
    flow: dict | None = None,
    num_regions: int = 3,
):
    """A tiny random MRAA pipeline (3 regions, hourglasses of 2 levels at 4 filters, 32x32 frames), eval mode;
    ``regions`` and ``flow`` override the region and flow predictors' options."""
    from magicpose.models.mraa_avd import AVDNetwork
    from magicpose.models.mraa_background import BackgroundMotionPredictor
    from magicpose.models.mraa_generator import MRAAGenerator
    from magicpose.models.mraa_regions import RegionPredictor
    from magicpose.pipelines.pipeline_mraa import MRAAPipeline

    torch.manual_seed(seed)
    pipe = MRAAPipeline(
        region_predictor=RegionPredictor(
            num_regions=num_regions, **{**MRAA_TINY_HOURGLASS, **(regions or {})}
        ),
        generator=MRAAGenerator(
            num_regions=num_regions,
            block_expansion=4,
            max_features=16,
            num_bottleneck_blocks=1,
            flow_params={**MRAA_TINY_HOURGLASS, **(flow or {})},
            sample_size=32,
        ),
        avd_network=AVDNetwork(num_regions=num_regions, id_bottleneck=8, pose_bottleneck=8) if avd else None,
        bg_predictor=BackgroundMotionPredictor(bg_type, **MRAA_TINY_HOURGLASS),
    )
    for network in (pipe.region_predictor, pipe.generator, pipe.avd_network, pipe.bg_predictor):
        if network is not None:
            network.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe
