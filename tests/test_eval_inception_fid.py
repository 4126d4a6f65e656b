"""pytorch-fid's Inception-v3 (magicpose.eval.inception_fid) on random weights laid out as its file.

The real ``pt_inception-2015-12-05-6726825d.pth`` is not on this machine: the tests check the key layout
against torchvision's Inception3 as documented (minus AuxLogits, 1008 classes), the loader's round trip and
refusals, and the features against an independent functional transcription of the network.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from magicpose.errors import InputError
from magicpose.eval.inception_fid import FILENAME, FIDInceptionV3, load_fid_inception

# torchvision's Inception3, as its source names and sizes the layers: (name, in, out, kernel (h, w)).
STEM = [
    ("Conv2d_1a_3x3", 3, 32, (3, 3)),
    ("Conv2d_2a_3x3", 32, 32, (3, 3)),
    ("Conv2d_2b_3x3", 32, 64, (3, 3)),
    ("Conv2d_3b_1x1", 64, 80, (1, 1)),
    ("Conv2d_4a_3x3", 80, 192, (3, 3)),
]


def _a(cin, pool):
    return [
        ("branch1x1", cin, 64, (1, 1)),
        ("branch5x5_1", cin, 48, (1, 1)),
        ("branch5x5_2", 48, 64, (5, 5)),
        ("branch3x3dbl_1", cin, 64, (1, 1)),
        ("branch3x3dbl_2", 64, 96, (3, 3)),
        ("branch3x3dbl_3", 96, 96, (3, 3)),
        ("branch_pool", cin, pool, (1, 1)),
    ]


def _b(cin):
    return [
        ("branch3x3", cin, 384, (3, 3)),
        ("branch3x3dbl_1", cin, 64, (1, 1)),
        ("branch3x3dbl_2", 64, 96, (3, 3)),
        ("branch3x3dbl_3", 96, 96, (3, 3)),
    ]


def _c(cin, c):
    return [
        ("branch1x1", cin, 192, (1, 1)),
        ("branch7x7_1", cin, c, (1, 1)),
        ("branch7x7_2", c, c, (1, 7)),
        ("branch7x7_3", c, 192, (7, 1)),
        ("branch7x7dbl_1", cin, c, (1, 1)),
        ("branch7x7dbl_2", c, c, (7, 1)),
        ("branch7x7dbl_3", c, c, (1, 7)),
        ("branch7x7dbl_4", c, c, (7, 1)),
        ("branch7x7dbl_5", c, 192, (1, 7)),
        ("branch_pool", cin, 192, (1, 1)),
    ]


def _d(cin):
    return [
        ("branch3x3_1", cin, 192, (1, 1)),
        ("branch3x3_2", 192, 320, (3, 3)),
        ("branch7x7x3_1", cin, 192, (1, 1)),
        ("branch7x7x3_2", 192, 192, (1, 7)),
        ("branch7x7x3_3", 192, 192, (7, 1)),
        ("branch7x7x3_4", 192, 192, (3, 3)),
    ]


def _e(cin):
    return [
        ("branch1x1", cin, 320, (1, 1)),
        ("branch3x3_1", cin, 384, (1, 1)),
        ("branch3x3_2a", 384, 384, (1, 3)),
        ("branch3x3_2b", 384, 384, (3, 1)),
        ("branch3x3dbl_1", cin, 448, (1, 1)),
        ("branch3x3dbl_2", 448, 384, (3, 3)),
        ("branch3x3dbl_3a", 384, 384, (1, 3)),
        ("branch3x3dbl_3b", 384, 384, (3, 1)),
        ("branch_pool", cin, 192, (1, 1)),
    ]


MIXED = {
    "Mixed_5b": _a(192, 32),
    "Mixed_5c": _a(256, 64),
    "Mixed_5d": _a(288, 64),
    "Mixed_6a": _b(288),
    "Mixed_6b": _c(768, 128),
    "Mixed_6c": _c(768, 160),
    "Mixed_6d": _c(768, 160),
    "Mixed_6e": _c(768, 192),
    "Mixed_7a": _d(768),
    "Mixed_7b": _e(1280),
    "Mixed_7c": _e(2048),
}
CONVS = {name: (cin, cout, k) for name, cin, cout, k in STEM} | {
    f"{block}.{name}": (cin, cout, k) for block, layers in MIXED.items() for name, cin, cout, k in layers
}
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

pytestmark = pytest.mark.usefixtures("two_torch_threads")  # full-size networks: see conftest.py


def _documented_state_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for name, (cin, cout, (kh, kw)) in CONVS.items():
        shapes[f"{name}.conv.weight"] = (cout, cin, kh, kw)
        shapes.update(
            {f"{name}.bn.{key}": () if key == "num_batches_tracked" else (cout,) for key in BN_KEYS}
        )
    return shapes | {"fc.weight": (1008, 2048), "fc.bias": (1008,)}


@pytest.fixture(scope="module")
def random_state() -> dict[str, Tensor]:
    """Random weights in pytorch-fid's layout, scaled (He) so that activations stay O(1) through 94 layers,
    with non-trivial BatchNorm statistics (a loader that skipped the buffers would give other features)."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in _documented_state_shapes().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = torch.randn(shape, generator=g) * (2 / fan_in) ** 0.5
        elif key.endswith(("running_var", "bn.weight")):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = (torch.rand(shape, generator=g) - 0.5) * 0.2
    return state


