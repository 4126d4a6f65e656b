"""``magicpose convert pose2vid``: published Everybody Dance Now files of small networks back to the same tensors.

The published files are written here from our modules with an inverse key mapping (ours -> published) that
this file defines on its own; the converter must infer the configuration from the tensors alone and give
back every tensor bit for bit, and the converted pipeline the very frames of the original modules.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_cases import convert_argv, refused_in_one_line
from conftest import check_convert_overwrite
from safetensors.torch import load_file
from tiny_cases import nose_only, random_pose_maps, randomise

from magicpose.cli import main
from magicpose.convert import detect_kind
from magicpose.convert.edn_layout import FACE_LAYOUTS, analyse
from magicpose.models import pix2pixhd
from magicpose.models.face_enhancer import LOTAYOU_SIZE_FRACTION
from magicpose.models.face_unet import UnetFaceGenerator
from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline

SIZE = 32
LOCAL = dict(architecture="local", ngf=4, n_downsample_global=2, n_blocks_global=2, n_blocks_local=1)
GLOBAL = dict(architecture="global", ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=0)

# -- the inverse mapping, our modules -> the published layouts (independent of magicpose.convert) ----------

OURS_TO_PUBLISHED = [("global_branch.", "model."), ("local_down.", "model1_1."), ("local_up.", "model1_2.")]


def published(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A Pose2VidGenerator / FaceEnhancer state dict in the published keys (``net.`` dropped; the local
    enhancer's branches renamed ``model``, ``model1_1``, ``model1_2``)."""
    out = {}
    for key, value in model.state_dict().items():
        key = key.removeprefix("net.")
        for ours, theirs in OURS_TO_PUBLISHED:
            if key.startswith(ours):
                key = theirs + key[len(ours) :]
                break
        out[key] = value.clone()
    return out


