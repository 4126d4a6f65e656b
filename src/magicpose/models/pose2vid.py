"""The Everybody Dance Now models as diffusers models: saved with ``save_pretrained`` (``config.json`` +
safetensors) and loaded with ``from_pretrained``, like every other network of the package.

:class:`Pose2VidGenerator` is the temporal pose2vid generator (a global pix2pixHD generator, or one with a
local enhancer); :class:`FaceEnhancer` is a face residual generator, pose-conditioned (official EDN) or not
(Lotayou's). The networks themselves are :mod:`magicpose.models.pix2pixhd`'s; these wrappers only add the
configuration, so state-dict keys are the network's with a ``net.`` prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from magicpose.models import pix2pixhd
from magicpose.models.face_enhancer import OFFICIAL_SIZE_FRACTION
from magicpose.models.face_unet import LEVELS, UnetFaceGenerator

NetG = Literal["global", "local"]
FaceVariant = Literal["official", "official_unet", "lotayou"]


class Pose2VidGenerator(ModelMixin, ConfigMixin):
    """EDN's pose2vid generator: ``G(cat(pose_t, previous_frame))`` -> frame_t, all in [-1, 1].

    Args:
        architecture: "local" (global generator + one local enhancer, at ``2 * ngf`` and ``ngf``) or "global".
        pose_channels, image_channels: the pose map's and the frame's channels (the input has both).
        ngf: filters of the outermost layer (the local branch's for "local"; EDN: 32 local, 64 global).
        n_downsample_global, n_blocks_global: the global generator's depth (EDN: 4, 9).
        n_blocks_local: ResNet blocks of the local enhancer (EDN: 3).
        norm: "instance" (affine-free, as EDN) or "batch".
        pose_range: how pose maps are scaled on input: "signed" ([-1, 1], Lotayou's release) or "unit"
            ([0, 1], the official EDN code, which does not normalise its label maps).
        sample_size: the (height, width) it was trained at, the default output size; None (unrecorded) means
            256 x 256. The generator is convolutional and runs at any multiple of ``size_multiple``, but a
            subject rendered far from its training scale comes out as noise.
    """

    @register_to_config
    def __init__(
        self,
        architecture: NetG = "local",
        pose_channels: int = 3,
        image_channels: int = 3,
        ngf: int = 32,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        n_blocks_local: int = 3,
        norm: str = "instance",
        pose_range: str = "signed",
        sample_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if pose_range not in ("signed", "unit"):
            raise ValueError(f"pose_range must be 'signed' or 'unit', got {pose_range!r}")
        input_nc = pose_channels + image_channels
        self.net = pix2pixhd.generator(
            architecture,
            input_nc,
            image_channels,
            ngf,
            n_downsample_global,
            n_blocks_global,
            n_blocks_local,
            norm,
        )

    @property
    def output_nc(self) -> int:  # read by pix2pixhd.step for the first frame's zeros
        return self.config.image_channels

    @property
    def default_size(self) -> tuple[int, int]:
        """(height, width): the training size when the config records it, else 256 x 256."""
        size = self.config.sample_size
        return (int(size[0]), int(size[1])) if size else (256, 256)

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this (the global branch halves them ``n_downsample_global``
        times, after the local enhancer's own halving)."""
        return 2 ** (self.config.n_downsample_global + (self.config.architecture == "local"))

    def pose_input(self, pose_maps: Tensor) -> Tensor:
        """uint8 pose maps (B, C, H, W) -> the generator's input range, as float32."""
        unit = pose_maps.float() / 255.0
        return unit * 2 - 1 if self.config.pose_range == "signed" else unit

    def forward(self, pose: Tensor, previous: Tensor | None = None) -> Tensor:
        """The next frame from the pose map (already in ``pose_range``) and the previous generated frame
        (zeros when None)."""
        return pix2pixhd.step(self.net, pose, previous)


# (ngf, n_downsampling, n_blocks) of the published face generators; the U-Net's depth is fixed (face_unet.LEVELS)
FACE_SIZES = {"official": (64, 3, 5), "official_unet": (64, LEVELS, 0), "lotayou": (64, 2, 6)}
# How each release runs its face model in its test loop (see Pose2VidPipeline.iter_frames):
# feedback "enhanced": the frame fed to the next step is the face-enhanced one (the official test loop);
# "body": the body generator's own frame (Lotayou enhances the saved frames afterwards).
VARIANT_FEEDBACK = {"official": "enhanced", "official_unet": "enhanced", "lotayou": "body"}
PASTES = ("hard", "feather")
NORM_STATISTICS = ("crop", "running")


class FaceEnhancer(ModelMixin, ConfigMixin):
    """A face residual generator on the head crop: "official" sees ``cat(pose crop, generated crop)``
    (instance norm, 3 downsamplings, 5 blocks), "official_unet" the same inputs through the official code's
    default U-Net (BatchNorm, :mod:`magicpose.models.face_unet`), "lotayou" the generated crop alone
    (BatchNorm, 2, 6).

    ``ngf``, ``n_downsampling`` and ``n_blocks`` default (None) to the variant's published size, which the
    saved config then records; smaller networks serve tests and quick trials. ``size_fraction`` is the side
    of the head crops it was trained on over the frame height (official EDN: 128 px of 512; Lotayou: 48 of
    288); inference crops the same. How the pipeline uses it, each defaulting to what the release's own test
    loop does:

    * ``paste``: "hard" (the enhanced crop replaces the box, as both originals) or "feather" (blended in
      with a mask falling to 0 at the box's border).
    * ``feedback``: "enhanced" or "body", the frame fed back to the body generator (None: the variant's,
      :data:`VARIANT_FEEDBACK`).
    * ``norm_statistics``: for the BatchNorm variants, "crop" normalises each crop with its own statistics
      (neither original calls ``.eval()`` before its test loop) and "running" with the trained running
      statistics.
    """

    @register_to_config
    def __init__(
        self,
        variant: FaceVariant = "official",
        ngf: int | None = None,
        n_downsampling: int | None = None,
        n_blocks: int | None = None,
        size_fraction: float = OFFICIAL_SIZE_FRACTION,
        paste: str = "hard",
        feedback: str | None = None,
        norm_statistics: str = "crop",
    ) -> None:
        super().__init__()
        if variant not in FACE_SIZES:
            raise ValueError(f"variant must be one of {', '.join(FACE_SIZES)}, got {variant!r}")
        for name, value, allowed in (
            ("paste", paste, PASTES),
            ("feedback", feedback, (None, "enhanced", "body")),
            ("norm_statistics", norm_statistics, NORM_STATISTICS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
        names, given = ("ngf", "n_downsampling", "n_blocks"), (ngf, n_downsampling, n_blocks)
        sizes = {k: d if v is None else v for k, v, d in zip(names, given, FACE_SIZES[variant], strict=True)}
        self.register_to_config(**sizes)  # the saved config records the actual size
        if variant == "official":
            self.net = pix2pixhd.official_face_generator(**sizes)
        elif variant == "official_unet":
            if (sizes["n_downsampling"], sizes["n_blocks"]) != (LEVELS, 0):
                raise ValueError(
                    f"the U-Net face generator has {LEVELS} levels and no ResNet blocks: leave "
                    "n_downsampling and n_blocks out"
                )
            self.net = UnetFaceGenerator(6, 3, ngf=sizes["ngf"])
        else:
            self.net = pix2pixhd.lotayou_face_generator(**sizes)

    @property
    def size_multiple(self) -> int:
        """Crop sides must be multiples of this (the generator's downsampling factor)."""
        return 2**self.config.n_downsampling

    @property
    def uses_pose(self) -> bool:
        return self.config.variant != "lotayou"

    @property
    def feeds_back_enhanced(self) -> bool:
        return (self.config.feedback or VARIANT_FEEDBACK[self.config.variant]) == "enhanced"

    def forward(
        self, generated_crop: Tensor, pose_crop: Tensor | None = None, norm_statistics: str | None = None
    ) -> Tensor:
        """The enhanced crop, ``generated_crop + residual``; ``norm_statistics`` overrides the config's."""
        statistics = norm_statistics or self.config.norm_statistics
        if statistics not in NORM_STATISTICS:
            raise ValueError(f"norm_statistics must be 'crop' or 'running', got {statistics!r}")
        # in training mode BatchNorm already uses (and updates) batch statistics
        with crop_statistics(self.net, enabled=statistics == "crop" and not self.training):
            return pix2pixhd.apply_face_residual(
                self.net, generated_crop, pose_crop if self.uses_pose else None
            )


@contextmanager
def crop_statistics(module: nn.Module, enabled: bool = True) -> Iterator[None]:
    """BatchNorm layers of ``module`` normalise with the statistics of the batch at hand (as in training mode)
    without updating their running statistics; restored afterwards. No effect on instance norm."""
    layers = (
        [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if enabled else []
    )
    saved = [(m, m.training, m.track_running_stats) for m in layers]
    for m in layers:
        m.training, m.track_running_stats = True, False  # batch statistics, running buffers left untouched
    try:
        yield
    finally:
        for m, training, track in saved:
            m.training, m.track_running_stats = training, track
