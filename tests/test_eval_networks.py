"""The FID-VID and LPIPS feature networks (magicpose.eval.resnet3d, magicpose.eval.lpips), on random weights.

The real checkpoints are not on this machine: the tests check the architectures against their
descriptions (names, shapes, parameter counts), the LPIPS formula against a numpy re-computation, and
that the loaders read files laid out like the originals bit-exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from magicpose.errors import InputError
from magicpose.eval.lpips import LPIPS, VGG16Features, load_lpips_vgg
from magicpose.eval.resnet3d import ResNet3D, load_resnet3d, resnet3d_50

VGG_CHANNELS = (64, 128, 256, 512, 512)
VGG_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)

pytestmark = pytest.mark.usefixtures("two_torch_threads")  # full-size networks: see conftest.py


# ---------------------------------------------------------------------------------------------- ResNet3D


@pytest.fixture(scope="module")
def resnet50() -> ResNet3D:
    torch.manual_seed(0)
    model = resnet3d_50().eval()
    # Non-trivial BatchNorm statistics, so a loader that skipped the buffers would give other features.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_resnet3d_tiny_feature_shape() -> None:
    torch.manual_seed(0)
    model = ResNet3D(layers=(1, 1, 1, 1), width=4, num_classes=7).eval()
    x = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        features, logits = model(x), model.logits(x)
    assert features.shape == (2, 8 * 4 * 4)
    assert logits.shape == (2, 7)
    torch.testing.assert_close(logits, model.fc(features), rtol=0, atol=0)
    # Global average pool of layer4's output, as the original AvgPool3d over the whole final map.
    with torch.no_grad():
        h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        h = model.layer4(model.layer3(model.layer2(model.layer1(h))))
    assert h.shape == (2, 128, 1, 1, 1)  # 16x32x32 -> T/16, H/32, W/32
    torch.testing.assert_close(features, h.flatten(1), rtol=0, atol=0)


def _resnet50_parameter_count() -> int:
    """Parameters of the 3D ResNet-50 from its description: weights and biases of convs, BNs and fc."""
    conv = lambda cin, cout, k: cin * cout * k**3  # noqa: E731  (bias-free)
    bn = lambda c: 2 * c  # noqa: E731  (weight and bias; running stats are buffers)
    total = conv(3, 64, 7) + bn(64)
    cin = 64
    for planes, depth in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for block in range(depth):
            total += conv(cin, planes, 1) + bn(planes) + conv(planes, planes, 3) + bn(planes)
            total += conv(planes, 4 * planes, 1) + bn(4 * planes)
            if block == 0:  # every stage's first block changes the width (64 -> 256 included): projection
                total += conv(cin, 4 * planes, 1) + bn(4 * planes)
            cin = 4 * planes
    return total + 2048 * 400 + 400


def test_resnet3d_50_names_shapes_and_size(resnet50: ResNet3D) -> None:
    shapes = {name: tuple(p.shape) for name, p in resnet50.named_parameters()}
    assert shapes["conv1.weight"] == (64, 3, 7, 7, 7)
    assert shapes["bn1.weight"] == (64,)
    assert shapes["layer1.0.conv1.weight"] == (64, 64, 1, 1, 1)
    assert shapes["layer1.0.downsample.0.weight"] == (256, 64, 1, 1, 1)
    assert shapes["layer1.0.downsample.1.weight"] == (256,)
    assert shapes["layer2.0.conv2.weight"] == (128, 128, 3, 3, 3)
    assert shapes["layer2.0.downsample.0.weight"] == (512, 256, 1, 1, 1)
    assert shapes["layer3.5.bn3.bias"] == (1024,)
    assert shapes["layer4.2.conv3.weight"] == (2048, 512, 1, 1, 1)
    assert shapes["fc.weight"] == (400, 2048)
    assert shapes["fc.bias"] == (400,)
    assert "layer1.1.downsample.0.weight" not in shapes and "layer4.3.conv1.weight" not in shapes
    assert not any(name.endswith("conv1.bias") or name.endswith("conv2.bias") for name in shapes)
    # Stride on conv2 (3x3x3), not on conv1: the layout of Hara's checkpoint.
    assert resnet50.layer2[0].conv1.stride == (1, 1, 1) and resnet50.layer2[0].conv2.stride == (2, 2, 2)
    assert resnet50.conv1.stride == (1, 2, 2) and resnet50.conv1.padding == (3, 3, 3)
    assert sum(p.numel() for p in resnet50.parameters()) == _resnet50_parameter_count() == 47_018_576
    # BN running stats are buffers: 3 per BatchNorm3d (mean, var, num_batches_tracked).
    bns = sum(isinstance(m, nn.BatchNorm3d) for m in resnet50.modules())
    assert bns == 1 + 3 * 16 + 4 and len(dict(resnet50.named_buffers())) == 3 * bns


def test_load_resnet3d_round_trip(resnet50: ResNet3D, tmp_path: Path) -> None:
    # The original file's layout: DataParallel's "module." prefix, under "state_dict", beside other entries.
    path = tmp_path / "resnet-50-kinetics.pth"
    state = {"module." + k: v for k, v in resnet50.state_dict().items()}
    torch.save({"arch": "resnet-50", "epoch": 200, "state_dict": state}, path)
    loaded = load_resnet3d(path)
    assert not loaded.training
    for (name, a), (name_b, b) in zip(
        resnet50.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert name == name_b and torch.equal(a, b), name
    x = torch.randn(1, 3, 16, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = resnet50(x), loaded(x)
    assert got.shape == (1, 2048)
    assert torch.equal(expected, got)
    assert expected.abs().max() > 0


def test_load_resnet3d_without_num_batches_tracked(resnet50: ResNet3D, tmp_path: Path) -> None:
    """Checkpoints from before PyTorch 0.4 have no num_batches_tracked; they still load (bare dict here)."""
    path = tmp_path / "old.pth"
    state = {k: v for k, v in resnet50.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    loaded = load_resnet3d(path)
    assert torch.equal(loaded.layer4[2].bn3.running_var, resnet50.layer4[2].bn3.running_var)
    assert int(loaded.bn1.num_batches_tracked) == 0


def test_load_resnet3d_errors(resnet50: ResNet3D, tmp_path: Path) -> None:
    state = {"module." + k: v for k, v in resnet50.state_dict().items()}
    state["module.conv0.weight"] = state.pop("module.conv1.weight")
    path = tmp_path / "renamed_key.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(InputError) as info:
        load_resnet3d(path)
    message = str(info.value)
    assert "renamed_key.pth" in message and "\n" not in message
    assert "missing conv1.weight" in message and "unexpected conv0.weight" in message

    small = tmp_path / "resnet-18ish.pth"
    torch.save(ResNet3D(layers=(1, 1, 1, 1), width=4).state_dict(), small)
    with pytest.raises(InputError, match=r"resnet-18ish\.pth is not a 3D ResNet-50") as info:
        load_resnet3d(small)
    assert "wrong shape conv1.weight (4, 3, 7, 7, 7) (want (64, 3, 7, 7, 7))" in str(info.value)
    assert "\n" not in str(info.value)

    with pytest.raises(InputError, match=r"absent\.pth") as info:
        load_resnet3d(tmp_path / "absent.pth")
    assert "resnet-50-kinetics.pth" in str(info.value)

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"garbage\.pth") as info:
        load_resnet3d(garbage)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------- LPIPS


class _TinyBackbone(nn.Module):
    """Two 3x3 convs, tapped after each ReLU; the second halves the resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> list[Tensor]:
        f1 = torch.relu(self.conv1(x))
        return [f1, torch.relu(self.conv2(f1))]


