"""``magicpose convert vid2vid``: the original's per-scale ``{epoch}_net_G<s>.pth`` files, made here from a
random generator by the inverse mapping (original keys, its norm layers' running statistics, optionally a
DataParallel ``module.`` prefix), convert back bit for bit; the configuration is read from the tensors; every
other file is refused in one line."""

import json

import numpy as np
import pytest
import torch

from magicpose.cli import main
from magicpose.convert.vid2vid import analyse_scale, convert_vid2vid
from magicpose.errors import InputError
from magicpose.models.vid2vid import Vid2VidGenerator
from magicpose.pipelines.pipeline_vid2vid import Vid2VidPipeline

CONFIG = dict(ngf=8, n_downsample_G=2, n_blocks=3, n_blocks_local=2, n_scales_spatial=2)


def _generator(**kwargs) -> Vid2VidGenerator:
    torch.manual_seed(0)
    generator = Vid2VidGenerator(**{**CONFIG, **kwargs}).eval()
    with torch.no_grad():  # affine norm parameters away from their 1/0 initialisation, so a mix-up shows
        for p in generator.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return generator


def original_files(generator: Vid2VidGenerator, folder, epoch: str = "10", module: bool = False) -> list:
    """The inverse mapping: one ``{epoch}_net_G<s>.pth`` per scale, as the original's ``save_network`` writes
    it (``torch.save`` of the scale's state dict), its norm layers with running statistics as its BatchNorm2d
    (``--norm batch``) or its InstanceNorm2d(track_running_stats=True) (``--norm instance``) carry them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s, scale in enumerate(generator.scales):
        state = {}
        for name, module_ in scale.named_modules():
            prefix = f"{name}." if name else ""
            for key, tensor in module_.named_parameters(recurse=False):
                state[prefix + key] = tensor.detach().clone()
            if isinstance(module_, torch.nn.InstanceNorm2d):
                c = module_.num_features
                state[prefix + "running_mean"] = torch.rand(c)
                state[prefix + "running_var"] = torch.rand(c) + 0.5
                state[prefix + "num_batches_tracked"] = torch.tensor(7)
        if module:
            state = {f"module.{k}": v for k, v in state.items()}
        path = folder / f"{epoch}_net_G{s}.pth"
        torch.save(state, path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("norm, module", [("instance_affine", False), ("instance", True)])
def test_every_scale_converts_bit_for_bit_and_runs_the_same(tmp_path, norm, module):
    generator = _generator(norm=norm)
    paths = original_files(generator, tmp_path / "run", module=module)
    out = convert_vid2vid(paths[1], tmp_path / "out", log=None)  # any scale's file finds the others
    pipe = Vid2VidPipeline.from_pretrained(out)
    converted = pipe.generator.state_dict()
    original = generator.state_dict()
    assert converted.keys() == original.keys()
    assert all(torch.equal(converted[k], original[k]) for k in original)
    config = pipe.generator.config
    assert (
        config.ngf,
        config.n_downsample_G,
        config.n_blocks,
        config.n_blocks_local,
        config.n_scales_spatial,
        config.n_frames_G,
        config.pose_channels,
        config.norm,
        config.no_flow,
    ) == (8, 2, 3, 2, 2, 3, 3, norm, False)
    assert tuple(config.sample_size) == (512, 448)  # the original's 512p crop, two scales
    rng = np.random.default_rng(0)
    poses = [rng.integers(0, 256, (32, 24, 3), dtype=np.uint8) for _ in range(3)]
    source = Vid2VidPipeline(generator=generator)
    for a, b in zip(source.iter_frames(poses, 32, 24), pipe.iter_frames(poses, 32, 24), strict=True):
        assert np.array_equal(a, b)
    info = json.loads((out / "magicpose_info.json").read_text())
    norms = sum(isinstance(m, torch.nn.InstanceNorm2d) for m in generator.modules())
    assert len(info["ignored_keys"]) == 3 * norms and all(
        k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in info["ignored_keys"]
    )
    assert info["sources"] == ["10_net_G0.pth", "10_net_G1.pth"]


def test_densepose_and_openpose_input_without_flow_is_read_from_the_tensors(tmp_path):
    """The original's 6-channel pose input (DensePose + OpenPose), one scale, flow off."""
    generator = _generator(pose_channels=6, n_scales_spatial=1, no_flow=True, n_blocks=4)
    out = convert_vid2vid(original_files(generator, tmp_path / "run")[0], tmp_path / "out", log=None)
    config = Vid2VidPipeline.from_pretrained(out).generator.config
    assert (config.pose_channels, config.n_scales_spatial, config.no_flow, config.n_blocks) == (6, 1, True, 4)
    assert tuple(config.sample_size) == (256, 192)


