from magicpose.data.layout import FramePair, VideoFolder, list_videos

__all__ = ["FramePair", "VideoFolder", "list_videos"]