def _tiny_lpips(seed: int = 0) -> LPIPS:
    torch.manual_seed(seed)
    model = LPIPS(_TinyBackbone(), (4, 8))
    for head in model.heads:  # random non-negative weights, as learned heads are
        head.model[1].weight.data.uniform_(0.0, 1.0)
    return model.double().eval()


def _images(seed: int, n: int = 3, size: int = 16) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g, dtype=torch.float64) * 2 - 1


def _numpy_lpips(model: LPIPS, a: Tensor, b: Tensor) -> np.ndarray:
    """The LPIPS formula written out in numpy; only the backbone is run by torch (on numpy-scaled input)."""
    shift = np.array([-0.030, -0.088, -0.188]).reshape(1, 3, 1, 1)
    scale = np.array([0.458, 0.448, 0.450]).reshape(1, 3, 1, 1)

    def features(x: Tensor) -> list[np.ndarray]:
        scaled = (x.numpy() - shift) / scale
        with torch.no_grad():
            return [f.numpy() for f in model.backbone(torch.from_numpy(scaled))]

    total = np.zeros(a.shape[0])
    for k, (fa, fb) in enumerate(zip(features(a), features(b), strict=True)):
        na = fa / (np.sqrt((fa**2).sum(axis=1, keepdims=True)) + 1e-10)
        nb = fb / (np.sqrt((fb**2).sum(axis=1, keepdims=True)) + 1e-10)
        w = getattr(model, f"lin{k}").model[1].weight.detach().numpy().reshape(-1)  # (C,)
        weighted = np.einsum("c,bchw->bhw", w, (na - nb) ** 2)
        total += weighted.mean(axis=(1, 2))
    return total