def test_the_layout_is_read_from_the_tensors(tmp_path):
    state = {
        k.removeprefix("scales.0."): v
        for k, v in _generator().state_dict().items()
        if k.startswith("scales.0.")
    }
    layout = analyse_scale(state, tmp_path / "x.pth")
    assert (
        layout.local,
        layout.ngf,
        layout.n_downsampling,
        layout.n_blocks,
        layout.label_nc,
        layout.prev_nc,
        layout.affine_norm,
        layout.no_flow,
    ) == (False, 8, 2, 3, 9, 6, False, False)


def test_the_command_line(tmp_path, capsys):
    paths = original_files(_generator(), tmp_path / "run")
    assert main(["convert", "vid2vid", str(paths[0]), str(tmp_path / "out")]) == 0
    assert "wrote a vid2vid pipeline converted from 10_net_G0.pth" in capsys.readouterr().out
    assert (tmp_path / "out" / "generator" / "config.json").is_file()


def _refusal(tmp_path, path, capsys, mode: str = "vid2vid") -> str:
    assert main(["convert", mode, str(path), str(tmp_path / "refused")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and not (tmp_path / "refused").exists()  # (the other lines say what is loaded)
    return errors[0].removeprefix("error: ")


def test_discriminators_missing_scales_and_foreign_scales_are_refused(tmp_path, capsys):
    paths = original_files(_generator(), tmp_path / "run")
    torch.save({"scale0_layer0.0.weight": torch.zeros(1)}, tmp_path / "run" / "10_net_D_T0.pth")
    assert "vid2vid discriminator, which is only used in training" in _refusal(
        tmp_path, tmp_path / "run" / "10_net_D_T0.pth", capsys
    )
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "10_net_G1.pth").write_bytes(paths[1].read_bytes())
    assert "its coarsest scale, always needed) is missing" in _refusal(
        tmp_path, lone / "10_net_G1.pth", capsys
    )
    mixed = tmp_path / "mixed"
    other = original_files(_generator(ngf=16), tmp_path / "other")
    mixed.mkdir()
    (mixed / "10_net_G0.pth").write_bytes(paths[0].read_bytes())
    (mixed / "10_net_G1.pth").write_bytes(other[1].read_bytes())
    assert "is not scale 1 of the generator" in _refusal(tmp_path, mixed / "10_net_G0.pth", capsys)


def test_damaged_and_other_families_files_are_refused(tmp_path, capsys):
    paths = original_files(_generator(n_scales_spatial=1), tmp_path / "run")
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "10_net_G0.pth").write_bytes(paths[0].read_bytes()[:2000])
    assert "truncated or damaged" in _refusal(tmp_path, cut / "10_net_G0.pth", capsys)
    short = torch.load(paths[0])
    del short["model_final_w.1.bias"]
    (tmp_path / "short").mkdir()
    torch.save(short, tmp_path / "short" / "10_net_G0.pth")
    assert "lack 1 tensors" in _refusal(tmp_path, tmp_path / "short" / "10_net_G0.pth", capsys)
    from magicpose.models.pix2pixhd import GlobalGenerator

    edn = tmp_path / "latest_net_G.pth"
    torch.save(GlobalGenerator(6, 3, ngf=4, n_downsampling=2, n_blocks=1).state_dict(), edn)
    assert "convert it with `magicpose convert pose2vid`" in _refusal(tmp_path, edn, capsys)
    assert "convert it with `magicpose convert vid2vid`" in _refusal(
        tmp_path, paths[0], capsys, mode="pose2vid"
    )


def test_options_of_other_modes_are_refused(tmp_path):
    from magicpose.convert.api import convert

    paths = original_files(_generator(n_scales_spatial=1), tmp_path / "run")
    with pytest.raises(InputError, match="--family is an option of `magicpose convert pose2vid`"):
        convert("vid2vid", paths[0], tmp_path / "o", family="official", log=None)
    with pytest.raises(InputError, match="--tokenizer does not apply to `magicpose convert vid2vid`"):
        convert("vid2vid", paths[0], tmp_path / "o", tokenizer="tok", log=None)
