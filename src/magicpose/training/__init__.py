"""Training: the shared accelerate loop (:mod:`.loop`) and what it runs: MagicPose's two stages
(:mod:`.magicpose_trainer`), Everybody Dance Now's pose2vid stages (:mod:`.pose2vid_trainer`) and face stage
(:mod:`.face_trainer`); the CPU demo's stage 0 (:mod:`.demo_stage0`) has a plain loop of its own. The commands
that start them are in :mod:`magicpose.commands` (``train``, ``train-pose2vid``, ``train-base``)."""
