"""magicpose: pose retargeting with MagicPose on Stable Diffusion 1.5, diffusers-native."""

from magicpose.lazy_exports import lazy_getattr

__version__ = "0.1.0"  # the package's only version string: pyproject.toml reads it from here
__all__ = [
    "FaceEnhancer",
    "MagicPosePipeline",
    "MagicPosePipelineOutput",
    "Pose2VidGenerator",
    "Pose2VidPipeline",
    "Pose2VidPipelineOutput",
    "__version__",
]
# Lazy, so that `import magicpose.pose` or `magicpose.video` does not load torch and diffusers. diffusers
# also finds the saved pipelines' custom components here (model_index.json names the library "magicpose").
_LAZY = {
    "MagicPosePipeline": "magicpose.pipelines.pipeline_magicpose",
    "MagicPosePipelineOutput": "magicpose.pipelines.pipeline_magicpose",
    "Pose2VidPipeline": "magicpose.pipelines.pipeline_pose2vid",
    "Pose2VidPipelineOutput": "magicpose.pipelines.pipeline_pose2vid",
    "Pose2VidGenerator": "magicpose.models.pose2vid",
    "FaceEnhancer": "magicpose.models.pose2vid",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