@pytest.fixture(scope="module")
def weights_file(random_state, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fid") / FILENAME
    torch.save(random_state, path)
    return path


def test_key_layout_is_torchvisions_inception3_without_aux_logits():
    ours = {k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items()}
    assert ours == _documented_state_shapes()
    assert len(ours) == 566 and not any(k.startswith("AuxLogits") for k in ours)
    assert "Conv2d_1a_3x3.bn.running_mean" in ours and "Mixed_5b.branch1x1.conv.weight" in ours
    model = FIDInceptionV3()
    assert all(m.eps == 0.001 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    assert sum(p.numel() for p in model.parameters()) == 23_834_568 + 2048 * 8 + 8  # 1000 classes -> 1008


def _conv(state, name, x, stride=1, padding=0):
    """BasicConv2d from the state dict: conv, BatchNorm (eval, eps 0.001), ReLU."""
    x = F.conv2d(x, state[f"{name}.conv.weight"], stride=stride, padding=padding)
    x = F.batch_norm(
        x,
        state[f"{name}.bn.running_mean"],
        state[f"{name}.bn.running_var"],
        state[f"{name}.bn.weight"],
        state[f"{name}.bn.bias"],
        training=False,
        eps=0.001,
    )
    return F.relu(x)


def _transcribed_features(state, x):
    """pytorch-fid's InceptionV3 blocks 0-3 as its source describes them, one functional line per layer."""
    c = lambda name, y, s=1, p=0: _conv(state, name, y, s, p)  # noqa: E731
    tf_avg = lambda y: F.avg_pool2d(y, 3, stride=1, padding=1, count_include_pad=False)  # noqa: E731
    x = c("Conv2d_2b_3x3", c("Conv2d_2a_3x3", c("Conv2d_1a_3x3", x, 2)), 1, 1)
    x = F.max_pool2d(x, 3, 2)
    x = F.max_pool2d(c("Conv2d_4a_3x3", c("Conv2d_3b_1x1", x)), 3, 2)
    for m in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):  # FIDInceptionA
        x = torch.cat(
            [
                c(f"{m}.branch1x1", x),
                c(f"{m}.branch5x5_2", c(f"{m}.branch5x5_1", x), 1, 2),
                c(f"{m}.branch3x3dbl_3", c(f"{m}.branch3x3dbl_2", c(f"{m}.branch3x3dbl_1", x), 1, 1), 1, 1),
                c(f"{m}.branch_pool", tf_avg(x)),
            ],
            1,
        )
    m = "Mixed_6a"  # InceptionB, unpatched
    x = torch.cat(
        [
            c(f"{m}.branch3x3", x, 2),
            c(f"{m}.branch3x3dbl_3", c(f"{m}.branch3x3dbl_2", c(f"{m}.branch3x3dbl_1", x), 1, 1), 2),
            F.max_pool2d(x, 3, 2),
        ],
        1,
    )
    for m in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):  # FIDInceptionC
        b7 = c(f"{m}.branch7x7_3", c(f"{m}.branch7x7_2", c(f"{m}.branch7x7_1", x), 1, (0, 3)), 1, (3, 0))
        d = c(f"{m}.branch7x7dbl_1", x)
        for k, pad in ((2, (3, 0)), (3, (0, 3)), (4, (3, 0)), (5, (0, 3))):
            d = c(f"{m}.branch7x7dbl_{k}", d, 1, pad)
        x = torch.cat([c(f"{m}.branch1x1", x), b7, d, c(f"{m}.branch_pool", tf_avg(x))], 1)
    m = "Mixed_7a"  # InceptionD, unpatched
    s = c(f"{m}.branch7x7x3_3", c(f"{m}.branch7x7x3_2", c(f"{m}.branch7x7x3_1", x), 1, (0, 3)), 1, (3, 0))
    x = torch.cat(
        [
            c(f"{m}.branch3x3_2", c(f"{m}.branch3x3_1", x), 2),
            c(f"{m}.branch7x7x3_4", s, 2),
            F.max_pool2d(x, 3, 2),
        ],
        1,
    )
    for m, pool in (("Mixed_7b", tf_avg), ("Mixed_7c", lambda y: F.max_pool2d(y, 3, 1, 1))):  # E_1, E_2
        a = c(f"{m}.branch3x3_1", x)
        d = c(f"{m}.branch3x3dbl_2", c(f"{m}.branch3x3dbl_1", x), 1, 1)
        x = torch.cat(
            [
                c(f"{m}.branch1x1", x),
                c(f"{m}.branch3x3_2a", a, 1, (0, 1)),
                c(f"{m}.branch3x3_2b", a, 1, (1, 0)),
                c(f"{m}.branch3x3dbl_3a", d, 1, (0, 1)),
                c(f"{m}.branch3x3dbl_3b", d, 1, (1, 0)),
                c(f"{m}.branch_pool", pool(x)),
            ],
            1,
        )
    return F.adaptive_avg_pool2d(x, (1, 1)).squeeze(3).squeeze(2)


