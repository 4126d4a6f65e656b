"""pix2pixHD / Everybody Dance Now networks and losses (docs/ref-gan-baselines.md §0, §2, §3).

Parameter counts are computed here from the layer definitions of the spec, independently of the modules;
published-layout state dicts are built here key by key, and a functional forward written against those
published keys is the reference the modules must match bitwise.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from magicpose.errors import InputError
from magicpose.models import losses, pix2pixhd

# ----------------------------------------------------------------------------------------------------------
# parameter counts, by arithmetic on the layer definitions


def conv_params(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout  # weight + bias (a transposed conv has the same count)


def global_g_params(
    cin: int, cout: int, ngf: int, n_down: int, n_blocks: int, batch: bool = False, head: bool = True
) -> int:
    bn = (lambda c: 2 * c) if batch else (lambda c: 0)  # instance norm without affine: no parameters
    total = conv_params(cin, ngf, 7) + bn(ngf)  # c7 stem
    c = ngf
    for _ in range(n_down):  # c3 stride 2, C -> 2C
        total += conv_params(c, 2 * c, 3) + bn(2 * c)
        c *= 2
    total += n_blocks * 2 * (conv_params(c, c, 3) + bn(c))  # two c3 + norm per ResNet block
    for _ in range(n_down):  # transposed c3, C -> C/2
        total += conv_params(c, c // 2, 3) + bn(c // 2)
        c //= 2
    return total + (conv_params(ngf, cout, 7) if head else 0)  # c7 head


def nlayer_d_params(cin: int, ndf: int = 64, n_layers: int = 3, batch: bool = False) -> int:
    bn = (lambda c: 2 * c) if batch else (lambda c: 0)
    total, nf = conv_params(cin, ndf, 4), ndf  # first conv: no norm
    for _ in range(n_layers):
        nf_prev, nf = nf, min(2 * nf, 512)
        total += conv_params(nf_prev, nf, 4) + bn(nf)
    return total + conv_params(nf, 1, 4)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_of_the_original_configurations():
    # EDN global G: 6 = pose + previous frame; ngf 64, 4 downsamplings, 9 blocks at 1024 channels
    edn_global = global_g_params(6, 3, 64, 4, 9)
    assert edn_global == 182_452_675  # the ref doc's "about 182 M with a 6-channel input"
    # local enhancer: global branch at ngf 64 without its c7 head, local branch at ngf 32
    local_branch = (
        conv_params(6, 32, 7)
        + conv_params(32, 64, 3)  # model1_1
        + 3 * 2 * conv_params(64, 64, 3)
        + conv_params(64, 32, 3)
        + conv_params(32, 3, 7)
    )  # model1_2
    edn_local = global_g_params(6, 3, 64, 4, 9, head=False) + local_branch
    assert local_branch == 272_675 and edn_local == 182_715_939  # "~183 M"
    # multiscale D on the 12-channel pair, ndf 64, 3 layers, 3 scales
    d_scale = nlayer_d_params(12, 64, 3)
    assert d_scale == 2_773_953 and 3 * d_scale == 8_321_859  # "about 2.8 M per scale"
    face_official = global_g_params(6, 3, 64, 3, 5)
    assert face_official == 26_724_291  # "about 27 M"
    face_lotayou = global_g_params(3, 3, 64, 2, 6, batch=True)
    assert face_lotayou == 7_845_123  # "about 7.9 M" (7.85 M)

    with torch.device("meta"):  # the real sizes, without allocating 1.5 GB
        assert n_params(pix2pixhd.GlobalGenerator(6, 3)) == edn_global
        assert n_params(pix2pixhd.LocalEnhancer(6, 3)) == edn_local
        d = pix2pixhd.MultiscaleDiscriminator(12)
        assert n_params(d) == 3 * d_scale and all(n_params(s) == d_scale for s in d.scales)
        assert n_params(pix2pixhd.official_face_generator()) == face_official
        assert n_params(pix2pixhd.lotayou_face_generator()) == face_lotayou
        face_d = pix2pixhd.NLayerDiscriminator(6, norm="batch")  # EDN face D
        assert n_params(face_d) == nlayer_d_params(6, batch=True)


# ----------------------------------------------------------------------------------------------------------
# published layouts: keys written in the published naming, plus a reference forward reading those keys


class Published:
    """A state dict in the published naming, filled with random tensors as its keys are declared."""

    def __init__(self, seed: int = 0) -> None:
        self.sd: dict[str, Tensor] = {}
        self.gen = torch.Generator().manual_seed(seed)

    def _rand(self, *shape: int, scale: float = 0.1) -> Tensor:
        return torch.randn(*shape, generator=self.gen) * scale

    def conv(self, key: str, cin: int, cout: int, k: int, transposed: bool = False) -> None:
        self.sd[f"{key}.weight"] = self._rand(*((cin, cout) if transposed else (cout, cin)), k, k)
        self.sd[f"{key}.bias"] = self._rand(cout)

    def norm(self, key: str, c: int, batch: bool) -> None:
        if batch:  # instance norm (affine=False) has no keys at all
            self.sd[f"{key}.weight"] = 1 + self._rand(c)
            self.sd[f"{key}.bias"] = self._rand(c)
            self.sd[f"{key}.running_mean"] = self._rand(c)
            self.sd[f"{key}.running_var"] = 0.5 + torch.rand(c, generator=self.gen)
            self.sd[f"{key}.num_batches_tracked"] = torch.tensor(7)

    def block(self, key: str, c: int, batch: bool) -> None:  # ResnetBlock: conv_block.1/.2/.5/.6
        for conv, norm in ((1, 2), (5, 6)):
            self.conv(f"{key}.conv_block.{conv}", c, c, 3)
            self.norm(f"{key}.conv_block.{norm}", c, batch)

    def global_g(
        self,
        p: str,
        cin: int,
        cout: int,
        ngf: int,
        n_down: int,
        n_blocks: int,
        batch: bool,
        head: bool = True,
    ) -> None:
        """pix2pixHD ``GlobalGenerator.model``: index = position in the flat layer list."""
        self.conv(f"{p}.1", cin, ngf, 7)  # 0 is the reflection pad, 3 the ReLU
        self.norm(f"{p}.2", ngf, batch)
        i, c = 4, ngf
        for _ in range(n_down):
            self.conv(f"{p}.{i}", c, 2 * c, 3)
            self.norm(f"{p}.{i + 1}", 2 * c, batch)
            i, c = i + 3, 2 * c
        for _ in range(n_blocks):
            self.block(f"{p}.{i}", c, batch)
            i += 1
        for _ in range(n_down):
            self.conv(f"{p}.{i}", c, c // 2, 3, transposed=True)
            self.norm(f"{p}.{i + 1}", c // 2, batch)
            i, c = i + 3, c // 2
        if head:
            self.conv(f"{p}.{i + 1}", ngf, cout, 7)  # i is the pad, i + 2 the tanh


def _conv(sd, key, h, stride=1, padding=0, reflect=0):
    if reflect:
        h = F.pad(h, (reflect,) * 4, mode="reflect")
    return F.conv2d(h, sd[f"{key}.weight"], sd[f"{key}.bias"], stride=stride, padding=padding)


def _norm(sd, key, h, batch):
    if not batch:
        return F.instance_norm(h)
    return F.batch_norm(
        h,
        sd[f"{key}.running_mean"],
        sd[f"{key}.running_var"],
        sd[f"{key}.weight"],
        sd[f"{key}.bias"],
        training=False,
    )


def _block(sd, key, h, batch):
    r = F.relu(_norm(sd, f"{key}.conv_block.2", _conv(sd, f"{key}.conv_block.1", h, reflect=1), batch))
    return h + _norm(sd, f"{key}.conv_block.6", _conv(sd, f"{key}.conv_block.5", r, reflect=1), batch)


def _up(sd, key, h):
    return F.conv_transpose2d(
        h, sd[f"{key}.weight"], sd[f"{key}.bias"], stride=2, padding=1, output_padding=1
    )


def reference_global_g(sd, p, x, n_down, n_blocks, batch, head=True):
    h = F.relu(_norm(sd, f"{p}.2", _conv(sd, f"{p}.1", x, reflect=3), batch))
    i = 4
    for _ in range(n_down):
        h = F.relu(_norm(sd, f"{p}.{i + 1}", _conv(sd, f"{p}.{i}", h, stride=2, padding=1), batch))
        i += 3
    for _ in range(n_blocks):
        h = _block(sd, f"{p}.{i}", h, batch)
        i += 1
    for _ in range(n_down):
        h = F.relu(_norm(sd, f"{p}.{i + 1}", _up(sd, f"{p}.{i}", h), batch))
        i += 3
    return torch.tanh(_conv(sd, f"{p}.{i + 1}", h, reflect=3)) if head else h


@pytest.mark.parametrize("batch", [False, True], ids=["instance-edn", "batch-lotayou-face"])
def test_published_global_generator_loads_strictly_and_matches_bitwise(batch):
    cin, n_down, n_blocks, ngf = (6, 2, 2, 8) if not batch else (3, 2, 3, 8)
    pub = Published()
    pub.global_g("model", cin, 3, ngf, n_down, n_blocks, batch)
    ours = pix2pixhd.GlobalGenerator(cin, 3, ngf, n_down, n_blocks, "batch" if batch else "instance").eval()
    ours.load_state_dict(pix2pixhd.convert_published_state_dict(pub.sd, "global"), strict=True)
    x = torch.randn(2, cin, 32, 32)
    with torch.no_grad():
        out, ref = ours(x), reference_global_g(pub.sd, "model", x, n_down, n_blocks, batch)
    assert out.shape == (2, 3, 32, 32) and out.std() > 0.05  # not saturated: a real comparison
    assert torch.equal(out, ref)


def test_published_lotayou_face_checkpoint_without_num_batches_tracked_loads():
    # PyTorch 0.4.0 (2018) checkpoints have no BatchNorm ``num_batches_tracked``; a DataParallel prefix too
    pub = Published()
    pub.global_g("model", 3, 3, 8, 2, 1, batch=True)
    sd = {f"module.{k}": v for k, v in pub.sd.items() if not k.endswith("num_batches_tracked")}
    ours = pix2pixhd.GlobalGenerator(3, 3, 8, 2, 1, "batch")
    ours.load_state_dict(pix2pixhd.convert_published_state_dict(sd, "face_lotayou"), strict=True)
    assert torch.equal(ours.model[1].weight, pub.sd["model.1.weight"])


def test_published_local_enhancer_loads_strictly_and_matches_bitwise():
    cin, ngf, n_down, n_blocks, n_local = 6, 4, 2, 1, 2
    pub = Published(1)
    pub.global_g("model", cin, 3, 2 * ngf, n_down, n_blocks, batch=False, head=False)
    pub.conv("model1_1.1", cin, ngf, 7)  # model1_1: pad, c7, norm, relu, c3 s2, norm, relu
    pub.conv("model1_1.4", ngf, 2 * ngf, 3)
    for b in range(n_local):  # model1_2: blocks, convT, norm, relu, pad, c7, tanh
        pub.block(f"model1_2.{b}", 2 * ngf, batch=False)
    pub.conv(f"model1_2.{n_local}", 2 * ngf, ngf, 3, transposed=True)
    pub.conv(f"model1_2.{n_local + 4}", ngf, 3, 7)

    ours = pix2pixhd.LocalEnhancer(cin, 3, ngf, n_local, n_down, n_blocks)
    ours.load_state_dict(pix2pixhd.convert_published_state_dict(pub.sd, "local"), strict=True)
    x = torch.randn(1, cin, 32, 32)
    sd = pub.sd
    coarse = reference_global_g(
        sd,
        "model",
        F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        n_down,
        n_blocks,
        batch=False,
        head=False,
    )
    h = F.relu(F.instance_norm(_conv(sd, "model1_1.1", x, reflect=3)))
    h = F.relu(F.instance_norm(_conv(sd, "model1_1.4", h, stride=2, padding=1))) + coarse
    for b in range(n_local):
        h = _block(sd, f"model1_2.{b}", h, batch=False)
    h = F.relu(F.instance_norm(_up(sd, f"model1_2.{n_local}", h)))
    ref = torch.tanh(_conv(sd, f"model1_2.{n_local + 4}", h, reflect=3))
    with torch.no_grad():
        out = ours(x)
    assert out.shape == (1, 3, 32, 32) and out.std() > 0.05
    assert torch.equal(out, ref)


def _published_nlayer(pub: Published, key, cin, ndf, n_layers, batch):
    """Group ``key(j)`` of a published NLayerDiscriminator; returns the reference forward."""
    nf, chans = ndf, [(cin, ndf)]
    for _ in range(n_layers):
        chans.append((nf, min(2 * nf, 512)))
        nf = min(2 * nf, 512)
    chans.append((nf, 1))
    for j, (ci, co) in enumerate(chans):
        pub.conv(key(j, 0), ci, co, 4)
        if 0 < j <= n_layers:
            pub.norm(key(j, 1), co, batch)

    def forward(x):
        feats = []
        for j in range(n_layers + 2):
            x = _conv(pub.sd, key(j, 0), x, stride=2 if j < n_layers else 1, padding=2)
            if 0 < j <= n_layers:
                x = _norm(pub.sd, key(j, 1), x, batch)
            if j <= n_layers:
                x = F.leaky_relu(x, 0.2)
            feats.append(x)
        return feats

    return forward


def test_published_multiscale_discriminator_loads_strictly_and_matches_bitwise():
    num_D, n_layers, ndf = 3, 3, 8
    pub = Published(2)
    refs = [
        _published_nlayer(pub, lambda j, n, i=i: f"scale{i}_layer{j}.{n}", 12, ndf, n_layers, False)
        for i in range(num_D)
    ]
    ours = pix2pixhd.MultiscaleDiscriminator(12, ndf, n_layers, num_D)
    ours.load_state_dict(
        pix2pixhd.convert_published_state_dict(pub.sd, "multiscale_d", num_D=num_D), strict=True
    )
    x = torch.randn(1, 12, 32, 32)
    with torch.no_grad():
        out = ours(x)
    h = x
    for k in range(num_D):  # the published forward runs scale num_D-1 on the full-resolution input
        expected = refs[num_D - 1 - k](h)
        assert len(out[k]) == n_layers + 2
        assert all(torch.equal(a, b) for a, b in zip(out[k], expected, strict=True))
        h = F.avg_pool2d(h, 3, 2, 1, count_include_pad=False)


def test_published_flat_discriminator_layouts_map_to_the_same_groups():
    # getIntermFeat=False stores each scale as one flat Sequential ``layerI.K``; same tensors, same modules
    n_layers, num_D = 3, 2
    pub = Published(3)
    for i in range(num_D):
        _published_nlayer(pub, lambda j, n, i=i: f"scale{i}_layer{j}.{n}", 12, 8, n_layers, False)
    flat_index = {0: 0, 1: 2, 2: 5, 3: 8, 4: 11}  # conv positions: [c, lrelu], 3 x [c, norm, lrelu], [c]
    flat = {}
    for key, v in pub.sd.items():
        scale_layer, n, param = key.split(".")
        i, j = (int(s) for s in scale_layer.removeprefix("scale").split("_layer"))
        flat[f"layer{i}.{flat_index[j] + int(n)}.{param}"] = v
    a = pix2pixhd.convert_published_state_dict(pub.sd, "multiscale_d", num_D=num_D, n_layers=n_layers)
    b = pix2pixhd.convert_published_state_dict(flat, "multiscale_d", num_D=num_D, n_layers=n_layers)
    assert a.keys() == b.keys() and all(a[k] is b[k] for k in a)
    pix2pixhd.MultiscaleDiscriminator(12, 8, n_layers, num_D, get_intermediate=False).load_state_dict(
        b, strict=True
    )


def test_published_official_face_discriminator_matches_bitwise():
    # EDN face D: NLayerDiscriminator(6, BatchNorm) as one flat Sequential named ``facemodel``
    n_layers, pub = 3, Published(4)
    positions = {0: 0, 1: 2, 2: 5, 3: 8, 4: 11}
    ref = _published_nlayer(pub, lambda j, n: f"facemodel.{positions[j] + n}", 6, 8, n_layers, True)
    ours = pix2pixhd.NLayerDiscriminator(6, 8, n_layers, norm="batch", get_intermediate=False).eval()
    ours.load_state_dict(
        pix2pixhd.convert_published_state_dict(pub.sd, "face_d", n_layers=n_layers), strict=True
    )
    x = torch.randn(2, 6, 32, 32)
    with torch.no_grad():
        (logits,) = ours(x)
    assert torch.equal(logits, ref(x)[-1])


def test_conversion_rejects_foreign_keys():
    with pytest.raises(KeyError, match="model2_1"):
        pix2pixhd.convert_published_state_dict({"model2_1.1.weight": torch.zeros(1)}, "local")
    with pytest.raises(KeyError, match="netD"):
        pix2pixhd.convert_published_state_dict(
            {"netD.scale0_layer0.0.weight": torch.zeros(1)}, "multiscale_d"
        )


def test_local_enhancer_takes_the_trained_global_stage():
    torch.manual_seed(0)
    g = pix2pixhd.GlobalGenerator(6, 3, ngf=8, n_downsampling=2, n_blocks=1)
    local = pix2pixhd.LocalEnhancer(6, 3, ngf=4, n_blocks_local=1, n_downsample_global=2, n_blocks_global=1)
    sd = pix2pixhd.local_enhancer_from_global_state_dict(
        g.state_dict(), n_downsample_global=2, n_blocks_global=1
    )
    missing, unexpected = local.load_state_dict(sd, strict=False)
    assert not unexpected and missing and all(k.startswith(("local_down.", "local_up.")) for k in missing)
    x = torch.randn(1, 6, 16, 16)
    with torch.no_grad():
        assert torch.equal(local.global_branch(x), g.model[:-3](x))


# ----------------------------------------------------------------------------------------------------------
# shapes, init


def test_generator_output_shape_and_tanh_range():
    torch.manual_seed(0)
    g = pix2pixhd.GlobalGenerator(6, 3, ngf=8, n_downsampling=3, n_blocks=1)
    out = g(torch.randn(2, 6, 32, 48) * 50)  # large inputs push the tanh towards its bounds
    assert out.shape == (2, 3, 32, 48)
    assert out.abs().max() <= 1 and out.abs().max() > 0.5
    assert isinstance(g.model[-1], nn.Tanh)


def test_multiscale_discriminator_features_and_sizes():
    ndf, n_layers = 8, 3
    d = pix2pixhd.MultiscaleDiscriminator(12, ndf, n_layers, num_D=3)
    out = d(torch.randn(1, 12, 64, 64))
    assert len(out) == 3 and all(len(scale) == n_layers + 2 for scale in out)
    size = 64
    for scale in out:  # k4 p2: stride 2 gives n//2 + 1, stride 1 gives n + 1
        expected, n = [], size
        for stride in (2, 2, 2, 1, 1):
            n = n // 2 + 1 if stride == 2 else n + 1
            expected.append(n)
        assert [f.shape[-1] for f in scale] == expected
        assert [f.shape[1] for f in scale] == [ndf, 2 * ndf, 4 * ndf, 8 * ndf, 1]
        size = (size + 1) // 2  # AvgPool2d(3, 2, 1)
    assert [s[-1].shape[-1] for s in out] == [11, 7, 5]


def test_local_enhancer_global_branch_sees_the_avg_pooled_input():
    torch.manual_seed(0)
    local = pix2pixhd.LocalEnhancer(6, 3, ngf=4, n_blocks_local=1, n_downsample_global=2, n_blocks_global=1)
    seen = []
    local.global_branch.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    x = torch.randn(1, 6, 32, 32)
    assert local(x).shape == (1, 3, 32, 32)
    (pooled,) = seen
    assert pooled.shape == (1, 6, 16, 16)
    assert torch.equal(pooled, F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False))
    # count_include_pad=False: the corner averages its 4 real pixels, not 9 with zeros
    torch.testing.assert_close(pooled[0, :, 0, 0], x[0, :, :2, :2].mean(dim=(-1, -2)))


def test_init_weights_is_the_original():
    torch.manual_seed(0)
    g = pix2pixhd.GlobalGenerator(3, 3, ngf=64, n_downsampling=1, n_blocks=1, norm="batch")
    g.model[1].bias.data.fill_(0.5)
    g.apply(pix2pixhd.init_weights)
    block = g.model[7].conv_block
    assert abs(block[1].weight.std().item() - 0.02) < 5e-4 and abs(block[1].weight.mean().item()) < 5e-4
    assert abs(g.model[8].weight.std().item() - 0.02) < 5e-4  # ConvTranspose2d too
    assert torch.equal(g.model[1].bias, torch.full((64,), 0.5))  # conv biases untouched, as in the original
    bn = g.model[2]
    assert 0.9 < bn.weight.min() and bn.weight.max() < 1.1 and bn.weight.std() > 0.01
    assert torch.equal(bn.bias, torch.zeros(64))


# ----------------------------------------------------------------------------------------------------------
# temporal recursion, discriminator pairs, face residuals


class Spy(nn.Module):
    """Records its inputs; returns ``10 * call number`` everywhere, so outputs can be told apart."""

    output_nc = 3

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.inputs.append(x.clone())
        return torch.full((x.shape[0], 3, *x.shape[2:]), 10.0 * len(self.inputs))


def test_temporal_recursion_feeds_previous_output_and_zeros_first():
    spy = Spy()
    poses = torch.rand(4, 2, 3, 8, 8)  # (T, B, C, H, W)
    outputs = pix2pixhd.generate_sequence(spy, poses)
    assert len(outputs) == 4 and len(spy.inputs) == 4
    for t, seen in enumerate(spy.inputs):
        assert seen.shape == (2, 6, 8, 8)
        assert torch.equal(seen[:, :3], poses[t])  # pose first
        assert torch.equal(seen[:, 3:], torch.zeros(2, 3, 8, 8) if t == 0 else outputs[t - 1])
    assert [o[0, 0, 0, 0].item() for o in outputs] == [10.0, 20.0, 30.0, 40.0]

    spy = Spy()
    first = torch.rand(2, 3, 8, 8)
    pix2pixhd.generate_sequence(spy, poses[:2], first_previous=first)
    assert torch.equal(spy.inputs[0][:, 3:], first)
    assert torch.equal(pix2pixhd.step(Spy(), poses[0], None), torch.full((2, 3, 8, 8), 10.0))


def test_temporal_pair_keeps_the_graph_through_the_previous_frame():
    torch.manual_seed(0)
    g = pix2pixhd.GlobalGenerator(6, 3, ngf=4, n_downsampling=1, n_blocks=1)
    y0 = pix2pixhd.step(g, torch.rand(1, 3, 8, 8))
    y1 = pix2pixhd.step(g, torch.rand(1, 3, 8, 8), y0)
    (grad,) = torch.autograd.grad(y1.sum(), y0)
    assert grad.abs().sum() > 0


def test_discriminator_pair_input_order():
    parts = [torch.full((1, 3, 4, 4), float(i)) for i in range(4)]  # pose_{t-1}, pose_t, frame_{t-1}, frame_t
    pair = pix2pixhd.discriminator_pair_input(*parts)
    assert pair.shape == (1, 12, 4, 4)
    assert [pair[0, c, 0, 0].item() for c in range(12)] == [i for i in range(4) for _ in range(3)]


def test_face_residuals():
    pose, crop = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    spy = Spy()
    # official: residual added, no clamp
    assert torch.equal(pix2pixhd.apply_face_residual(spy, crop, pose), crop + 10)
    assert torch.equal(spy.inputs[0], torch.cat([pose, crop], 1))  # pose crop first, as faceGen's input
    spy = Spy()
    pix2pixhd.apply_face_residual(spy, crop)  # Lotayou: the generated crop alone
    assert torch.equal(spy.inputs[0], crop)
    torch.manual_seed(0)
    g = pix2pixhd.lotayou_face_generator().eval()  # 7.8 M parameters: small enough to run once
    assert pix2pixhd.apply_face_residual(g, torch.rand(1, 3, 48, 48) * 2 - 1).shape == (1, 3, 48, 48)


# ----------------------------------------------------------------------------------------------------------
# losses


def _scales(logits: list[float], sizes=(5, 3, 2)) -> list[list[Tensor]]:
    # earlier features hold junk: only the last output of each scale may count
    return [[torch.full((1, 8, 4, 4), 99.0), torch.full((1, 1, s, s), v)] for v, s in zip(logits, sizes)]


def test_lsgan_targets_sum_over_scales():
    out = _scales([0.5, 2.0, 0.0])
    assert losses.lsgan_loss(out, True).item() == pytest.approx(0.25 + 1.0 + 1.0)  # (c - 1)^2
    assert losses.lsgan_loss(out, False).item() == pytest.approx(0.25 + 4.0 + 0.0)  # c^2
    assert losses.lsgan_loss(out[0], True).item() == pytest.approx(0.25)  # one discriminator's list


def test_discriminator_loss_is_half_real_plus_fake():
    real, fake = _scales([0.5, 1.0, 3.0]), _scales([0.0, -1.0, 0.5])
    expected = 0.5 * ((0.25 + 0.0 + 4.0) + (0.0 + 1.0 + 0.25))
    assert losses.discriminator_loss(real, fake).item() == pytest.approx(expected)


def test_feature_matching_weights():
    def outputs(shift: float, num_D: int, n_feats: int, requires_grad: bool = False):
        return [
            [
                torch.full((1, 2, 3, 3), shift * (j + 1) + i, requires_grad=requires_grad)
                for j in range(n_feats - 1)
            ]
            + [torch.full((1, 1, 2, 2), 100.0 * shift)]
            for i in range(num_D)
        ]

    # 3 scales, n_layers 3 (5 outputs): |diff| = 0.1 (j + 1) on the 4 matched features, 10 on the logits
    fake, real = outputs(0.1, 3, 5, requires_grad=True), outputs(0.0, 3, 5, requires_grad=True)
    loss = losses.feature_matching_loss(fake, real)
    # Σ_i Σ_j (1/3)·(4/4)·0.1(j+1)·10 = 3 · (1/3) · 1.0 · 10
    assert loss.item() == pytest.approx(10.0)
    loss.backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None  # the real features are detached
    # 2 scales, n_layers 2 (4 outputs): weights 1/2 and 4/3; |diff| = j + 1 on 3 features; lambda 1
    fake, real = outputs(1.0, 2, 4), outputs(0.0, 2, 4)
    assert losses.feature_matching_loss(fake, real, lambda_feat=1.0).item() == pytest.approx(
        2 * 0.5 * (4 / 3) * 6
    )


# ----------------------------------------------------------------------------------------------------------
# VGG19 perceptual loss

_VGG_CONVS = {
    0: (3, 64),
    2: (64, 64),
    5: (64, 128),
    7: (128, 128),
    10: (128, 256),
    12: (256, 256),
    14: (256, 256),
    16: (256, 256),
    19: (256, 512),
    21: (512, 512),
    23: (512, 512),
    25: (512, 512),
    28: (512, 512),
    30: (512, 512),
    32: (512, 512),
    34: (512, 512),
}  # torchvision vgg19.features
_VGG_POOLS_BEFORE = {5, 10, 19, 28}  # the max-pools at 4, 9, 18, 27 come just before these convs
_VGG_TAPS = {0: "relu1_1", 5: "relu2_1", 10: "relu3_1", 19: "relu4_1", 28: "relu5_1"}


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    gen = torch.Generator().manual_seed(0)
    sd = {}
    for i, (cin, cout) in _VGG_CONVS.items():
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * math.sqrt(2 / (9 * cin))
        sd[f"features.{i}.bias"] = torch.randn(cout, generator=gen) * 0.01
    sd["classifier.0.weight"] = torch.zeros(2, 2)  # a torchvision file has the classifier: ignored
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(sd, path)
    return path, sd


def _reference_vgg_taps(sd, x):
    taps = []
    for i in sorted(_VGG_CONVS):
        if i > 28:
            break
        if i in _VGG_POOLS_BEFORE:
            x = F.max_pool2d(x, 2, 2)
        x = F.relu(F.conv2d(x, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1))
        if i in _VGG_TAPS:
            taps.append(x)
    return taps


def test_vgg_loss_layer_weights(vgg_file):
    path, sd = vgg_file
    loss_fn = losses.VGGPerceptualLoss.from_file(path, weight=10.0)
    torch.manual_seed(0)
    x = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()  # [-1, 1], no ImageNet normalisation
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    taps_x, taps_y = _reference_vgg_taps(sd, x.detach()), _reference_vgg_taps(sd, y)
    per_layer = [(a - b).abs().mean() for a, b in zip(taps_x, taps_y)]
    assert [t.shape[-1] for t in taps_x] == [32, 16, 8, 4, 2]
    expected = 10.0 * sum(w * d for w, d in zip([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0], per_layer))
    loss = loss_fn(x, y)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0)
    # the weights matter: a different weighting of the same per-layer terms is far away
    assert abs(sum(per_layer).item() * 10 - loss.item()) > 1e-3 * loss.item()
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss_fn.parameters())
    assert not loss_fn.train().training  # frozen: stays in eval mode
    assert list(loss_fn.state_dict())[0] == "features.0.weight"  # torchvision naming


def test_vgg_loss_file_errors(tmp_path, vgg_file):
    missing = tmp_path / "nope.pth"
    with pytest.raises(InputError) as err:
        losses.VGGPerceptualLoss.from_file(missing)
    message = str(err.value)
    assert "\n" not in message and str(missing) in message
    assert "torchvision vgg19 state dict" in message and "perceptual loss weight to 0" in message

    _, sd = vgg_file
    wrong = tmp_path / "wrong.pth"
    torch.save({**sd, "features.0.weight": torch.zeros(64, 4, 3, 3)}, wrong)
    with pytest.raises(InputError, match="features.0.weight has shape") as err:
        losses.VGGPerceptualLoss.from_file(wrong)
    assert "\n" not in str(err.value) and str(wrong) in str(err.value)

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError) as err:
        losses.VGGPerceptualLoss.from_file(junk)
    assert "\n" not in str(err.value) and str(junk) in str(err.value)
