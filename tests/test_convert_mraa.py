"""`magicpose convert mraa`: the original checkpoint layout, bit-exact both ways, configs read off the tensors,
one-line refusals."""

import numpy as np
import pytest
import torch

from magicpose.convert.mraa import convert_mraa, from_original_key, to_original, to_original_key
from magicpose.errors import InputError
from magicpose.pipelines.pipeline_mraa import MRAAPipeline
from magicpose.tiny_models import make_mraa_pipeline


def pipeline(avd=True, bg_type="affine", pca_based=True, region_scale=0.25, deformed=True, occlusion=True):
    pipe = make_mraa_pipeline(
        avd=avd,
        bg_type=bg_type,
        regions={"pca_based": pca_based, "scale_factor": region_scale},
        flow={"use_deformed_source": deformed, "estimate_occlusion_map": occlusion},
    )
    with torch.no_grad():  # every tensor distinct, batch-norm statistics included
        for name in ("region_predictor", "generator", "avd_network", "bg_predictor"):
            network = getattr(pipe, name)
            if network is None:
                continue
            for key, tensor in network.state_dict().items():
                if tensor.is_floating_point() and not key.endswith("downsample.weight") and key != "identity":
                    tensor.copy_(torch.rand_like(tensor) * 0.2 + (0.9 if "running_var" in key else -0.1))
            network.eval()
    return pipe


def save_original(pipe, path, **extra):
    torch.save(
        {**to_original(pipe), "optimizer": {"state": {}, "param_groups": []}, "epoch": 7, **extra}, path
    )
    return path


def states(pipe) -> dict:
    return {
        f"{n}.{k}": v
        for n in ("region_predictor", "generator", "avd_network", "bg_predictor")
        if getattr(pipe, n) is not None
        for k, v in getattr(pipe, n).state_dict().items()
    }


def test_the_original_names_read_both_ways():
    assert to_original_key("generator.bottleneck.3.conv1.weight") == "generator.bottleneck.r3.conv1.weight"
    assert (
        to_original_key("generator.flow_predictor.mask_head.bias")
        == "generator.pixelwise_flow_predictor.mask.bias"
    )
    assert to_original_key("region_predictor.hourglass.encoder.blocks.0.norm.running_var") == (
        "region_predictor.predictor.encoder.down_blocks.0.norm.running_var"
    )
    for key in states(pipeline()):
        assert from_original_key(to_original_key(key)) == key


def test_conversion_is_bit_exact_both_ways_and_renders_the_same_frames(tmp_path):
    pipe = pipeline()
    source = save_original(pipe, tmp_path / "00000099-checkpoint.pth.tar")
    out = convert_mraa(source, tmp_path / "converted", sample_size=32, log=None)
    converted = MRAAPipeline.from_pretrained(out)
    a, b = states(pipe), states(converted)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    original, back = to_original(pipe), to_original(converted)
    assert original.keys() == back.keys()
    for name in original:
        assert original[name].keys() == back[name].keys()
        assert all(torch.equal(original[name][k], back[name][k]) for k in original[name])
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    for mode in ("standard", "avd"):
        x = pipe(image=frames[0], driving_frames=frames[1:], mode=mode, output_type="np").frames
        y = converted(image=frames[0], driving_frames=frames[1:], mode=mode, output_type="np").frames
        assert np.array_equal(x, y)


@pytest.mark.parametrize(
    "options",
    [
        {"avd": False, "bg_type": "zero"},
        {"bg_type": "shift", "pca_based": False},
        {"bg_type": "perspective", "region_scale": 1.0},
        {"deformed": False, "occlusion": False, "region_scale": 0.5},
    ],
)
def test_each_variant_is_read_off_the_tensors(tmp_path, options):
    pipe = pipeline(**options)
    converted = MRAAPipeline.from_pretrained(
        convert_mraa(save_original(pipe, tmp_path / "cpk.pth"), tmp_path / "out", sample_size=32, log=None)
    )
    a, b = states(pipe), states(converted)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert converted.region_predictor.config.scale_factor == pipe.region_predictor.config.scale_factor
    assert converted.region_predictor.config.pca_based == pipe.region_predictor.config.pca_based
    assert converted.bg_predictor.config.bg_type == pipe.bg_predictor.config.bg_type
    assert (converted.avd_network is None) == (pipe.avd_network is None)
    if options.get("region_scale") == 1.0:
        assert not any(k.startswith("down.") for k in to_original(pipe)["region_predictor"])


def test_other_checkpoints_are_refused_in_one_line(tmp_path):
    fomm = tmp_path / "fomm.pth"
    torch.save(
        {"kp_detector": {"predictor.x": torch.zeros(1)}, "generator": {"first.conv.weight": torch.zeros(1)}},
        fomm,
    )
    with pytest.raises(InputError, match="First Order Motion Model"):
        convert_mraa(fomm, tmp_path / "a", log=None)
    flat = tmp_path / "pose2vid.pth"
    torch.save({"model.1.weight": torch.zeros(2)}, flat)
    with pytest.raises(InputError, match="holds no MRAA region_predictor and generator"):
        convert_mraa(flat, tmp_path / "b", log=None)
    original = to_original(pipeline())
    del original["generator"]["final.weight"]
    incomplete = tmp_path / "incomplete.pth"
    torch.save(original, incomplete)
    with pytest.raises(InputError, match="not a complete MRAA checkpoint"):
        convert_mraa(incomplete, tmp_path / "c", log=None)
    whole = save_original(pipeline(), tmp_path / "whole.pth")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated.pth"):
        convert_mraa(truncated, tmp_path / "d", log=None)
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_the_command_converts_and_refuses_options_of_other_modes(tmp_path, capsys):
    from magicpose.cli import main

    source = save_original(pipeline(), tmp_path / "cpk.pth")
    assert main(["convert", "mraa", str(source), str(tmp_path / "out"), "--dtype", "fp32"]) == 0
    assert states(MRAAPipeline.from_pretrained(tmp_path / "out")).keys() == states(pipeline()).keys()
    capsys.readouterr()
    assert main(["convert", "mraa", str(source), str(tmp_path / "other"), "--face", str(source)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--face is an option of `magicpose convert pose2vid`" in err[0]
    assert not (tmp_path / "other").exists()