def test_loaded_file_gives_the_transcribed_features(random_state, weights_file):
    model = load_fid_inception(weights_file)
    assert not model.training
    loaded = model.state_dict()
    for key, value in random_state.items():
        assert torch.equal(loaded[key], value), key
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        got, expected = model(x), _transcribed_features(random_state, x)
    assert got.shape == (2, 2048) and got.dtype == torch.float32
    assert expected.abs().mean() > 0.05 and (got[0] - got[1]).abs().max() > 1e-3  # not a vacuous comparison
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(
            model.logits(x[:1]),
            F.linear(expected[:1], random_state["fc.weight"], random_state["fc.bias"]),
            rtol=1e-5,
            atol=1e-5,
        )
    # the TF-specific pools matter: torchvision's average pool in Mixed_7c gives other features
    model.Mixed_7c.max_pool = False
    with torch.no_grad():
        assert (model(x) - got).abs().max() > 1e-3


def test_a_file_without_num_batches_tracked_loads(random_state, tmp_path):
    path = tmp_path / "old.pth"
    torch.save({k: v for k, v in random_state.items() if not k.endswith("num_batches_tracked")}, path)
    model = load_fid_inception(path)
    assert torch.equal(
        model.Mixed_7c.branch_pool.bn.running_var, random_state["Mixed_7c.branch_pool.bn.running_var"]
    )


def test_wrong_or_damaged_files_are_refused_in_one_line(random_state, weights_file, tmp_path):
    def refused(path) -> str:
        with pytest.raises(InputError) as info:
            load_fid_inception(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message
        return message

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(weights_file.read_bytes()[: weights_file.stat().st_size // 2])
    assert "download it again if it was cut short" in refused(truncated)

    aux = tmp_path / "torchvision_inception.pth"
    torch.save({**random_state, "AuxLogits.fc.weight": torch.zeros(1000, 768)}, aux)
    assert "unexpected AuxLogits.fc.weight" in refused(aux)

    renamed = tmp_path / "renamed.pth"
    state = dict(random_state)
    state["Conv2d_1a.conv.weight"] = state.pop("Conv2d_1a_3x3.conv.weight")
    torch.save(state, renamed)
    message = refused(renamed)
    assert "missing Conv2d_1a_3x3.conv.weight" in message and "unexpected Conv2d_1a.conv.weight" in message

    thousand = tmp_path / "1000_classes.pth"
    torch.save({**random_state, "fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}, thousand)
    assert "wrong shape fc.weight (1000, 2048) (want (1008, 2048))" in refused(thousand)

    script = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(nn.Linear(2, 2)).save(str(script))
    assert zipfile.is_zipfile(script)
    assert "is a TorchScript file" in refused(
        script
    ) and "--inception with --fid-protocol clean-fid" in refused(script)

    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    assert "holds no state dict" in refused(tensor)
    assert "does not exist" in refused(tmp_path / "absent.pth")
