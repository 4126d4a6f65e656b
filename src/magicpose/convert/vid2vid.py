"""``magicpose convert vid2vid``: NVIDIA vid2vid pose2body generators to a Vid2VidPipeline folder.

The original saves one file per spatial scale, ``{epoch}_net_G0.pth`` (the ``CompositeGenerator``, the coarsest
scale) and ``{epoch}_net_G1.pth``, ``_G2.pth`` (``CompositeLocalGenerator``s, 512p and 1024p). Given any of
them, every scale beside it with the same prefix is converted. The configuration is read from the tensors
(:func:`analyse_scale`) and checked against the network it describes, key by key and shape by shape; the
tensors are only renamed (``scales.<s>.`` + the original key). The norm layers' running statistics are
dropped and recorded: the original never puts its generator in eval mode, so they are never used
(:mod:`magicpose.models.vid2vid`), and its ``--norm batch`` becomes ``instance_affine``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from magicpose.convert import kinds
from magicpose.convert.edn_layout import strip_module
from magicpose.convert.extract import stderr_line
from magicpose.convert.loading import load_checkpoint
from magicpose.convert.writing import cast, check_output, parse_dtype, staged_output, write_info
from magicpose.errors import InputError

Log = Callable[[str], None]

SCALE_FILE = re.compile(r"^(?P<stem>.*)_net_G(?P<scale>\d+)\.pth$")
DISCRIMINATOR_FILE = re.compile(r"^(?P<stem>.*)_net_D(_T\d+|_f)?\.pth$")
UNUSED_BUFFERS = (".running_mean", ".running_var", ".num_batches_tracked")
# (height, width) of the original's pose scripts per number of scales: --fineSize 256/512/1024 of 1280x720
# videos, of which pose_dataset.crop keeps the central half of the width in multiples of 32.
TRAINING_SIZE = {1: (256, 192), 2: (512, 448), 3: (1024, 896)}
SHOWN = 5


@dataclass(frozen=True)
class ScaleLayout:
    """What one scale's tensors say about it."""

    local: bool
    label_nc: int
    prev_nc: int
    output_nc: int
    ngf: int
    n_downsampling: int
    n_blocks: int  # scale 0: all its ResNet blocks (encoders + heads); a local scale: its own
    affine_norm: bool
    no_flow: bool

    def describe(self) -> str:
        kind = "local scale" if self.local else "generator"
        flow = "no flow" if self.no_flow else "flow"
        return (
            f"{kind}: {self.label_nc} label + {self.prev_nc} previous-frame inputs, ngf {self.ngf}, "
            f"{self.n_downsampling} downsamplings, {self.n_blocks} blocks, "
            f"{'affine' if self.affine_norm else 'affine-free'} norm, {flow}"
        )


def _key_list(keys: list[str]) -> str:
    return ", ".join(keys[:SHOWN]) + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def _shape(state_dict: dict, key: str, path: Path) -> tuple[int, ...]:
    if key not in state_dict:
        raise InputError(
            f"'{path}' lacks '{key}': it is not a complete vid2vid generator (the file is incomplete "
            "or damaged: copy it again)"
        )
    return tuple(state_dict[key].shape)


def _indices(keys, prefix: str, suffix: str = "") -> list[int]:
    found = {
        int(m.group(1))
        for k in keys
        if (m := re.match(re.escape(prefix) + r"(\d+)\." + re.escape(suffix), k))
    }
    return sorted(found)


def analyse_scale(state_dict: dict, path: Path) -> ScaleLayout:
    """The layout of one scale's tensors (keys without ``module.``)."""
    keys = list(state_dict)
    ngf, label_nc = _shape(state_dict, "model_down_seg.1.weight", path)[:2]
    prev_nc = _shape(state_dict, "model_down_img.1.weight", path)[1]
    output_nc = _shape(state_dict, "model_final_img.1.weight", path)[0]
    local = not any(k.startswith("model_res_img.") for k in keys)
    # the strided convs of the label encoder sit at 4, 7, 10, ... (pad, conv, norm, relu, then conv, norm, relu)
    n_down = 0
    while len(state_dict.get(f"model_down_seg.{4 + 3 * n_down}.weight", torch.empty(0)).shape) == 4:
        n_down += 1
    if local:
        n_blocks = len(_indices(keys, "model_up_img.", "conv_block"))
    else:
        n_blocks = len(_indices(keys, "model_down_seg.", "conv_block")) + len(
            _indices(keys, "model_res_img.")
        )
    return ScaleLayout(
        local=local,
        label_nc=label_nc,
        prev_nc=prev_nc,
        output_nc=output_nc,
        ngf=ngf,
        n_downsampling=n_down,
        n_blocks=n_blocks,
        affine_norm="model_down_seg.2.weight" in state_dict,
        no_flow="model_final_flow.1.weight" not in state_dict,
    )


