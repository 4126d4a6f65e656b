"""The feature networks behind LPIPS, FID, FID-VID and FVD, loaded from local files only.

None of their weights can ship with the package, and none is ever downloaded: each comes from a flag or
from one folder named by ``--eval-weights`` / ``$MAGICPOSE_EVAL_WEIGHTS`` holding the files under their
usual names. A metric whose network is not found is skipped with the reason, never computed otherwise.

========  ============================  ==========================================================
metric    file (usual name)             what loads it
========  ============================  ==========================================================
FID       pt_inception-2015-12-05-      pytorch-fid's state dict (the papers' FID; ``--fid-protocol
          6726825d.pth                  pytorch-fid``, the default), magicpose.eval.inception_fid
FID       inception-2015-12-05.pt       TorchScript Inception-v3 of clean-fid / StyleGAN2-ADA (DisCo's
                                        metric_center.py; ``--fid-protocol clean-fid``), called as they
                                        call it: ``net.layers((x - 128) / 128)``
FID-VID   resnet-50-kinetics.pth        3D ResNet-50 of Hara et al. (magicpose.eval.resnet3d), pooled
                                        2048-d features
FVD       i3d_torchscript.pt            TorchScript I3D of StyleGAN-V (the FVD file most code uses),
                                        ``net(x, rescale=False, resize=False, return_features=True)``
LPIPS     vgg16-397923af.pth + vgg.pth  torchvision's VGG16 weights and the lpips package's v0.1 linear
                                        heads (magicpose.eval.lpips; no torchvision needed)
AED       reid_embedder.pt              a person re-ID TorchScript embedder, ``net(x)`` on 256 x 128
                                        ImageNet-normalised frames (magicpose.eval.identity)
========  ============================  ==========================================================

A TorchScript file is accepted for the 3D ResNet-50 too (called ``net(x)``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from magicpose.errors import InputError, first_line
from magicpose.eval.torchscript import is_torchscript
from magicpose.files import check_regular_file

WEIGHTS_ENV = "MAGICPOSE_EVAL_WEIGHTS"


@dataclass(frozen=True)
class NetworkFile:
    key: str  # the argument name: --pytorch-fid-inception, --inception, --resnet3d, --i3d, --lpips-vgg, ...
    filename: str
    what: str


NETWORK_FILES = {
    "pytorch_fid_inception": NetworkFile(
        "pytorch-fid-inception",
        "pt_inception-2015-12-05-6726825d.pth",
        "pytorch-fid's FID Inception-v3 weights",
    ),
    "inception": NetworkFile(
        "inception", "inception-2015-12-05.pt", "clean-fid's FID Inception-v3 TorchScript"
    ),
    "resnet3d": NetworkFile("resnet3d", "resnet-50-kinetics.pth", "the Kinetics 3D ResNet-50 of FID-VID"),
    "i3d": NetworkFile("i3d", "i3d_torchscript.pt", "the FVD I3D TorchScript"),
    "lpips_vgg": NetworkFile("lpips-vgg", "vgg16-397923af.pth", "torchvision's VGG16 weights for LPIPS"),
    "lpips_heads": NetworkFile("lpips-heads", "vgg.pth", "the LPIPS v0.1 linear heads for VGG"),
    "identity_embedder": NetworkFile(
        "identity-embedder", "reid_embedder.pt", "a person re-identification TorchScript embedder for AED"
    ),
}
# Which file FID needs under each --fid-protocol.
FID_NETWORK = {"pytorch-fid": "pytorch_fid_inception", "clean-fid": "inception"}


def metric_networks(fid_protocol: str = "pytorch-fid") -> dict[str, tuple[str, ...]]:
    """Which files each network-based metric needs."""
    return {
        "lpips": ("lpips_vgg", "lpips_heads"),
        "fid": (FID_NETWORK[fid_protocol],),
        "fid_vid": ("resnet3d",),
        "fvd": ("i3d",),
        "aed": ("identity_embedder",),
    }


FeatureFn = Callable[[torch.Tensor], torch.Tensor]


def find_network_files(paths: dict[str, str | None], weights_dir: str | None = None) -> dict[str, Path]:
    """Each network's file: the path given for it, else its usual name in ``weights_dir`` (or $WEIGHTS_ENV).

    A path that was given but does not exist is an error; a file merely absent from the folder is not.
    """
    folder = weights_dir or os.environ.get(WEIGHTS_ENV)
    if folder and not Path(folder).is_dir():
        source = "--eval-weights" if weights_dir else f"${WEIGHTS_ENV}"
        raise InputError(
            f"{source} '{folder}' is not a folder: name the folder holding the evaluation weights"
        )
    found = {}
    for name, spec in NETWORK_FILES.items():
        given = paths.get(name)
        if given:
            check_regular_file(given, f"--{spec.key}", f"pass the path of {spec.what} ({spec.filename})")
            if not Path(given).is_file():
                raise InputError(
                    f"--{spec.key} '{given}' does not exist: pass the path of {spec.what} ({spec.filename})"
                )
            found[name] = Path(given)
        elif folder and (Path(folder) / spec.filename).is_file():
            found[name] = Path(folder) / spec.filename
    return found


def missing_reason(metric: str, files: dict[str, Path], fid_protocol: str = "pytorch-fid") -> str | None:
    """Why ``metric`` cannot be computed with ``files`` (None when it can)."""
    absent = [NETWORK_FILES[n] for n in metric_networks(fid_protocol)[metric] if n not in files]
    if not absent:
        return None
    need = " and ".join(f"{s.what} (--{s.key} {s.filename})" for s in absent)
    reason = f"needs {need}; or name a folder holding the files with --eval-weights or ${WEIGHTS_ENV}"
    other = next(p for p in FID_NETWORK if p != fid_protocol)
    if metric == "fid" and FID_NETWORK[other] in files:
        reason += f" (or pass --fid-protocol {other} to use {files[FID_NETWORK[other]].name}, which is there)"
    return reason


def _load_script(path: Path, spec: NetworkFile, device) -> torch.jit.ScriptModule:
    if not is_torchscript(path):
        hint = ""
        if spec.key == "inception":  # the other FID file is a plain state dict
            hint = (
                " (pytorch-fid's pt_inception-2015-12-05-6726825d.pth goes to --pytorch-fid-inception, with "
                "--fid-protocol pytorch-fid)"
            )
        raise InputError(
            f"'{path}' is not a TorchScript file: --{spec.key} takes {spec.what} ({spec.filename}){hint}"
        )
    try:
        with (
            warnings.catch_warnings()
        ):  # torch 2.13 deprecates TorchScript, yet these files exist only as such
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, OSError) as exc:
        raise InputError(f"cannot load '{path}' as {spec.what} ({first_line(exc)})") from exc


def load_feature_network(name: str, path: Path, device="cpu") -> FeatureFn:
    """A function from the prepared input batch (magicpose.eval.preprocess) to (B, D) features."""
    spec = NETWORK_FILES[name]
    if name == "pytorch_fid_inception":
        from magicpose.eval.inception_fid import load_fid_inception

        inception = load_fid_inception(path).to(device)
        return lambda x: inception(x)
    if name == "inception":
        net = _load_script(path, spec, device)
        if not hasattr(net, "layers"):
            raise InputError(
                f"'{path}' has no 'layers' module: --inception takes {spec.what} ({spec.filename}, "
                "StyleGAN2-ADA's file that clean-fid uses)"
            )
        layers = net.layers
        # As clean-fid and DisCo call it on frames already resized to 299 (resize_inside=False): scaled by
        # (x - 128) / 128 and run through its layers, bypassing the file's own resampling.
        return lambda x: layers((x - 128) / 128).reshape(len(x), -1)
    if name == "i3d":
        net = _load_script(path, spec, device)
        return lambda x: net(x, rescale=False, resize=False, return_features=True).reshape(len(x), -1)
    if name == "identity_embedder":
        net = _load_script(path, spec, device)
        return lambda x: net(x).reshape(len(x), -1)
    if name == "resnet3d":
        if is_torchscript(path):
            net = _load_script(path, spec, device)
        else:
            from magicpose.eval.resnet3d import load_resnet3d

            net = load_resnet3d(path).to(device)
        return lambda x: net(x).reshape(len(x), -1)
    raise ValueError(f"unknown feature network {name!r}")


def load_lpips(files: dict[str, Path], device="cpu") -> torch.nn.Module:
    from magicpose.eval.lpips import load_lpips_vgg

    return load_lpips_vgg(files["lpips_vgg"], files["lpips_heads"]).to(device)


def load_networks(
    metrics,
    files: dict[str, Path],
    device="cpu",
    pose_backend: str = "dwpose",
    pose_weights=None,
    fid_protocol: str = "pytorch-fid",
) -> tuple[dict, dict[str, str]]:
    """The networks ``metrics`` need, as keyword arguments of ``evaluate_videos`` (features, lpips,
    pose_extractor), and the reason of each metric that cannot be computed from ``files``; FID's network
    is the one of ``fid_protocol``."""
    networks: dict = {"features": {}, "lpips": None, "pose_extractor": None, "identity": None}
    skipped: dict[str, str] = {}
    needs = metric_networks(fid_protocol)
    for metric in metrics:
        network = "lpips" if metric.startswith("lpips") else metric
        if network not in needs:
            continue
        reason = missing_reason(network, files, fid_protocol)
        if reason:
            skipped[metric] = reason
        elif network == "lpips":
            networks["lpips"] = networks["lpips"] or load_lpips(files, device)
        elif network == "aed":
            networks["identity"] = load_feature_network(
                "identity_embedder", files["identity_embedder"], device
            )
        elif network not in networks["features"]:
            file_key = needs[network][0]
            networks["features"][network] = load_feature_network(file_key, files[file_key], device)
    keypoint_metrics = [m for m in metrics if m in ("akd", "mkr")]
    if keypoint_metrics:
        from magicpose.pose.extract import MissingWeightsError, load_extractor

        try:
            networks["pose_extractor"] = load_extractor(pose_backend, pose_weights, device=device)
        except MissingWeightsError as err:
            reason = str(err).replace("--weights-dir DIR", "--pose-weights DIR")  # evaluate's flag
            skipped.update(dict.fromkeys(keypoint_metrics, reason))
    return networks, skipped
