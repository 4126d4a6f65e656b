from magicpose.pipelines.pipeline_magicpose import MagicPosePipeline, MagicPosePipelineOutput
from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline, Pose2VidPipelineOutput

__all__ = ["MagicPosePipeline", "MagicPosePipelineOutput", "Pose2VidPipeline", "Pose2VidPipelineOutput"]
