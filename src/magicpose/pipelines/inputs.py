"""Reference images and pose maps in diffusers' input conventions (``VaeImageProcessor``).

Accepted for one image: a PIL image; a numpy array ``(H, W)``, ``(H, W, 1|3)`` in [0, 1] when float, [0, 255]
when uint8 (as PIL gives it); a tensor ``(3, H, W)`` in [0, 1], or in [-1, 1] when it holds negative values
(diffusers' deprecated convention, still read). Batches stack these on a first axis (``(N, H, W, C)`` arrays,
``(N, 3, H, W)`` tensors) or come as lists. Anything else, or values outside the range, is refused in one line.

Every image is centre-cropped to the output's aspect ratio and resized. Images of another size go through
8 bits (the PIL resize of ``center_crop_resize``), as pose maps always do (they are stored as uint8); a float
reference already at the output size keeps its float values.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch

from magicpose.image_utils import center_crop_resize

ImageInput = PIL.Image.Image | np.ndarray | torch.Tensor


def _single_images(image, what: str) -> list[ImageInput]:
    """Split a list or a stacked batch into single images."""
    if isinstance(image, (list, tuple)):
        if not image:
            raise ValueError(f"`{what}` is an empty list")
        return [one for item in image for one in _single_images(item, what)]
    if isinstance(image, (np.ndarray, torch.Tensor)) and image.ndim == 4:
        return list(image)
    if isinstance(image, (PIL.Image.Image, np.ndarray, torch.Tensor)):
        return [image]
    raise ValueError(
        f"`{what}` must be a PIL image, a numpy array or a torch tensor (or a list of them), "
        f"got {type(image).__name__}"
    )


def _as_float_hwc(image: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    """A numpy array or tensor as float32 (H, W, 3) in [0, 1], following diffusers' value ranges."""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"`{what}` tensors must be (3, H, W) or (N, 3, H, W), got {tuple(image.shape)}")
        if image.dtype == torch.uint8:
            array = image.permute(1, 2, 0).cpu().numpy()
        else:
            values = image.detach().float().cpu()
            low, high = float(values.min()), float(values.max())
            if (
                low < 0 and low >= -1 - 1e-3 and high <= 1 + 1e-3
            ):  # diffusers reads negative values as [-1, 1]
                values = (values + 1) / 2
            array = values.permute(1, 2, 0).numpy()
    else:
        array = image
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3 or array.shape[-1] not in (1, 3):
            raise ValueError(f"`{what}` arrays must be (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"`{what}` arrays must be uint8 or float in [0, 1], got {array.dtype}")
    array = array.astype(np.float32)
    low, high = float(array.min()), float(array.max())
    if not (np.isfinite(low) and np.isfinite(high)) or low < -1e-3 or high > 1 + 1e-3:
        ranges = "[0, 1] (or [-1, 1])" if isinstance(image, torch.Tensor) else "[0, 1]"
        raise ValueError(
            f"`{what}` float values must lie in {ranges}, as diffusers reads images, got "
            f"[{low:.3g}, {high:.3g}]"
        )
    return np.clip(array, 0, 1)


def _to_uint8(image: ImageInput, what: str) -> np.ndarray:
    if isinstance(image, PIL.Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3:
        return image
    return (_as_float_hwc(image, what) * 255).round().astype(np.uint8)


def pose_to_uint8(pose: ImageInput, height: int, width: int) -> np.ndarray:
    """One pose map as uint8 (H, W, 3), cropped and resized to the output."""
    return center_crop_resize(np.ascontiguousarray(_to_uint8(pose, "pose_images")), width, height)


def reference_pixels(image, height: int, width: int) -> torch.Tensor:
    """Every reference image as one float tensor (N, 3, H, W) in [-1, 1], the VAE's input range."""
    out = []
    for one in _single_images(image, "image"):
        if isinstance(one, PIL.Image.Image) or (isinstance(one, np.ndarray) and one.dtype == np.uint8):
            array = center_crop_resize(np.ascontiguousarray(_to_uint8(one, "image")), width, height)
            array = array.astype(np.float32) / 255.0
        else:
            array = _as_float_hwc(one, "image")
            if array.shape[:2] != (height, width):
                array = center_crop_resize((array * 255).round().astype(np.uint8), width, height)
                array = array.astype(np.float32) / 255.0
        out.append(torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1))
    return torch.stack(out) * 2 - 1
