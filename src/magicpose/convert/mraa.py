"""``magicpose convert mraa``: a checkpoint trained with the original MRAA code to an MRAAPipeline folder.

The original saves one ``torch.save`` dict per checkpoint, ``{"region_predictor": state dict, "generator": ...,
"bg_predictor": ..., "avd_network": ... (after train_avd), "optimizer...": ..., "epoch": n}``. Only the networks
are read. The configuration is read off the tensors (:func:`analyse`); the tensors are only renamed
(:data:`RENAMES`, reversible: :func:`to_original` is the inverse used by the tests) and loaded strictly, so a
checkpoint of another layout is refused in one line instead of half-loaded.

What the tensors do not say takes the value every one of the original's configs uses: heatmap temperature 0.1,
the heatmap head unpadded, Gaussians with the regions' covariance, warped skips, the axis-swap correction.
Snap's own released checkpoints are not redistributed here (their licence forbids it); a user's checkpoint
converts on the user's machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from magicpose.convert.extract import stderr_line
from magicpose.convert.loading import load_checkpoint
from magicpose.convert.writing import cast, check_output, parse_dtype, staged_output, write_info
from magicpose.errors import InputError

Log = Callable[[str], None]
NETWORKS = ("region_predictor", "generator", "bg_predictor", "avd_network")

# (this package's name, the original's name): "{n}" stands for a block number; a name starting with "^" is a
# key's start, the others match anywhere. Applied in order; every rule reads both ways.
RENAMES: tuple[tuple[str, str], ...] = (
    ("^region_predictor.hourglass.", "^region_predictor.predictor."),
    ("^region_predictor.heatmap_head.", "^region_predictor.regions."),
    ("^region_predictor.shape_head.", "^region_predictor.jacobian."),
    ("^region_predictor.downsample.", "^region_predictor.down."),
    ("^generator.flow_predictor.mask_head.", "^generator.pixelwise_flow_predictor.mask."),
    ("^generator.flow_predictor.occlusion_head.", "^generator.pixelwise_flow_predictor.occlusion."),
    ("^generator.flow_predictor.downsample.", "^generator.pixelwise_flow_predictor.down."),
    ("^generator.flow_predictor.", "^generator.pixelwise_flow_predictor."),
    ("^generator.stem.", "^generator.first."),
    ("^generator.bottleneck.{n}.", "^generator.bottleneck.r{n}."),
    ("^bg_predictor.head.", "^bg_predictor.fc."),
    (".encoder.blocks.", ".encoder.down_blocks."),
    (".decoder.blocks.", ".decoder.up_blocks."),
)


def _pattern(name: str) -> str:
    anchor = "^" if name.startswith("^") else ""
    return anchor + re.escape(name.lstrip("^")).replace(re.escape("{n}"), r"(\d+)")


def _template(name: str) -> str:
    return name.lstrip("^").replace("{n}", r"\1")


def to_original_key(key: str) -> str:
    for ours, original in RENAMES:
        key = re.sub(_pattern(ours), _template(original), key)
    return key


def from_original_key(key: str) -> str:
    for ours, original in RENAMES:  # the same order: a specific rule before the general one it refines
        key = re.sub(_pattern(original), _template(ours), key)
    return key


def _ours_only(key: str, tensor: torch.Tensor) -> bool:
    """Tensors the original has no counterpart of: a scale-1 downsampler's 1x1 kernel (the original builds no
    ``down`` then) and the background predictor's identity matrix."""
    return (key.endswith("downsample.weight") and tensor.shape[-2:] == (1, 1)) or key == "identity"


def to_original(pipe) -> dict[str, dict[str, torch.Tensor]]:
    """An MRAAPipeline's networks as the original's checkpoint dict (the inverse of the conversion)."""
    checkpoint: dict[str, dict[str, torch.Tensor]] = {}
    for name in NETWORKS:
        network = getattr(pipe, name, None)
        if network is None:
            continue
        part = {}
        for key, tensor in network.state_dict().items():
            if _ours_only(key, tensor):
                continue
            part[to_original_key(f"{name}.{key}")[len(name) + 1 :]] = tensor
        checkpoint[name] = part
    return checkpoint


# -- reading the configuration off the tensors --------------------------------------------------------------