def lotayou_file(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """As Lotayou's release: saved from DataParallel (``module.``) by PyTorch 0.4.0 (no num_batches_tracked)."""
    return {f"module.{k}": v for k, v in published(model).items() if not k.endswith("num_batches_tracked")}


def published_multiscale_d(d: pix2pixhd.MultiscaleDiscriminator) -> dict[str, torch.Tensor]:
    num_D = len(d.scales)
    out = {}
    for key, value in d.state_dict().items():
        _, k, _, j, rest = key.split(
            ".", 4
        )  # scales.K.layers.J.rest; the published scale I runs K = num_D-1-I
        out[f"scale{num_D - 1 - int(k)}_layer{j}.{rest}"] = value
    return out


def published_face_d(d: pix2pixhd.NLayerDiscriminator) -> dict[str, torch.Tensor]:
    """The official face D: one flat Sequential ``facemodel`` ([conv, lrelu], [conv, norm, lrelu]..., [conv])."""
    starts = np.cumsum([0, 2] + [3] * d.n_layers)
    out = {}
    for key, value in d.state_dict().items():
        _, j, n, rest = key.split(".", 3)
        out[f"facemodel.{starts[int(j)] + int(n)}.{rest}"] = value
    return out


@pytest.fixture(scope="module")
def edn(tmp_path_factory):
    """Small generators of each family (and the two face enhancers, whose architecture is fixed), their
    published files, and a few wrong files."""
    root = tmp_path_factory.mktemp("edn")
    torch.manual_seed(0)
    models = {
        "lotayou": randomise(Pose2VidGenerator(**LOCAL, pose_range="signed", sample_size=[288, 512]), 1),
        "official": randomise(Pose2VidGenerator(**LOCAL, pose_range="unit", sample_size=[512, 1024]), 2),
        "official_global": randomise(
            Pose2VidGenerator(**GLOBAL, pose_range="unit", sample_size=[256, 512]), 3
        ),
        # configured as the converter records each release (its crop size; hard paste and per-crop BatchNorm are
        # the defaults)
        "face_lotayou": randomise(FaceEnhancer(variant="lotayou", size_fraction=LOTAYOU_SIZE_FRACTION), 4),
        "face_official": randomise(FaceEnhancer(variant="official"), 5),
        "face_official_unet": randomise(FaceEnhancer(variant="official_unet", ngf=4), 6),
    }
    files = {
        "lotayou": lotayou_file(models["lotayou"]),
        "official": published(models["official"]),
        "official_global": published(models["official_global"]),
        "face_lotayou": lotayou_file(models["face_lotayou"]),
        "face_official": published(models["face_official"]),
        "face_official_unet": published(models["face_official_unet"]),  # U-Net keys are ours without net.
        "pix2pix_unet": UnetFaceGenerator(3, 3, ngf=4).state_dict(),  # a pix2pix U-Net of one image
        "single_frame": published(pix2pixhd.GlobalGenerator(3, 3, ngf=4, n_downsampling=2, n_blocks=1)),
        "discriminator": published_multiscale_d(
            pix2pixhd.MultiscaleDiscriminator(12, ndf=4, n_layers=2, num_D=2)
        ),
        "face_discriminator": published_face_d(
            pix2pixhd.NLayerDiscriminator(6, ndf=4, n_layers=2, norm="batch")
        ),
        "magicpose": {
            "appearance_control_model.a.weight": torch.zeros(2),
            "pose_control_model.b.weight": torch.zeros(2),
        },
        "sd15": {
            "model.diffusion_model.a.weight": torch.zeros(2),
            "first_stage_model.b.weight": torch.zeros(2),
            "cond_stage_model.transformer.c.weight": torch.zeros(2),
        },
    }
    names = {
        "lotayou": "lotayou/latest_net_G.pth",
        "official": "official/latest_net_G.pth",
        "official_global": "official/20_net_G.pth",
        "face_lotayou": "lotayou/final_generator.pth",
        "face_official": "official/latest_net_Gface.pth",
        "face_official_unet": "official_unet/latest_net_Gface.pth",
        "pix2pix_unet": "pix2pix/latest_net_G.pth",
        "single_frame": "pix2pixhd/latest_net_G.pth",
        "discriminator": "lotayou/latest_net_D.pth",
        "face_discriminator": "official/latest_net_Dface.pth",
        "magicpose": "model_state-110000.th",
        "sd15": "v1-5-pruned.ckpt",
    }
    paths = {}
    for name, relative in names.items():
        paths[name] = root / relative
        paths[name].parent.mkdir(exist_ok=True)
        torch.save(files[name], paths[name])
    return dict(models=models, files=files, paths=paths)


def _frames(pipe: Pose2VidPipeline) -> np.ndarray:
    poses = random_pose_maps(3, SIZE)
    keypoints = [nose_only((12, 10), SIZE), nose_only(None, SIZE), nose_only((20, 16), SIZE)]
    return np.stack(list(pipe.iter_frames(poses, SIZE, SIZE, pose_keypoints=keypoints)))


def _assert_same(got: dict, expected: dict, dtype: torch.dtype | None = None) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key


def _config(model) -> dict:
    return {k: v for k, v in model.config.items() if not k.startswith("_")}


def _info(out: Path) -> dict:
    return json.loads((out / "magicpose_info.json").read_text())


def _convert(edn, tmp_path, generator: str, *flags: str) -> Path:
    out = tmp_path / "converted"
    assert main(convert_argv("pose2vid", edn["paths"][generator], out, *flags)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted"]  # no staging folder left
    return out


# -- round trips ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["lotayou", "official"])
def test_each_family_converts_bit_exactly_and_generates_the_same_frames(edn, tmp_path, capsys, family):
    models, face = edn["models"], f"face_{family}"
    out = _convert(edn, tmp_path, family, "--face", str(edn["paths"][face]))
    assert f"converted from latest_net_G.pth and {edn['paths'][face].name}" in capsys.readouterr().out
    pipe = Pose2VidPipeline.from_pretrained(out)
    original = Pose2VidPipeline(generator=models[family], face_enhancer=models[face])

    _assert_same(pipe.generator.state_dict(), models[family].state_dict())
    _assert_same(pipe.face_enhancer.state_dict(), models[face].state_dict())
    assert _config(pipe.generator) == _config(models[family])  # pose_range included
    assert pipe.generator.config.pose_range == {"lotayou": "signed", "official": "unit"}[family]
    assert pipe.face_enhancer.config.variant == family
    # the release's training frames (Lotayou: 288x512; official local stage: 1024x512), infer's default size
    assert pipe.generator.default_size == {"lotayou": (288, 512), "official": (512, 1024)}[family]
    frames = _frames(pipe)
    assert np.array_equal(frames, _frames(original))
    assert not np.array_equal(
        frames, np.stack(list(pipe.iter_frames(random_pose_maps(3, SIZE), SIZE, SIZE)))
    )  # the face ran

    info = _info(out)
    assert (
        info["mode"] == "pose2vid"
        and info["family"] == family
        and info["pose_range"] == _config(models[family])["pose_range"]
    )
    assert info["sources"] == {"generator": "latest_net_G.pth", "face_enhancer": edn["paths"][face].name}
    assert info["source_kinds"] == {"generator": "edn_local", "face_enhancer": f"edn_face_{family}"}
    assert info["generator_config"] == _config(models[family])
    assert info["face_enhancer_config"] == {
        "variant": family,
        "paste": "hard",
        "norm_statistics": "crop",
        "size_fraction": {"lotayou": 1 / 6, "official": 0.25}[family],
    }
    assert info["family_from"] == f"from the face enhancer {edn['paths'][face].name}"
    assert info["inferred_layouts"]["face_enhancer"] == FACE_LAYOUTS[family].as_dict()
    if family == "lotayou":  # module. prefix, no num_batches_tracked: filled with 0 and recorded
        assert info["module_prefix_stripped"] == {"generator": True, "face_enhancer": True}
        tracked = [k for k in models[face].state_dict() if k.endswith("num_batches_tracked")]
        assert sorted(info["filled"]) == sorted(f"face_enhancer.{k}" for k in tracked) and len(tracked) > 10
    else:
        assert info["filled"] == {} and info["module_prefix_stripped"] == {
            "generator": False,
            "face_enhancer": False,
        }
    from magicpose.weights import weights_description

    assert "converted from latest_net_G.pth by magicpose convert pose2vid" in weights_description(out)


def test_global_generator_is_official_without_face(edn, tmp_path):
    out = _convert(edn, tmp_path, "official_global")
    pipe = Pose2VidPipeline.from_pretrained(out)
    original = edn["models"]["official_global"]
    assert pipe.face_enhancer is None and not (out / "face_enhancer").exists()
    _assert_same(pipe.generator.state_dict(), original.state_dict())
    assert _config(pipe.generator) == _config(original) and pipe.generator.config.pose_range == "unit"
    assert pipe.generator.default_size == (256, 512)  # the official global stage's 512x256
    poses = random_pose_maps(3, SIZE)
    assert np.array_equal(
        pipe(pose_images=poses, height=SIZE, width=SIZE, output_type="np").frames,
        Pose2VidPipeline(generator=original)(
            pose_images=poses, height=SIZE, width=SIZE, output_type="np"
        ).frames,
    )
    info = _info(out)
    assert info["family"] == "official" and info["family_from"].startswith("a global generator")
    assert info["sources"] == {"generator": "20_net_G.pth"} and info["face_enhancer_config"] is None


@pytest.mark.parametrize("family", ["lotayou", "official"])
def test_local_generator_without_face_takes_the_family_given(edn, tmp_path, family):
    out = _convert(edn, tmp_path, "official", "--family", family)
    generator = Pose2VidPipeline.from_pretrained(out).generator
    assert generator.config.pose_range == {"lotayou": "signed", "official": "unit"}[family]
    _assert_same(generator.state_dict(), edn["models"]["official"].state_dict())
    assert (_info(out)["family"], _info(out)["family_from"]) == (family, "--family")


@pytest.mark.parametrize("flags", [(), ("--family", "auto")])
@pytest.mark.parametrize("generator", ["lotayou", "official"])
def test_local_generator_alone_needs_family(edn, tmp_path, capsys, flags, generator):
    """Both families publish the same local enhancer, trained on pose maps of different ranges: nothing in the
    file tells them apart (guessing Lotayou's range for an official file was off by 1.4 in output)."""
    out = tmp_path / "out" / "converted"
    line = refused_in_one_line(capsys, convert_argv("pose2vid", edn["paths"][generator], out, *flags), out)
    assert line == (
        f"error: '{edn['paths'][generator]}' is a local-enhancer generator, which both Everybody Dance "
        "Now families train on differently scaled pose maps and its tensors cannot tell apart: pass "
        "--family lotayou (Lotayou's latest_net_G.pth, pose maps in [-1, 1]) or --family official "
        "(carolineec/EverybodyDanceNow's {epoch}_net_G.pth, pose maps in [0, 1]), or its --face file"
    )
    assert not (tmp_path / "out").exists()


def test_official_unet_face_converts_bit_exactly_and_runs(edn, tmp_path):
    """The official default face generator (--faceGtype unet): detected from its nested keys, converted bit for
    bit, and run by the pipeline as the official test loop does (128-px frames: its 5 levels need 64-px crops)."""
    models = edn["models"]
    out = _convert(edn, tmp_path, "official", "--face", str(edn["paths"]["face_official_unet"]))
    pipe = Pose2VidPipeline.from_pretrained(out)
    _assert_same(pipe.face_enhancer.state_dict(), models["face_official_unet"].state_dict())
    assert pipe.face_enhancer.config.variant == "official_unet" and pipe.face_enhancer.size_multiple == 32
    info = _info(out)
    assert info["family"] == "official" and info["source_kinds"]["face_enhancer"] == "edn_face_official_unet"
    assert info["inferred_layouts"]["face_enhancer"]["architecture"] == "unet"
    poses = [np.random.default_rng(i).integers(0, 256, (128, 128, 3), dtype=np.uint8) for i in range(2)]
    keypoints = [nose_only((60, 40), 128)] * 2
    original = Pose2VidPipeline(generator=models["official"], face_enhancer=models["face_official_unet"])
    frames = np.stack(list(pipe.iter_frames(poses, 128, 128, pose_keypoints=keypoints)))
    assert np.array_equal(
        frames, np.stack(list(original.iter_frames(poses, 128, 128, pose_keypoints=keypoints)))
    )
    plain = np.stack(list(pipe.iter_frames(poses, 128, 128)))
    changed = (frames != plain).any(-1)
    rows, cols = np.nonzero(changed[0])  # frame 0: only the 64-px box at the nose (60, 40) changed
    assert (rows.min(), cols.min(), rows.max(), cols.max()) == (8, 28, 71, 91)
    outside = changed[1].copy()
    outside[8:72, 28:92] = False
    assert outside.any()  # frame 1 everywhere: the enhanced frame 0 was fed back, as the official loop does


@pytest.mark.parametrize("dtype, name", [(torch.float16, "fp16"), (torch.bfloat16, "bf16")])
def test_dtype_casts_every_floating_tensor(edn, tmp_path, dtype, name):
    out = _convert(edn, tmp_path, "lotayou", "--face", str(edn["paths"]["face_lotayou"]), "--dtype", name)
    for component, model in (("generator", "lotayou"), ("face_enhancer", "face_lotayou")):
        stored = load_file(out / component / "diffusion_pytorch_model.safetensors")
        _assert_same(
            stored, edn["models"][model].state_dict(), dtype=dtype
        )  # num_batches_tracked stays int64
    assert _info(out)["dtype"] == name


def test_existing_output_is_refused_unless_overwrite(edn, tmp_path, capsys):
    out = tmp_path / "converted"
    check_convert_overwrite(convert_argv("pose2vid", edn["paths"]["official_global"], out), out, capsys)
    assert (out / "model_index.json").is_file()


def test_overwrite_never_deletes_the_input_checkpoint(edn, tmp_path, capsys):
    """The user converts the generator in its own training folder into that same folder with --overwrite: refused
    in one line, the checkpoint (and the folder) untouched."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    checkpoint = folder / "latest_net_G.pth"
    checkpoint.write_bytes(edn["paths"]["official_global"].read_bytes())
    before = checkpoint.read_bytes()
    assert main(convert_argv("pose2vid", checkpoint, folder, "--overwrite")) == 2
    assert capsys.readouterr().err == (
        f"error: output '{folder}' holds the input '{checkpoint}': choose another "
        "output folder (an input is never overwritten)\n"
    )
    assert (
        sorted(p.name for p in folder.iterdir()) == ["latest_net_G.pth"] and checkpoint.read_bytes() == before
    )
    # a face checkpoint inside the output is protected as well
    face = folder / "final_generator.pth"
    face.write_bytes(edn["paths"]["face_lotayou"].read_bytes())
    checkpoint.unlink()
    assert (
        main(convert_argv("pose2vid", edn["paths"]["lotayou"], folder, "--face", str(face), "--overwrite"))
        == 2
    )
    assert f"holds the input '{face}'" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["final_generator.pth"]


def test_unwritable_output_is_one_line(edn, tmp_path, capsys):
    assert main(convert_argv("pose2vid", edn["paths"]["official_global"], "/proc/nope/out")) == 2
    assert capsys.readouterr().err.startswith("error: cannot write to '/proc/nope/out' (")


def test_detection_and_inferred_layouts(edn):
    expected = {
        "lotayou": "edn_local",
        "official": "edn_local",
        "official_global": "edn_global",
        "face_lotayou": "edn_face_lotayou",
        "face_official": "edn_face_official",
        "single_frame": "edn_global",
        "discriminator": "edn_discriminator",
        "face_discriminator": "edn_discriminator",
        "magicpose": "magicpose",
        "sd15": "sd15",
    }
    for name, kind in expected.items():
        assert detect_kind(edn["files"][name]) == kind, name
    layout = analyse(edn["files"]["lotayou"]).layout
    assert (
        layout.architecture,
        layout.input_nc,
        layout.output_nc,
        layout.ngf,
        layout.n_downsample_global,
        layout.n_blocks_global,
        layout.n_blocks_local,
        layout.norm,
    ) == ("local", 6, 3, 4, 2, 2, 1, "instance")
    # the fixed face architectures are those of magicpose.models.pix2pixhd
    for variant, build in (
        ("official", pix2pixhd.official_face_generator),
        ("lotayou", pix2pixhd.lotayou_face_generator),
    ):
        with torch.device("meta"):
            face = build()
        assert analyse(published(face)).layout == FACE_LAYOUTS[variant]


def test_full_size_edn_configurations_are_inferred():
    """The released sizes (180 M parameters for Lotayou's G), built on the meta device: shapes only."""
    cases = [
        (dict(), "edn_local", (32, 4, 9, 3)),  # Lotayou's latest_net_G.pth (the class defaults)
        (dict(architecture="global", ngf=64, n_blocks_local=0), "edn_global", (64, 4, 9, 0)),
    ]  # official stage 1
    for config, kind, (ngf, down, blocks, local_blocks) in cases:
        with torch.device("meta"):
            model = Pose2VidGenerator(**config)
        edn = analyse({f"module.{k}": v for k, v in published(model).items()})
        assert edn.kind == kind
        assert (
            edn.layout.input_nc,
            edn.layout.output_nc,
            edn.layout.ngf,
            edn.layout.n_downsample_global,
            edn.layout.n_blocks_global,
            edn.layout.n_blocks_local,
            edn.layout.norm,
        ) == (6, 3, ngf, down, blocks, local_blocks, "instance")


# -- errors ---------------------------------------------------------------------------------------------


def _broken(edn, tmp_path: Path, case: str) -> Path:
    files = edn["files"]
    if case == "missing_keys":
        sd = dict(files["official"])
        del sd["model1_2.1.weight"], sd["model.4.weight"]  # an upsampling and the first downsampling conv
    elif case == "extra_keys":
        sd = {**files["official"], "model2_1.1.weight": torch.zeros(1), "model1_2.9.weight": torch.zeros(1)}
    elif case == "wrong_shape":
        sd = {**files["official"], "model1_1.4.bias": torch.zeros(5)}
    elif case == "unsafe_pickle":
        sd = {"state_dict": files["official"], "opt": argparse.Namespace(ngf=4)}
    elif case == "unknown":
        sd = {"encoder.weight": torch.zeros(2)}
    path = tmp_path / "in" / f"{case}.pth"
    path.parent.mkdir(exist_ok=True)
    if case == "truncated":
        data = edn["paths"]["official"].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        torch.save(sd, path)
    return path


WRONG = [
    # (mode, checkpoint, --face, the file named, expected text)
    ("pose2vid", "magicpose", None, "checkpoint", "convert it with `magicpose convert magicpose`"),
    ("pose2vid", "sd15", None, "checkpoint", "convert it with `magicpose convert sd15`"),
    ("magicpose", "lotayou", None, "checkpoint", "is an Everybody Dance Now local-enhancer generator"),
    ("sd15", "official_global", None, "checkpoint", "convert it with `magicpose convert pose2vid`"),
    (
        "magicpose",
        "face_lotayou",
        None,
        "checkpoint",
        "`magicpose convert pose2vid GENERATOR OUT --face FILE`",
    ),
    (
        "pose2vid",
        "discriminator",
        None,
        "checkpoint",
        "discriminator (as latest_net_D.pth or latest_net_Dface.pth), "
        "which is only used in training and not needed for inference",
    ),
    ("pose2vid", "face_discriminator", None, "checkpoint", "not needed for inference"),
    (
        "magicpose",
        "discriminator",
        None,
        "checkpoint",
        "convert the generator saved beside it (latest_net_G.pth) with `magicpose convert pose2vid`",
    ),
    (
        "pose2vid",
        "face_lotayou",
        None,
        "checkpoint",
        "Lotayou's Everybody Dance Now face enhancer (final_generator"
        ".pth: 3 inputs, ngf 64, 2 downsamplings, 6 blocks, BatchNorm), "
        "not a pose2vid generator: pass it with --face",
    ),
    ("pose2vid", "face_official", None, "checkpoint", "the official Everybody Dance Now face enhancer"),
    (
        "pose2vid",
        "official",
        "lotayou",
        "face",
        "a body generator, not a face enhancer: pass it as CHECKPOINT",
    ),
    ("pose2vid", "official", "official_global", "face", "not one of the face enhancers magicpose runs"),
    ("pose2vid", "official", "discriminator", "face", "not needed for inference"),
    (
        "pose2vid",
        "official",
        "face_discriminator",
        "face",
        "not needed for inference: pass the face generator saved "
        "beside it ({epoch}_net_Gface.pth, or Lotayou's "
        "final_generator.pth) with --face",
    ),
    (
        "pose2vid",
        "official",
        "pix2pix_unet",
        "face",
        "is a pix2pix U-Net (3 inputs, 3 outputs, ngf 4, 5 levels, "
        "BatchNorm), not the official EDN U-Net face enhancer",
    ),
    (
        "pose2vid",
        "face_official_unet",
        None,
        "checkpoint",
        "the official Everybody Dance Now U-Net face enhancer",
    ),
    ("pose2vid", "official", "magicpose", "face", "convert it with `magicpose convert magicpose`"),
    ("pose2vid", "single_frame", None, "checkpoint", "not a temporal EDN generator"),
]


@pytest.mark.parametrize(
    "mode, checkpoint, face, named, expected", WRONG, ids=[f"{m}-{c}-{f}" for m, c, f, _, _ in WRONG]
)
def test_wrong_kind_is_refused(edn, tmp_path, capsys, mode, checkpoint, face, named, expected):
    out = tmp_path / "out" / "converted"
    argv = convert_argv(mode, edn["paths"][checkpoint], out)
    if face is not None:
        argv += ["--face", str(edn["paths"][face])]
    line = refused_in_one_line(capsys, argv, out)
    assert f"'{edn['paths'][checkpoint if named == 'checkpoint' else face]}'" in line and expected in line, (
        line
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "case, expected, keys",
    [
        (
            "missing_keys",
            "lacks 2 keys of the generator its other tensors describe",
            ["model1_2.1.weight", "model.4.weight"],
        ),
        (
            "extra_keys",
            "has 2 keys that the generator its other tensors describe",
            ["model2_1.1.weight", "model1_2.9.weight"],
        ),
        ("wrong_shape", "'model1_1.4.bias' has shape (5,) but the generator", []),
        (
            "unsafe_pickle",
            "--allow-unsafe-pickle only if you trust where the file came from",
            ["argparse.Namespace"],
        ),
        ("truncated", "the file is truncated or damaged: download it again", []),
        (
            "unknown",
            "not an original MagicPose, ControlNet, SD 1.5 or Everybody Dance Now checkpoint",
            ["encoder."],
        ),
    ],
)
def test_bad_file_is_refused_without_output(edn, tmp_path, capsys, case, expected, keys):
    path, out = _broken(edn, tmp_path, case), tmp_path / "out" / "converted"
    argv = convert_argv("pose2vid", path, out)
    line = refused_in_one_line(capsys, argv, out)
    assert f"'{path}'" in line and expected in line, line
    assert all(key in line for key in keys), line
    if case == "unsafe_pickle":
        assert main(argv + ["--allow-unsafe-pickle", "--family", "official"]) == 0
        _assert_same(
            Pose2VidPipeline.from_pretrained(out).generator.state_dict(),
            edn["models"]["official"].state_dict(),
        )


def test_family_contradicting_the_face_file_is_refused(edn, tmp_path, capsys):
    out = tmp_path / "converted"
    face = edn["paths"]["face_lotayou"]
    argv = convert_argv("pose2vid", edn["paths"]["lotayou"], out, "--face", str(face), "--family", "official")
    line = refused_in_one_line(capsys, argv, out)
    assert f"'{face}'" in line and "of the lotayou family, but --family official was given" in line


@pytest.mark.parametrize(
    "mode, flag",
    [
        ("pose2vid", "--config-from"),
        ("pose2vid", "--tokenizer"),
        ("controlnet", "--face"),
        ("controlnet", "--family"),
    ],
)
def test_options_of_another_mode_are_refused(edn, tmp_path, capsys, mode, flag):
    out = tmp_path / "converted"
    value = "official" if flag == "--family" else str(tmp_path)
    line = refused_in_one_line(capsys, convert_argv(mode, edn["paths"]["official"], out, flag, value), out)
    assert f"drop {flag}" in line


def test_a_named_pipe_as_the_checkpoint_is_refused_at_once(edn, tmp_path, capsys):
    import os
    import threading

    fifo = tmp_path / "latest_net_G.pth"
    os.mkfifo(fifo)
    # were the pipe opened, this writer would end the wait after 10 s (and the test fail) instead of hanging
    unblock = threading.Timer(10, lambda: open(fifo, "wb").close())
    unblock.daemon = True
    unblock.start()
    try:
        for argv in (
            convert_argv("pose2vid", fifo, tmp_path / "out"),
            convert_argv("pose2vid", edn["paths"]["lotayou"], tmp_path / "out", "--face", str(fifo)),
        ):
            assert main(argv) == 2
            assert capsys.readouterr().err.splitlines()[-1] == (
                f"error: checkpoint '{fifo}' is a named pipe, not a file: pass the checkpoint file itself (.th, .pth, "
                ".ckpt, .safetensors)"
            )
    finally:
        unblock.cancel()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest_net_G.pth"]