def scale_files(path: Path) -> list[Path]:
    """The files of every scale saved beside ``path`` (``<stem>_net_G<s>.pth``), scale 0 first."""
    if DISCRIMINATOR_FILE.match(path.name):
        raise InputError(
            f"'{path}' is a vid2vid discriminator, which is only used in training: convert the "
            "generator files beside it ({epoch}_net_G0.pth, and _G1, _G2 for 512p and 1024p)"
        )
    match = SCALE_FILE.match(path.name)
    if match is None:
        return [path]  # a renamed single-scale file
    files, s = [], 0
    while (candidate := path.with_name(f"{match['stem']}_net_G{s}.pth")).exists():
        files.append(candidate)
        s += 1
    if path not in files:
        raise InputError(
            f"'{path}' is scale {match['scale']} of a vid2vid generator, but "
            f"'{path.with_name(match['stem'] + '_net_G0.pth')}' (its coarsest scale, always needed) "
            + (
                "is missing"
                if not files
                else f"and the scales up to it are not all there (found {', '.join(f.name for f in files)})"
            )
            + ": copy every _net_G<s>.pth of the epoch"
        )
    return files


def config_from_layouts(layouts: list[ScaleLayout], paths: list[Path]) -> dict:
    """The :class:`~magicpose.models.vid2vid.Vid2VidGenerator` configuration the scales describe, or one line
    naming the file that does not fit."""
    first = layouts[0]
    if first.local:
        raise InputError(
            f"'{paths[0]}' is a local (finer) scale of vid2vid, not its coarsest generator: pass the "
            "{epoch}_net_G0.pth file"
        )
    if first.prev_nc % first.output_nc or first.label_nc % (first.prev_nc // first.output_nc + 1):
        raise InputError(
            f"'{paths[0]}': {first.label_nc} label and {first.prev_nc} previous-frame input channels "
            f"do not make whole frames of {first.output_nc} channels: not a vid2vid generator"
        )
    n_frames = first.prev_nc // first.output_nc + 1
    for s, (layout, path) in enumerate(zip(layouts[1:], paths[1:], strict=True), start=1):
        same = (layout.label_nc, layout.prev_nc, layout.output_nc, layout.affine_norm, layout.no_flow) == (
            first.label_nc,
            first.prev_nc,
            first.output_nc,
            first.affine_norm,
            first.no_flow,
        )
        if (
            not layout.local
            or layout.ngf != first.ngf // 2**s
            or layout.n_downsampling != 1
            or not same
            or (layout.n_blocks != layouts[1].n_blocks)
        ):
            raise InputError(
                f"'{path}' ({layout.describe()}) is not scale {s} of the generator in '{paths[0]}' "
                f"(a local scale at ngf {first.ngf // 2**s} with the same inputs): pass files of one "
                "training run and epoch"
            )
    return dict(
        pose_channels=first.label_nc // n_frames,
        image_channels=first.output_nc,
        n_frames_G=n_frames,
        ngf=first.ngf,
        n_downsample_G=first.n_downsampling,
        n_blocks=first.n_blocks,
        n_blocks_local=layouts[1].n_blocks if len(layouts) > 1 else 3,
        n_scales_spatial=len(layouts),
        norm="instance_affine" if first.affine_norm else "instance",
        no_flow=first.no_flow,
        sample_size=TRAINING_SIZE.get(len(layouts)),
    )


def map_scales(
    states: list[dict], paths: list[Path], config: dict
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors under our keys and the buffers dropped, refused unless they are exactly the network."""
    from accelerate import init_empty_weights

    from magicpose.models.vid2vid import Vid2VidGenerator

    with init_empty_weights(include_buffers=False):
        expected = {k: v.shape for k, v in Vid2VidGenerator(**config).state_dict().items()}
    tensors, dropped = {}, []
    for s, (state, path) in enumerate(zip(states, paths, strict=True)):
        extra = []
        for key, value in state.items():
            ours = f"scales.{s}.{key}"
            if key.endswith(UNUSED_BUFFERS):
                dropped.append(f"{path.name}:{key}")
            elif ours in expected:
                tensors[ours] = value
            else:
                extra.append(key)
        if extra:
            raise InputError(
                f"'{path}' has {len(extra)} keys that a vid2vid generator scale does not have: "
                f"{_key_list(extra)}; only the pose2body CompositeGenerator layout (no --fg) converts"
            )
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise InputError(
            f"the vid2vid files lack {len(missing)} tensors of the generator they describe: "
            f"{_key_list(missing)}; a file is incomplete or damaged: copy it again"
        )
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != tuple(shape):
            s = int(key.split(".")[1])
            raise InputError(
                f"'{paths[s]}': '{key.split('.', 2)[2]}' has shape {tuple(tensors[key].shape)}, the "
                f"generator its other tensors describe expects {tuple(shape)}: the file is damaged"
            )
    return tensors, dropped


def _read(path: Path, allow_unsafe_pickle: bool, log: Log) -> dict[str, torch.Tensor]:
    log(f"loading '{path}'")
    state = load_checkpoint(path, allow_unsafe_pickle=allow_unsafe_pickle)
    kinds.check_kind(path, state, "vid2vid")
    return {strip_module(k): v for k, v in state.items()}


def convert_vid2vid(
    checkpoint: str | Path,
    output_dir: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    allow_unsafe_pickle: bool = False,
    overwrite: bool = False,
    log: Log | None = stderr_line,
) -> Path:
    """vid2vid's ``{epoch}_net_G<s>.pth`` files (every scale beside ``checkpoint``) -> a ``Vid2VidPipeline``
    folder."""
    log = log or (lambda message: None)
    target = parse_dtype(dtype)
    path = Path(checkpoint)
    if not path.exists():
        raise InputError(f"checkpoint '{path}' does not exist: check the path")
    paths = scale_files(path)
    out = check_output(output_dir, overwrite, paths)  # before any slow work
    states = [_read(p, allow_unsafe_pickle, log) for p in paths]
    layouts = [analyse_scale(state, p) for state, p in zip(states, paths, strict=True)]
    for p, layout in zip(paths, layouts, strict=True):
        log(f"'{p.name}': {layout.describe()}")
    config = config_from_layouts(layouts, paths)
    tensors, dropped = map_scales(states, paths, config)

    from accelerate import init_empty_weights

    from magicpose.models.vid2vid import Vid2VidGenerator
    from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline

    with init_empty_weights(include_buffers=False):
        generator = Vid2VidGenerator(**config)
    generator.load_state_dict(cast(tensors, target), strict=True, assign=True)
    pipe = Vid2VidPipeline(generator=generator.eval())
    description = (
        f"vid2vid pose2body pipeline ({len(paths)} scale{'s' if len(paths) > 1 else ''}, "
        f"ngf {config['ngf']}, {config['pose_channels']}-channel pose maps"
        f"{', no flow' if config['no_flow'] else ''})"
    )
    log(f"writing '{out}'")
    with staged_output(out, overwrite, paths) as folder:
        pipe.save_pretrained(folder, safe_serialization=True)
        write_info(
            folder,
            mode="vid2vid",
            source=paths[0],
            kind="vid2vid_generator",
            description=description,
            dtype=target,
            configs={"generator": "inferred from the tensors of " + ", ".join(p.name for p in paths)},
            ignored=dropped,
            unexpected=[],
            filled={},
            extra={
                "sources": [p.name for p in paths],
                "generator_config": config,
                "ignored_keys_why": "norm running statistics: the original runs its generator in training "
                "mode, so they are never used",
                "inferred_layouts": [vars(layout) for layout in layouts],
            },
        )
    return out