def _count(keys, prefix: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(found) + 1 if found else 0


def _scale_of(kernel: torch.Tensor | None) -> float:
    """The downsampler's scale from its Gaussian's size (2·round(4σ)+1 with σ = (n-1)/2 for scale 1/n)."""
    if kernel is None:
        return 1.0
    size = kernel.shape[-1]
    for n in range(2, 17):
        if 2 * round((n - 1) / 2 * 4) + 1 == size:
            return 1.0 / n
    raise ValueError(f"a {size}x{size} anti-aliasing kernel matches no scale 1/n")


def _hourglass(state: dict, prefix: str) -> dict:
    blocks = _count(state, f"{prefix}encoder.down_blocks.")
    if not blocks:
        raise KeyError(f"{prefix}encoder.down_blocks.0.conv.weight")
    outs = [state[f"{prefix}encoder.down_blocks.{i}.conv.weight"].shape[0] for i in range(blocks)]
    return {
        "in_channels": state[f"{prefix}encoder.down_blocks.0.conv.weight"].shape[1],
        "block_expansion": state[f"{prefix}decoder.up_blocks.{blocks - 1}.conv.weight"].shape[0],
        "max_features": max(outs),
        "num_blocks": blocks,
    }


def analyse(state: dict[str, torch.Tensor]) -> dict[str, dict]:
    """Each network's constructor arguments, read off the original's (prefixed) tensors."""
    configs: dict[str, dict] = {}
    regions = {
        k[len("region_predictor.") :]: v for k, v in state.items() if k.startswith("region_predictor.")
    }
    hourglass = _hourglass(regions, "predictor.")
    num_regions = regions["regions.weight"].shape[0]
    configs["region_predictor"] = {
        "num_regions": num_regions,
        "in_channels": hourglass["in_channels"],
        "block_expansion": hourglass["block_expansion"],
        "max_features": hourglass["max_features"],
        "num_blocks": hourglass["num_blocks"],
        "scale_factor": _scale_of(regions.get("down.weight")),
        "pca_based": "jacobian.weight" not in regions,
    }
    generator = {k[len("generator.") :]: v for k, v in state.items() if k.startswith("generator.")}
    flow = _hourglass(generator, "pixelwise_flow_predictor.hourglass.")
    slots = generator["pixelwise_flow_predictor.mask.weight"].shape[0]
    in_channels = generator["first.conv.weight"].shape[1]
    down_blocks = _count(generator, "down_blocks.")
    configs["generator"] = {
        "num_regions": slots - 1,
        "in_channels": in_channels,
        "block_expansion": generator["first.conv.weight"].shape[0],
        "max_features": max(
            [generator["first.conv.weight"].shape[0]]
            + [generator[f"down_blocks.{i}.conv.weight"].shape[0] for i in range(down_blocks)]
        ),
        "num_down_blocks": down_blocks,
        "num_bottleneck_blocks": _count(generator, "bottleneck.r"),
        "flow_params": {
            "block_expansion": flow["block_expansion"],
            "max_features": flow["max_features"],
            "num_blocks": flow["num_blocks"],
            "scale_factor": _scale_of(generator.get("pixelwise_flow_predictor.down.weight")),
            "use_deformed_source": flow["in_channels"] == slots * (1 + in_channels),
            "estimate_occlusion_map": "pixelwise_flow_predictor.occlusion.weight" in generator,
        },
    }
    if slots - 1 != num_regions:
        raise ValueError(f"the region predictor has {num_regions} regions, the generator {slots - 1}")
    background = {k[len("bg_predictor.") :]: v for k, v in state.items() if k.startswith("bg_predictor.")}
    if background.get("fc.weight") is None:
        configs["bg_predictor"] = {"bg_type": "zero", "in_channels": in_channels}
    else:
        encoder = _count(background, "encoder.down_blocks.")
        outs = [background[f"encoder.down_blocks.{i}.conv.weight"].shape[0] for i in range(encoder)]
        types = {2: "shift", 6: "affine", 8: "perspective"}
        configs["bg_predictor"] = {
            "bg_type": types[background["fc.weight"].shape[0]],
            "in_channels": background["encoder.down_blocks.0.conv.weight"].shape[1] // 2,
            "block_expansion": outs[0] // 2,
            "max_features": max(outs),
            "num_blocks": encoder,
        }
    if "avd_network.id_encoder.0.weight" in state:
        configs["avd_network"] = {
            "num_regions": state["avd_network.id_encoder.0.weight"].shape[1] // 6,
            "id_bottleneck": state["avd_network.id_encoder.9.weight"].shape[0],
            "pose_bottleneck": state["avd_network.pose_encoder.9.weight"].shape[0],
        }
    return configs


def _refuse_other_families(state: dict, path: Path) -> None:
    networks = {k.split(".", 1)[0] for k in state}
    if "kp_detector" in networks:
        raise InputError(
            f"'{path}' is a First Order Motion Model checkpoint (kp_detector): `magicpose convert mraa` reads "
            "MRAA checkpoints (region_predictor, generator)"
        )
    missing = [n for n in ("region_predictor", "generator") if n not in networks]
    if missing:
        raise InputError(
            f"'{path}' holds no MRAA {' and '.join(missing)}: pass a checkpoint written by the original MRAA "
            "training (a dict of region_predictor, generator, bg_predictor and avd_network state dicts)"
        )


def build_networks(configs: dict[str, dict]) -> dict:
    from magicpose.models.mraa_avd import AVDNetwork
    from magicpose.models.mraa_background import BackgroundMotionPredictor
    from magicpose.models.mraa_generator import MRAAGenerator
    from magicpose.models.mraa_regions import RegionPredictor

    classes = {
        "region_predictor": RegionPredictor,
        "generator": MRAAGenerator,
        "bg_predictor": BackgroundMotionPredictor,
        "avd_network": AVDNetwork,
    }
    return {name: classes[name](**config) for name, config in configs.items()}


def load_original(state: dict[str, torch.Tensor], path: Path, sample_size: int = 256) -> dict:
    """The networks of an original checkpoint (prefixed tensors), loaded strictly; one line on any mismatch."""
    _refuse_other_families(state, path)
    state = {k: v for k, v in state.items() if k.split(".", 1)[0] in NETWORKS}
    try:
        configs = analyse(state)
        configs["generator"]["sample_size"] = sample_size
        networks = build_networks(configs)
        for name, network in networks.items():
            expected = network.state_dict()
            renamed = {
                from_original_key(k)[len(name) + 1 :]: v for k, v in state.items() if k.startswith(f"{name}.")
            }
            for (
                key,
                tensor,
            ) in expected.items():  # what the original has no tensor for (a scale-1 downsampler)
                if key not in renamed and _ours_only(key, tensor):
                    renamed[key] = tensor
            network.load_state_dict(renamed, strict=True)
    except (KeyError, ValueError, RuntimeError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(
            f"'{path}' is not a complete MRAA checkpoint ({first[:200]}): pass the .pth the original training "
            "wrote, whole (copy it again if it was cut short)"
        ) from None
    return networks


def convert_mraa(
    checkpoint: str | Path,
    output_dir: str | Path,
    *,
    sample_size: int = 256,
    dtype: str | torch.dtype | None = None,
    allow_unsafe_pickle: bool = False,
    overwrite: bool = False,
    log: Log | None = stderr_line,
) -> Path:
    """An original MRAA checkpoint -> an ``MRAAPipeline`` folder (``sample_size``: the frame size it was trained
    at, the pipeline's default output size)."""
    from magicpose.pipelines.pipeline_mraa import MRAAPipeline

    log = log or (lambda message: None)
    target = parse_dtype(dtype)
    path = Path(checkpoint)
    out = check_output(output_dir, overwrite, [path])  # before any slow work
    state = load_checkpoint(path, allow_unsafe_pickle, nested=True)
    networks = load_original(state, path, sample_size)
    for network in networks.values():
        network.load_state_dict(cast(network.state_dict(), target), strict=True)
        network.eval()
    pipe = MRAAPipeline(**networks)
    regions = networks["region_predictor"].config
    description = (
        f"MRAA pipeline ({regions.num_regions} regions, {'PCA' if regions.pca_based else 'regressed'} shapes, "
        f"{networks['bg_predictor'].config.bg_type} background, {'with' if 'avd_network' in networks else 'no'} AVD)"
    )
    log(description)
    ignored = sorted({k.split(".", 1)[0] for k in state} - set(NETWORKS))
    with staged_output(out, overwrite, [path]) as folder:
        pipe.save_pretrained(folder, safe_serialization=True)
        write_info(
            folder,
            mode="mraa",
            source=path,
            kind="mraa_checkpoint",
            description=description,
            dtype=target,
            configs={name: "inferred from the tensors" for name in networks},
            ignored=ignored,
            unexpected=[],
            filled={},
            extra={"configs": {name: dict(n.config) for name, n in networks.items()}},
        )
    return out