def test_lpips_properties_and_formula() -> None:
    model = _tiny_lpips()
    a, b = _images(1), _images(2)
    with torch.no_grad():
        same, ab, ba = model(a, a), model(a, b), model(b, a)
    assert same.shape == (3,) and torch.equal(same, torch.zeros(3, dtype=torch.float64))
    assert (ab > 0).all()
    assert torch.equal(ab, ba)
    np.testing.assert_allclose(ab.numpy(), _numpy_lpips(model, a, b), rtol=0, atol=1e-6)
    # Not the trivial solution: the images differ, and so do the distances between pairs.
    assert ab.min() > 1e-3 and ab.std() > 0


def test_lpips_constants_and_default_heads() -> None:
    model = LPIPS(_TinyBackbone(), (4, 8))
    assert torch.equal(model.shift.flatten(), torch.tensor([-0.030, -0.088, -0.188]))
    assert torch.equal(model.scale.flatten(), torch.tensor([0.458, 0.448, 0.450]))
    assert model.shift.shape == model.scale.shape == (1, 3, 1, 1)
    assert "shift" not in dict(model.named_parameters())
    assert set(model.state_dict()) >= {"lin0.model.1.weight", "lin1.model.1.weight"}
    assert model.lin1.model[1].weight.shape == (1, 8, 1, 1) and model.lin1.model[1].bias is None
    assert torch.equal(model.lin0.model[1].weight, torch.ones(1, 4, 1, 1))
    assert isinstance(model.lin0.model[0], nn.Dropout)
    # Unloaded heads (ones): the distance is the plain channel sum, i.e. per tap the mean over space of
    # |na - nb|^2 summed over channels.
    model = model.double().eval()
    a, b = _images(3), _images(4)
    with torch.no_grad():
        got = model(a, b)
    # 1e-6, not 1e-12: the module's shift/scale constants are float32 (as in lpips) even in a double model.
    np.testing.assert_allclose(got.numpy(), _numpy_lpips(model, a, b), rtol=0, atol=1e-6)


def test_vgg16_features_layout() -> None:
    torch.manual_seed(0)
    vgg = VGG16Features().eval()
    assert sum(p.numel() for p in vgg.parameters()) == 14_714_688
    expected = {f"features.{i}.{kind}" for i in VGG_CONV_INDICES for kind in ("weight", "bias")}
    assert set(vgg.state_dict()) == expected
    assert len(vgg.features) == 30
    assert all(isinstance(vgg.features[i], nn.MaxPool2d) for i in (4, 9, 16, 23))
    assert vgg.features[28].weight.shape == (512, 512, 3, 3) and vgg.features[0].weight.shape == (64, 3, 3, 3)
    with torch.no_grad():
        taps = vgg(torch.randn(1, 3, 32, 32))
    assert [tuple(t.shape) for t in taps] == [
        (1, c, 32 // 2**k, 32 // 2**k) for k, c in enumerate(VGG_CHANNELS)
    ]
    assert all((t >= 0).all() for t in taps)  # after a ReLU


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory) -> tuple[Path, Path, dict[str, Tensor], dict[str, Tensor]]:
    """torchvision- and lpips-layout files with random weights."""
    folder = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    backbone = {k: v.clone() for k, v in VGG16Features().state_dict().items()}
    heads = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(VGG_CHANNELS)}
    torch.save(
        {**backbone, "classifier.0.weight": torch.zeros(4, 25088), "classifier.0.bias": torch.zeros(4)},
        folder / "vgg16-397923af.pth",
    )
    torch.save(heads, folder / "vgg.pth")
    return folder / "vgg16-397923af.pth", folder / "vgg.pth", backbone, heads


