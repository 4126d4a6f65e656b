"""``magicpose convert pose2vid``: Everybody Dance Now generators (and face enhancers) to a Pose2VidPipeline.

Two families of releases, the same pix2pixHD layouts (:mod:`magicpose.models.pix2pixhd`):

* ``lotayou`` (``Lotayou/everybody_dance_now_pytorch``): ``latest_net_G.pth``, a local enhancer trained on
  pose maps normalised to [-1, 1]; face enhancer ``final_generator.pth`` (BatchNorm, the crop alone in).
* ``official`` (``carolineec/EverybodyDanceNow``): ``{epoch}_net_G.pth``, a global or local generator
  trained on label maps that are not normalised ([0, 1]); face enhancer ``{epoch}_net_Gface.pth``
  (instance norm, pose crop + generated crop in).

Every architectural value is read from the tensors (:mod:`.edn_layout`) and then checked against the
module it describes, key by key and shape by shape. The pose maps' range is not in the tensors: the family
decides it (``family``; by default the face file's family, else see :func:`resolve_family`). Tensors are
renamed, never recomputed; BatchNorm's ``num_batches_tracked``, absent from files saved before PyTorch
0.4.1, is filled with 0 (it is not used at inference) and recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from magicpose.convert import edn_layout, kinds
from magicpose.convert.edn_layout import FACE_LAYOUTS, GeneratorLayout
from magicpose.convert.extract import stderr_line
from magicpose.convert.loading import load_checkpoint
from magicpose.convert.writing import cast, check_output, parse_dtype, staged_output, write_info
from magicpose.errors import InputError
from magicpose.models.face_enhancer import LOTAYOU_SIZE_FRACTION, OFFICIAL_SIZE_FRACTION
from magicpose.models.pix2pixhd import LOCAL_ENHANCER_PREFIXES

Log = Callable[[str], None]

FAMILIES = ("auto", "lotayou", "official")
POSE_RANGE = {"lotayou": "signed", "official": "unit"}
RANGE_TEXT = {"signed": "pose maps scaled to [-1, 1]", "unit": "pose maps in [0, 1], not normalised"}
# (height, width) each release trained at (ref-gan-baselines.md): Lotayou's 288x512 frames; the official
# code's 512x256 global stage and 1024x512 local stage. It becomes the converted folder's default output size.
TRAINING_SIZE = {
    ("lotayou", "global"): (288, 512),
    ("lotayou", "local"): (288, 512),
    ("official", "global"): (256, 512),
    ("official", "local"): (512, 1024),
}
FAMILY_REPO = {"lotayou": "Lotayou/everybody_dance_now_pytorch", "official": "carolineec/EverybodyDanceNow"}
FACE_FAMILY = {
    "edn_face_official": "official",
    "edn_face_official_unet": "official",
    "edn_face_lotayou": "lotayou",
}
FACE_VARIANT = {
    "edn_face_official": "official",
    "edn_face_official_unet": "official_unet",
    "edn_face_lotayou": "lotayou",
}
# Each release's head crop: its side over the frame height (official: 128 of 512; Lotayou's enhance.py: 48 of
# 288). The crop's centre and rounding follow the variant (magicpose.models.face_enhancer.face_box).
FACE_SIZE_FRACTION = {"official": OFFICIAL_SIZE_FRACTION, "lotayou": LOTAYOU_SIZE_FRACTION}
SHOWN = 5  # keys named in an error message
FACE_FIX = (
    "the face enhancer with --face (final_generator.pth from Lotayou's release, or {epoch}_net_Gface.pth "
    "from the official code)"
)


@dataclass
class Converted:
    """One converted network: its config, its tensors under our names, what was filled in."""

    source: Path
    kind: str
    layout: GeneratorLayout
    tensors: dict[str, torch.Tensor]
    filled: dict[str, str] = field(default_factory=dict)
    module_prefix: bool = False


def _key_list(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def _network(layout: GeneratorLayout) -> torch.nn.Module:
    from accelerate import init_empty_weights

    from magicpose.models import pix2pixhd

    with init_empty_weights(include_buffers=False):  # shapes only: no memory, no random init
        if layout.architecture == "unet":
            from magicpose.models.face_unet import UnetFaceGenerator

            return UnetFaceGenerator(layout.input_nc, layout.output_nc, ngf=layout.ngf)
        return pix2pixhd.generator(layout.architecture, layout.input_nc, layout.output_nc, **_sizes(layout))


def _sizes(layout: GeneratorLayout) -> dict:
    from magicpose.models.pix2pixhd import GENERATOR_SIZES

    return {name: getattr(layout, name) for name in GENERATOR_SIZES}


def _published_name(key: str, layout: GeneratorLayout) -> str:
    """Our network key -> the published one (for naming missing keys)."""
    if layout.architecture == "local":
        for published, ours in LOCAL_ENHANCER_PREFIXES.items():
            if key.startswith(ours):
                return published + key[len(ours) :]
    return key


def _ours(key: str, layout: GeneratorLayout) -> str | None:
    """A published key (no ``module.``) -> ours; None when the layout has no such key."""
    if layout.architecture == "local":
        for published, ours in LOCAL_ENHANCER_PREFIXES.items():
            if key.startswith(published):
                return ours + key[len(published) :]
        return None
    return key if key.startswith("model.") else None  # global generators and the U-Net: the same keys


def map_generator(
    path: Path, state_dict: dict[str, torch.Tensor], kind: str, layout: GeneratorLayout, what: str
) -> Converted:
    """The published tensors under our network's keys, refused (one line) unless they are exactly the
    network ``layout`` describes (``num_batches_tracked`` may be missing: filled with 0)."""
    expected = {k: v.shape for k, v in _network(layout).state_dict().items()}
    tensors, extra = {}, []
    for key, value in state_dict.items():
        ours = _ours(edn_layout.strip_module(key), layout)
        if (
            ours is None or ours not in expected or ours in tensors
        ):  # (or the same key with and without module.)
            extra.append(key)
        else:
            tensors[ours] = value
    described = f"the {what} its other tensors describe, a {layout.describe()}"
    if extra:
        raise InputError(
            f"'{path}' has {len(extra)} keys that {described} does not have: {_key_list(extra)}; it is "
            "not a pix2pixHD/EDN generator magicpose can convert (one local enhancer level, as EDN)"
        )
    filled, missing = {}, []
    for key in expected:
        if key in tensors:
            continue
        if key.endswith(".num_batches_tracked"):
            tensors[key] = torch.tensor(0, dtype=torch.long)
            filled[key] = f"absent from {path.name} (saved by PyTorch < 0.4.1): set to 0, unused at inference"
        else:
            missing.append(_published_name(key, layout))
    if missing:
        raise InputError(
            f"'{path}' lacks {len(missing)} keys of {described}: {_key_list(missing)}; the file is "
            "incomplete or damaged: download it again"
        )
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != tuple(shape):
            raise InputError(
                f"'{path}': '{_published_name(key, layout)}' has shape {tuple(tensors[key].shape)} but "
                f"{described} expects {tuple(shape)}: the file is damaged or not a pix2pixHD/EDN "
                "generator"
            )
    module_prefix = any(k.startswith(edn_layout.MODULE) for k in state_dict)
    return Converted(path, kind, layout, tensors, filled, module_prefix)


def _read(
    path: Path, allow_unsafe_pickle: bool, log: Log, face: bool = False
) -> tuple[dict[str, torch.Tensor], str, GeneratorLayout | None]:
    log(f"loading '{path}'")
    state_dict = load_checkpoint(path, allow_unsafe_pickle=allow_unsafe_pickle)
    kind = kinds.detect_kind(state_dict)
    if kind == "edn_discriminator":
        raise InputError(kinds.discriminator_message(path, face=face))
    edn = edn_layout.analyse(state_dict)
    layout = edn.layout if edn is not None else None
    if layout is not None:
        log(f"'{path.name}': {kinds.DESCRIPTIONS[kind]}, {len(state_dict)} tensors; {layout.describe()}")
    return state_dict, kind, layout


def read_generator(path: Path, allow_unsafe_pickle: bool, log: Log) -> Converted:
    state_dict, kind, layout = _read(path, allow_unsafe_pickle, log)
    if kind in kinds.EDN_FACES:
        raise InputError(
            f"'{path}' is {kinds.DESCRIPTIONS[kind]}, not a pose2vid generator: pass it with --face, "
            f"and the generator as CHECKPOINT: `magicpose convert pose2vid GENERATOR OUT --face {path}`"
        )
    kinds.check_kind(path, state_dict, "pose2vid")  # MagicPose/SD/ControlNet files and unknown ones
    if (layout.input_nc, layout.output_nc) != (6, 3):
        if layout.input_nc == layout.output_nc:
            raise InputError(
                f"'{path}' is a pix2pixHD {layout.describe()}: its input is a single image, so it is "
                "not a temporal EDN generator (a 3-channel pose map + the previous frame, 6 inputs): "
                "pass the pose2vid generator of Everybody Dance Now (latest_net_G.pth)"
            )
        raise InputError(
            f"'{path}' is a {layout.describe()}, not a temporal EDN generator, whose input is a "
            "3-channel pose map + the previous RGB frame (6 inputs, 3 outputs): magicpose feeds RGB "
            "pose maps (label maps of --label_nc > 0 are not supported)"
        )
    return map_generator(path, state_dict, kind, layout, "generator")


def read_face(path: Path, allow_unsafe_pickle: bool, log: Log) -> Converted:
    state_dict, kind, layout = _read(path, allow_unsafe_pickle, log, face=True)
    if kind == "edn_face_official_unet" and (layout.input_nc, layout.output_nc) != (6, 3):
        raise InputError(
            f"'{path}' (given with --face) is a pix2pix {layout.describe()}, not the official EDN U-Net "
            f"face enhancer (6 inputs: the pose crop and the generated crop; 3 outputs): pass {FACE_FIX}"
        )
    if kind in kinds.EDN_FACES:
        return map_generator(path, state_dict, kind, layout, "face enhancer")
    if kind in kinds.EDN_GENERATORS:
        if layout.architecture == "global" and (layout.input_nc, layout.output_nc) in ((6, 3), (3, 3)):
            known = "; ".join(f"{v}: {f.describe()}" for v, f in FACE_LAYOUTS.items())
            raise InputError(
                f"'{path}' (given with --face) is a {layout.describe()}, not one of the face enhancers "
                f"magicpose runs ({known}): pass it as CHECKPOINT if it is the body generator, and "
                f"{FACE_FIX}"
            )
        raise InputError(
            f"'{path}' (given with --face) is {kinds.DESCRIPTIONS[kind]}, a body generator, not a face "
            f"enhancer: pass it as CHECKPOINT, and {FACE_FIX}"
        )
    if kind == "unknown":
        raise InputError(
            f"'{path}' (given with --face) is {kinds.looks_like(list(state_dict))}: pass {FACE_FIX}"
        )
    raise InputError(
        f"'{path}' (given with --face) is {kinds.DESCRIPTIONS[kind]}, not an Everybody Dance Now face "
        f"enhancer: convert it with {kinds.SUGGESTION[kind]}, and pass {FACE_FIX}"
    )


def check_family(family: str | None) -> str:
    family = family or "auto"
    if family not in FAMILIES:
        raise InputError(f"unknown family {family!r}: choose lotayou, official or auto (or leave it out)")
    return family


def resolve_family(family: str | None, generator: Converted, face: Converted | None) -> tuple[str, str]:
    """(family, why). ``auto``: the face file's family; without one, ``official`` for a global generator
    (Lotayou released only the local enhancer). A local generator alone cannot be told: both families train
    the same network on differently scaled pose maps, so ``--family`` is required."""
    family = check_family(family)
    face_family = FACE_FAMILY.get(face.kind) if face is not None else None
    if family != "auto":
        if face_family is not None and face_family != family:
            raise InputError(
                f"'{face.source}' is {kinds.DESCRIPTIONS[face.kind]}, of the {face_family} family, but "
                f"--family {family} was given: drop --family (the face file decides it) or pass the "
                f"face enhancer of the {family} family"
            )
        return family, "--family"
    if face_family is not None:
        return face_family, f"from the face enhancer {face.source.name}"
    if generator.layout.architecture == "global":
        return "official", "a global generator, which only the official code publishes stages of"
    raise InputError(
        f"'{generator.source}' is a local-enhancer generator, which both Everybody Dance Now families "
        "train on differently scaled pose maps and its tensors cannot tell apart: pass --family lotayou "
        "(Lotayou's latest_net_G.pth, pose maps in [-1, 1]) or --family official "
        "(carolineec/EverybodyDanceNow's {epoch}_net_G.pth, pose maps in [0, 1]), or its --face file"
    )


def _build(cls, config: dict, tensors: dict[str, torch.Tensor]):
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        model = cls(**config)
    model.load_state_dict({f"net.{k}": v for k, v in tensors.items()}, strict=True, assign=True)
    return model.eval()


def generator_config(layout: GeneratorLayout, family: str) -> dict:
    """The :class:`~magicpose.models.pose2vid.Pose2VidGenerator` configuration of ``layout``."""
    return dict(
        architecture=layout.architecture,
        pose_channels=layout.input_nc - layout.output_nc,
        image_channels=layout.output_nc,
        **_sizes(layout),
        pose_range=POSE_RANGE[family],
        sample_size=TRAINING_SIZE[family, layout.architecture],
    )


def convert_pose2vid(
    checkpoint: str | Path,
    output_dir: str | Path,
    *,
    face: str | Path | None = None,
    family: str | None = None,
    dtype: str | torch.dtype | None = None,
    allow_unsafe_pickle: bool = False,
    overwrite: bool = False,
    log: Log | None = stderr_line,
) -> Path:
    """An EDN generator (``latest_net_G.pth`` / ``{epoch}_net_G.pth``), and optionally its face enhancer
    (``face``: ``final_generator.pth`` / ``{epoch}_net_Gface.pth``) -> a complete ``Pose2VidPipeline`` folder.

    ``family`` (``"lotayou"``, ``"official"`` or ``"auto"``/None) sets how pose maps are scaled
    (:func:`resolve_family`); everything else is read from the tensors.
    """
    log = log or (lambda message: None)
    target = parse_dtype(dtype)
    check_family(family)
    out = check_output(output_dir, overwrite, [checkpoint, face])  # before any slow work
    path, face_path = Path(checkpoint), Path(face) if face is not None else None
    generator = read_generator(path, allow_unsafe_pickle, log)
    enhancer = read_face(face_path, allow_unsafe_pickle, log) if face_path is not None else None
    family, why = resolve_family(family, generator, enhancer)
    pose_range = POSE_RANGE[family]
    log(f"family: {family} ({why}): {RANGE_TEXT[pose_range]}")

    from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
    from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline

    config = generator_config(generator.layout, family)
    models = {"generator": _build(Pose2VidGenerator, config, cast(generator.tensors, target))}
    face_config = None
    if enhancer is not None:  # the release's own crop, hard paste, feedback and BatchNorm use (FaceEnhancer)
        face_config = {
            "variant": FACE_VARIANT[enhancer.kind],
            "size_fraction": FACE_SIZE_FRACTION[family],
            "paste": "hard",
            "norm_statistics": "crop",
        }
        if enhancer.layout.architecture == "unet":
            face_config["ngf"] = enhancer.layout.ngf
        models["face_enhancer"] = _build(FaceEnhancer, face_config, cast(enhancer.tensors, target))
    pipe = Pose2VidPipeline(generator=models["generator"], face_enhancer=models.get("face_enhancer"))

    parts = {"generator": generator, **({"face_enhancer": enhancer} if enhancer is not None else {})}
    filled = {f"{name}.net.{k}": why for name, part in parts.items() for k, why in part.filled.items()}
    face_text = f" and face enhancer {face_path.name}" if enhancer is not None else ""
    description = (
        f"Everybody Dance Now pipeline ({family} family, {RANGE_TEXT[pose_range]}; "
        f"{generator.layout.architecture} generator{face_text})"
    )
    log(f"writing '{out}'")
    with staged_output(out, overwrite, [checkpoint, face]) as folder:
        pipe.save_pretrained(folder, safe_serialization=True)
        write_info(
            folder,
            mode="pose2vid",
            source=path,
            kind=generator.kind,
            description=description,
            dtype=target,
            configs={
                name: f"inferred from the tensors of {part.source.name}" for name, part in parts.items()
            },
            ignored=[],
            unexpected=[],
            filled=filled,
            extra={
                "sources": {name: part.source.name for name, part in parts.items()},
                "source_kinds": {name: part.kind for name, part in parts.items()},
                "module_prefix_stripped": {name: part.module_prefix for name, part in parts.items()},
                "family": family,
                "family_from": why,
                "family_repository": FAMILY_REPO[family],
                "pose_range": pose_range,
                "generator_config": config,
                "face_enhancer_config": face_config,
                "inferred_layouts": {name: part.layout.as_dict() for name, part in parts.items()},
            },
        )
    return out
