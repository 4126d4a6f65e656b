"""What an Everybody Dance Now (pix2pixHD) checkpoint is, read from its keys and tensor shapes alone.

The published generators are flat ``nn.Sequential`` s (see :mod:`magicpose.models.pix2pixhd` for the
layouts), so their configuration is in the keys and shapes: the stem conv ``model.1.weight`` is
``(ngf, input_nc, 7, 7)``; the downsampling convs follow at indices ``4, 7, 10, ...`` (so the first ResNet block's index
gives their number); each ResNet block is one index with ``conv_block.*`` keys; BatchNorm (unlike pix2pixHD's
affine-free instance norm) leaves ``running_mean`` keys; a local enhancer adds ``model1_1.*`` (its stem gives
its ``ngf``) and ``model1_2.*`` (its ResNet blocks and c7 head). Nothing is taken from the file name.

The face enhancers are global generators of fixed architectures (:data:`FACE_LAYOUTS`), so a global-layout
file of exactly one of them is taken to be that face enhancer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

MODULE = "module."  # the prefix of a state dict saved from a DataParallel wrapper
LOCAL_PREFIXES = ("model.", "model1_1.", "model1_2.")
DISCRIMINATOR_KEY = re.compile(r"(scale\d+_layer\d+|layer\d+|facemodel\d*|model\d+)\.")


@dataclass(frozen=True)
class GeneratorLayout:
    """A pix2pixHD generator's configuration as read from its tensors (``ngf`` is the outermost one: the
    local branch's for a local enhancer, whose global branch runs at ``2 * ngf``)."""

    architecture: str  # "local", "global", or "unet" (the official U-Net face generator)
    input_nc: int
    output_nc: int
    ngf: int
    n_downsample_global: int
    n_blocks_global: int
    n_blocks_local: int  # 0 for a global generator
    norm: str  # "instance" or "batch"

    def describe(self) -> str:
        norm = "BatchNorm" if self.norm == "batch" else "instance norm"
        if self.architecture == "unet":
            return (
                f"U-Net ({self.input_nc} inputs, {self.output_nc} outputs, ngf {self.ngf}, "
                f"{self.n_downsample_global} levels, {norm})"
            )
        if self.architecture == "local":
            return (
                f"local enhancer ({self.input_nc} inputs, {self.output_nc} outputs, ngf {self.ngf} (global "
                f"{2 * self.ngf}), {self.n_downsample_global} downsamplings, {self.n_blocks_global} global "
                f"blocks, {self.n_blocks_local} local blocks, {norm})"
            )
        return (
            f"global generator ({self.input_nc} inputs, {self.output_nc} outputs, ngf {self.ngf}, "
            f"{self.n_downsample_global} downsamplings, {self.n_blocks_global} blocks, {norm})"
        )

    def as_dict(self) -> dict:
        return asdict(self)


# The two face enhancers magicpose runs (magicpose.models.pix2pixhd.official_face_generator and
# lotayou_face_generator): global generators of these exact configurations.
FACE_LAYOUTS = {
    "official": GeneratorLayout("global", 6, 3, 64, 3, 5, 0, "instance"),
    "lotayou": GeneratorLayout("global", 3, 3, 64, 2, 6, 0, "batch"),
}


@dataclass(frozen=True)
class EdnFile:
    """``kind``: ``edn_local``, ``edn_global``, ``edn_face_official``, ``edn_face_lotayou`` or
    ``edn_discriminator``; ``layout`` for the generators (face enhancers included)."""

    kind: str
    layout: GeneratorLayout | None = None


def strip_module(key: str) -> str:
    return key[len(MODULE) :] if key.startswith(MODULE) else key


def _shape(state_dict: Mapping, key: str) -> tuple[int, ...] | None:
    value = state_dict.get(key)
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else None


