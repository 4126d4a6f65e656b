from magicpose.eval.metrics import foreground_iou, foreground_mask, psnr, ssim

__all__ = ["foreground_iou", "foreground_mask", "psnr", "ssim"]
