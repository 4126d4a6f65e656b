"""The EDN models as diffusers models: configuration, save/load round trip, the temporal input."""

import pytest
import torch

from magicpose.models import pix2pixhd
from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator

SMALL = dict(ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1)


@pytest.mark.parametrize("architecture", ["local", "global"])
def test_save_and_load_give_the_same_frames(tmp_path, architecture):
    torch.manual_seed(0)
    model = Pose2VidGenerator(architecture=architecture, **SMALL).eval()
    pose, previous = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32) * 2 - 1
    model.save_pretrained(tmp_path)
    loaded = Pose2VidGenerator.from_pretrained(tmp_path).eval()
    assert loaded.config.architecture == architecture and loaded.config.ngf == 4
    with torch.no_grad():
        assert torch.equal(loaded(pose, previous), model(pose, previous))
    assert model.size_multiple == (8 if architecture == "local" else 4)


def test_first_frame_sees_zeros_and_the_network_sees_pose_then_previous():
    torch.manual_seed(0)
    model = Pose2VidGenerator(architecture="global", **SMALL).eval()
    pose, previous = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(pose), model.net(torch.cat([pose, torch.zeros_like(pose)], 1)))
        assert torch.equal(model(pose, previous), model.net(torch.cat([pose, previous], 1)))


def test_face_enhancers_are_the_published_networks(tmp_path):
    official, lotayou = FaceEnhancer(variant="official"), FaceEnhancer(variant="lotayou").eval()
    assert sum(p.numel() for p in official.parameters()) == 26_724_291
    assert sum(p.numel() for p in lotayou.parameters()) == 7_845_123
    crop, pose = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(official(crop, pose), crop + official.net(torch.cat([pose, crop], 1)))
        # Lotayou's ignores the pose; "running" uses the BatchNorm running statistics (eval mode)
        assert torch.equal(lotayou(crop, pose, norm_statistics="running"), crop + lotayou.net(crop))
    lotayou.save_pretrained(tmp_path)
    assert FaceEnhancer.from_pretrained(tmp_path).config.variant == "lotayou"


def test_crop_statistics_normalise_each_crop_by_itself_and_leave_the_model_unchanged():
    """Neither original calls .eval() before its test loop, so its BatchNorm face models normalise each crop
    with the crop's own statistics: the default. The running statistics stay untouched, and the mode too."""
    torch.manual_seed(0)
    face = FaceEnhancer(variant="lotayou", ngf=4, n_blocks=1).eval()
    with torch.no_grad():
        for bn in (m for m in face.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    before = {k: v.clone() for k, v in face.state_dict().items()}
    crops = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        one_by_one = torch.cat([face(crops[i : i + 1]) for i in range(2)])
        train_mode = face.train()(crops[:1])  # what the originals ran: training-mode BatchNorm on one crop
        face.eval()
        running = face(crops, norm_statistics="running")
    assert torch.equal(one_by_one[:1], train_mode)
    assert not torch.allclose(one_by_one, running, atol=1e-3)
    face.load_state_dict(before)  # (train mode updated the running statistics above; the default must not)
    with torch.no_grad():
        face(crops[:1])
    assert all(torch.equal(v, before[k]) for k, v in face.state_dict().items()) and not face.training
    with pytest.raises(ValueError, match="norm_statistics must be"):
        face(crops, norm_statistics="batch")


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="architecture"):
        Pose2VidGenerator(architecture="huge")
    with pytest.raises(ValueError, match="variant"):
        FaceEnhancer(variant="fancy")
    assert isinstance(Pose2VidGenerator(**SMALL).net, pix2pixhd.LocalEnhancer)