def test_load_lpips_vgg_round_trip(lpips_files) -> None:
    backbone_path, heads_path, backbone, heads = lpips_files
    model = load_lpips_vgg(backbone_path, heads_path)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model.channels == VGG_CHANNELS
    loaded = model.state_dict()
    assert set(loaded) == {f"backbone.{k}" for k in backbone} | set(heads)
    for k, v in backbone.items():
        assert torch.equal(loaded[f"backbone.{k}"], v), k
    for k, v in heads.items():
        assert torch.equal(loaded[k], v), k
    a, b = _images(5, n=2, size=32).float(), _images(6, n=2, size=32).float()
    with torch.no_grad():
        d = model(a, b)
        assert torch.equal(model(a, a), torch.zeros(2)) and (d > 0).all()
        assert torch.equal(d, model(a, b))  # eval mode: the heads' dropout is off


def test_load_lpips_vgg_errors(lpips_files, tmp_path: Path) -> None:
    backbone_path, heads_path, backbone, heads = lpips_files
    vgg19ish = tmp_path / "vgg19.pth"
    torch.save({**backbone, "features.30.weight": torch.zeros(512, 512, 3, 3)}, vgg19ish)
    with pytest.raises(InputError, match=r"vgg19\.pth is not torchvision's VGG16") as info:
        load_lpips_vgg(vgg19ish, heads_path)
    assert "unexpected features.30.weight" in str(info.value) and "\n" not in str(info.value)

    alex_heads = tmp_path / "alex.pth"
    torch.save({**heads, "lin0.model.1.weight": torch.rand(1, 96, 1, 1)}, alex_heads)
    with pytest.raises(InputError, match=r"alex\.pth is not the lpips package's VGG linear heads") as info:
        load_lpips_vgg(backbone_path, alex_heads)
    assert "lin0.model.1.weight (1, 96, 1, 1) (want (1, 64, 1, 1))" in str(info.value)

    with pytest.raises(InputError, match=r"nowhere\.pth.*vgg16-397923af\.pth"):
        load_lpips_vgg(tmp_path / "nowhere.pth", heads_path)
    with pytest.raises(InputError, match=r"nowhere\.pth.*weights/v0\.1/vgg\.pth"):
        load_lpips_vgg(backbone_path, tmp_path / "nowhere.pth")


def test_matches_lpips_package() -> None:
    """Same distances as the reference implementation, given the same (random) backbone and its heads."""
    lpips = pytest.importorskip("lpips")
    torch.manual_seed(0)
    # pnet_rand: random VGG (no torchvision download); pretrained: the package's own vgg.pth heads.
    reference = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True).eval()
    # Its backbone splits vgg16().features into slice1..slice5 that keep torchvision's layer indices.
    backbone = {}
    for key, value in reference.net.state_dict().items():
        slice_name, rest = key.split(".", 1)
        assert slice_name.startswith("slice"), key
        backbone[f"features.{rest}"] = value
    vgg = VGG16Features()
    vgg.load_state_dict(backbone, strict=True)
    ours = LPIPS(vgg, VGG_CHANNELS)
    reference_state = reference.state_dict()
    for k in range(len(VGG_CHANNELS)):
        ours.get_submodule(f"lin{k}").model[1].weight.data.copy_(reference_state[f"lin{k}.model.1.weight"])
    ours.eval()

    a, b = _images(7, n=2, size=64).float(), _images(8, n=2, size=64).float()
    with torch.no_grad():
        expected = reference(a, b).reshape(-1)
        got = ours(a, b)
    assert got.shape == (2,) and (expected > 0).all()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
