"""MRAA inference (clean-room): one source image animated by a driving video, no pose detector involved.

The region predictor finds K regions in the source and in each driving frame; the generator warps the source
to the driving frame's regions, transferred in one of three ``mode``\\ s (ref-mraa-and-peers.md §A.6):

* ``standard``: the driving frame's regions as they are (self-reenactment, or a source shaped like the driver);
* ``relative``: the source's regions moved as the driver's moved since its first frame (the source should
  stand like the first driving frame);
* ``avd``: the AVD network's regions with the source's shape in the driver's pose (cross-identity).

Frames are generated one at a time and yielded as they come (:meth:`MRAAPipeline.iter_frames`), so memory does
not grow with the video. The background predictor is left out, as in the original's animation: it is kept in
the folder for the reconstruction evaluation (``background=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from magicpose.image_utils import center_crop_resize
from magicpose.models.mraa_avd import AVDNetwork
from magicpose.models.mraa_background import BackgroundMotionPredictor
from magicpose.models.mraa_generator import MRAAGenerator
from magicpose.models.mraa_regions import RegionPredictor, relative_regions
from magicpose.pipelines.frame_output import format_frames
from magicpose.pipelines.generic_loading import GenericLoadingMixin

Frame = PIL.Image.Image | np.ndarray
MODES = ("standard", "relative", "avd")


@dataclass
class MRAAPipelineOutput(BaseOutput):
    """``frames``: a list of PIL images, a float array (F, H, W, 3) in [0, 1], or a tensor (F, 3, H, W)."""

    frames: list[PIL.Image.Image] | np.ndarray | torch.Tensor


def size_multiple(region_predictor: RegionPredictor, generator: MRAAGenerator) -> int:
    """Frame sides must be multiples of this: each predictor halves its subsampled input once per level."""
    regions, flow = region_predictor.config, generator.flow_predictor
    return max(
        round(1 / regions.scale_factor) * 2**regions.num_blocks,
        flow.downsample.step * 2 ** len(flow.hourglass.encoder.blocks),
        2**generator.config.num_down_blocks,
    )


class MRAAPipeline(GenericLoadingMixin, DiffusionPipeline):
    r"""Articulated animation with region motion (MRAA, Siarohin et al. 2021), re-implemented from the paper.

    Args:
        region_predictor: :class:`~magicpose.models.mraa_regions.RegionPredictor`.
        generator: :class:`~magicpose.models.mraa_generator.MRAAGenerator`.
        avd_network: :class:`~magicpose.models.mraa_avd.AVDNetwork`, for ``mode="avd"`` (optional).
        bg_predictor: :class:`~magicpose.models.mraa_background.BackgroundMotionPredictor`, used by the
            reconstruction evaluation only (optional).
    """

    model_cpu_offload_seq = "region_predictor->avd_network->generator"
    _optional_components = ["avd_network", "bg_predictor"]

    def __init__(
        self,
        region_predictor: RegionPredictor,
        generator: MRAAGenerator,
        avd_network: AVDNetwork | None = None,
        bg_predictor: BackgroundMotionPredictor | None = None,
    ) -> None:
        super().__init__()
        self.register_modules(
            region_predictor=region_predictor,
            generator=generator,
            avd_network=avd_network,
            bg_predictor=bg_predictor,
        )

    @property
    def size_multiple(self) -> int:
        return size_multiple(self.region_predictor, self.generator)

    @property
    def default_size(self) -> tuple[int, int]:
        size = self.generator.config.sample_size
        return size, size

    def image_input(self, image: Frame, height: int, width: int) -> torch.Tensor:
        """A frame as the networks read it: centre-cropped and resized, (1, 3, H, W) in [0, 1]."""
        array = np.asarray(
            image.convert("RGB") if isinstance(image, PIL.Image.Image) else image, dtype=np.uint8
        )
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"frames must be RGB images (H, W, 3), got an array of shape {array.shape}")
        array = center_crop_resize(array, width, height)
        tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]
        return tensor.to(self._execution_device, self.generator.dtype) / 255.0

    def check_inputs(self, mode: str, height: int, width: int) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "avd" and self.avd_network is None:
            raise ValueError(
                "mode='avd' needs the AVD network, which this pipeline folder lacks (train it with "
                "stage=train_avd); use mode='relative' or 'standard'"
            )
        multiple = self.size_multiple
        if height <= 0 or width <= 0 or height % multiple or width % multiple:
            raise ValueError(
                f"height and width must be positive multiples of {multiple} for these networks, got {height}x{width}"
            )

    @torch.no_grad()
    def iter_frames(
        self,
        image: Frame,
        driving_frames: Iterable[Frame],
        mode: str = "standard",
        height: int | None = None,
        width: int | None = None,
        background: bool = False,
        callback: Callable[[int], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """Animate ``image`` frame by frame, yielding uint8 (H, W, 3) arrays; ``callback(i)`` after frame i.
        ``background=True`` moves the background as the background predictor says (reconstruction only)."""
        default_height, default_width = self.default_size
        height, width = height or default_height, width or default_width
        self.check_inputs(mode, height, width)
        if background and self.bg_predictor is None:
            raise ValueError(
                "background=True needs the background predictor, which this pipeline folder lacks"
            )
        source = self.image_input(image, height, width)
        source_regions = self.region_predictor(source)
        first = None
        for i, frame in enumerate(driving_frames):
            driving = self.image_input(frame, height, width)
            driving_regions = self.region_predictor(driving)
            if mode == "relative":
                first = first if first is not None else driving_regions
                regions = relative_regions(source_regions, driving_regions, first)
            elif mode == "avd":
                regions = self.avd_network(source_regions, driving_regions)
            else:
                regions = driving_regions
            matrix = self.bg_predictor(source, driving) if background else None
            out = self.generator(source, source_regions, regions, matrix)
            if callback is not None:
                callback(i)
            yield (
                (out.prediction[0].float().clamp(0, 1) * 255)
                .round()
                .to(torch.uint8)
                .permute(1, 2, 0)
                .cpu()
                .numpy()
            )

    def __call__(
        self,
        image: Frame = None,
        driving_frames: Iterable[Frame] = None,
        mode: str = "standard",
        height: int | None = None,
        width: int | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> MRAAPipelineOutput | tuple:
        r"""Animate ``image`` with ``driving_frames`` (a list of PIL images or uint8 (H, W, 3) arrays).

        Args:
            image: the source picture.
            driving_frames: the driving video's frames, one output frame each.
            mode: ``"standard"``, ``"relative"`` or ``"avd"`` (see the module notes).
            height, width: the output size (default: the size the networks were trained at); frames are
                centre-cropped to its aspect ratio and resized.
            output_type: ``"pil"``, ``"np"`` (F, H, W, 3) in [0, 1] or ``"pt"`` (F, 3, H, W) in [0, 1].
        """
        if image is None:
            raise ValueError("`image` is missing: pass the source picture to animate")
        if driving_frames is None:
            raise ValueError("`driving_frames` is missing: pass the driving video's frames")
        frames = list(self.iter_frames(image, driving_frames, mode, height, width))
        if not frames:
            raise ValueError("`driving_frames` is empty: pass at least one driving frame")
        out = format_frames(np.stack(frames), output_type)
        return MRAAPipelineOutput(frames=out) if return_dict else (out,)