def _block_indices(keys, prefix: str) -> set[int]:
    """The layer indices holding ResNet blocks (``prefix.N.conv_block.*``)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.conv_block\.")
    return {int(m[1]) for k in keys if (m := pattern.match(k))}


def _first_conv(state_dict: Mapping) -> tuple[int, ...] | None:
    """The shape of the lowest-indexed 4-D ``model.N.weight`` (a generator's stem, a discriminator's first conv)."""
    indexed = []
    for key in state_dict:
        if (m := re.fullmatch(r"model\.(\d+)\.weight", key)) and len(_shape(state_dict, key) or ()) == 4:
            indexed.append((int(m[1]), key))
    return _shape(state_dict, min(indexed)[1]) if indexed else None


def generator_layout(state_dict: Mapping) -> GeneratorLayout | None:
    """The configuration of a published generator (keys without ``module.``); None if it is not one."""
    stem = _shape(state_dict, "model.1.weight")
    if stem is None or len(stem) != 4 or stem[2:] != (7, 7):
        return None
    ngf_global, input_nc = stem[0], stem[1]
    keys = list(state_dict)
    block_indices = _block_indices(keys, "model.")
    blocks = len(block_indices)
    if block_indices:  # stem (4 layers), then 3 per downsampling, then the blocks
        down = max((min(block_indices) - 4) // 3, 0)
    else:
        down = 0
        while _shape(state_dict, f"model.{4 + 3 * down}.weight") == (
            ngf_global * 2 ** (down + 1),
            ngf_global * 2**down,
            3,
            3,
        ):
            down += 1
    norm = "batch" if any(k.endswith(".running_mean") for k in keys) else "instance"
    if any(k.startswith("model1_1.") for k in keys):
        local_stem = _shape(state_dict, "model1_1.1.weight")
        ngf = local_stem[0] if local_stem and len(local_stem) == 4 else ngf_global // 2
        local_blocks = len(_block_indices(keys, "model1_2."))
        head = _shape(state_dict, f"model1_2.{local_blocks + 4}.weight")
        output_nc = head[0] if head and len(head) == 4 else 3
        return GeneratorLayout("local", input_nc, output_nc, ngf, down, blocks, local_blocks, norm)
    head = _shape(state_dict, f"model.{5 + 6 * down + blocks}.weight")
    output_nc = head[0] if head and len(head) == 4 else 3
    return GeneratorLayout("global", input_nc, output_nc, ngf_global, down, blocks, 0, norm)


UNET_STEM = "model.model.0.weight"  # the official U-Net face generator's first conv (ngf, 6, 4, 4)


def unet_face_layout(state_dict: Mapping) -> GeneratorLayout | None:
    """The official U-Net face generator (``--faceGtype unet``): its stem ``model.model.0.weight`` is a 4x4 conv
    and its keys nest ``model.model.1.model.3...``; ``n_downsample_global`` holds its fixed five levels."""
    stem = _shape(state_dict, UNET_STEM)
    if stem is None or len(stem) != 4 or stem[2:] != (4, 4):
        return None
    head = _shape(
        state_dict, "model.model.3.weight"
    )  # the outermost transposed conv (2 ngf, output_nc, 4, 4)
    output_nc = head[1] if head and len(head) == 4 else 3
    return GeneratorLayout("unet", stem[1], output_nc, stem[0], 5, 0, 0, "batch")


def analyse(state_dict: Mapping) -> EdnFile | None:
    """What an EDN/pix2pixHD checkpoint is (generator, face enhancer, discriminator); None for anything else."""
    stripped = {strip_module(k): v for k, v in state_dict.items()}
    if any(DISCRIMINATOR_KEY.match(k) for k in stripped):
        return EdnFile("edn_discriminator")
    unet = unet_face_layout(stripped)
    if unet is not None:
        return EdnFile("edn_face_official_unet", unet)
    if not any(re.match(r"model\.\d+\.", k) for k in stripped):
        return None
    first = _first_conv(stripped)
    if first is not None and first[2:] == (4, 4):  # a PatchGAN's kernel-4 conv (a single flat NLayer D)
        return EdnFile("edn_discriminator")
    layout = generator_layout(stripped)
    if layout is None:
        return None
    for variant, face in FACE_LAYOUTS.items():
        if layout == face:
            return EdnFile(f"edn_face_{variant}", layout)
    return EdnFile(f"edn_{layout.architecture}", layout)
