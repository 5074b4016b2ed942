"""The image contract: decoding a photo as training stored it, and how an app
must prepare a camera frame for a model (`contract`).

Every image that training, export or `predict.py` reads goes through
`load_image`: open with Pillow, let the JPEG decoder shrink a large photo
while decoding (`Image.draft`: a 12 MP phone photo is decoded at 1/2 to 1/8
scale, never at full size when a smaller one suffices), apply the EXIF
orientation (`ImageOps.exif_transpose`: phones store portrait photos as
rotated landscape pixels plus a tag), convert to 8-bit RGB (`to_rgb`), and
resize to the stored size keeping the aspect ratio. Only the small array is
kept.

Resize modes (`--resize`; `DEFAULT_RESIZE`, `squash`, for new runs, chosen
on val; `LEGACY_RESIZE`, `crop`, for runs from before the setting was
recorded):

- `crop`: shorter side to the stored size, then a centre crop:
  no distortion; the borders of the longer side are cut.
- `pad`: longer side to the stored size, the rest padded with the ImageNet
  mean colour (zero after the model's normalisation): the whole image, no
  distortion, smaller object.
- `squash` (default): both sides to the stored size: the whole image,
  distorted (what MediaPipe's `ImageClassifier` does with a camera frame).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

RESIZE_MODES = ("crop", "pad", "squash")
# What a new run stores photos with (`--resize`; chosen on val, README
# "Your own photos"), and what a run from before the setting was recorded
# used.
DEFAULT_RESIZE = "squash"
LEGACY_RESIZE = "crop"
# The ImageNet mean as pixels: `pad` borders normalise to zero in the model.
PAD_COLOUR = (124, 116, 104)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow image as RGB: greyscale expanded, alpha composited on white,
    16-bit / float greyscale scaled to 8 bits."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    elif img.mode.startswith("I;16") or img.mode in ("I", "F"):
        array = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        array = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(array)
    return img.convert("RGB")


def check_resize_mode(resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise ValueError(f"--resize={resize} is not one of {', '.join(RESIZE_MODES)}.")


def _draft_size(size: tuple[int, int], target: tuple[int, int], resize: str):
    """The smallest decode size (w, h) from which `resize` can still make `target`."""
    width, height = size
    target_h, target_w = target
    if resize == "squash":
        return target_w, target_h
    fit = max if resize == "crop" else min
    scale = fit(target_w / width, target_h / height)
    return max(1, int(width * scale)), max(1, int(height * scale))


def resize_image(
    img: Image.Image, size: tuple[int, int], resize: str = DEFAULT_RESIZE
) -> Image.Image:
    """Resizes an RGB image to `size` (height, width) with a `RESIZE_MODES` mode."""
    height, width = size
    if img.size == (width, height):
        return img
    method = Image.Resampling.BILINEAR  # antialiased when shrinking
    if resize == "crop":
        return ImageOps.fit(img, (width, height), method=method)
    if resize == "pad":
        return ImageOps.pad(img, (width, height), method=method, color=PAD_COLOUR)
    return img.resize((width, height), method)


def load_image(
    path: str, size: tuple[int, int] | None = None, resize: str = DEFAULT_RESIZE
) -> np.ndarray:
    """Decodes an image file to (H, W, 3) uint8 RGB, at `size` if given.

    Args:
        path: any file Pillow reads (JPEG, PNG, WebP, BMP, TIFF, ...).
        size: stored size `(height, width)`; None keeps the file's own size.
        resize: how the aspect ratio is handled, one of `RESIZE_MODES`.

    Raises:
        OSError, ValueError, ...: whatever Pillow raises for a missing, corrupt
        or truncated file (callers turn it into their own message).
    """
    with Image.open(path) as img:
        if size is not None and img.format == "JPEG":
            img.draft(None, _draft_size(img.size, size, resize))
        img.load()  # a truncated file fails here, not later
        img = to_rgb(ImageOps.exif_transpose(img))
    if size is not None:
        img = resize_image(img, size, resize)
    return np.asarray(img, dtype=np.uint8)


def decoded_size(path: str) -> tuple[int, int] | None:
    """An image file's (height, width) once EXIF-rotated, read from its header
    only; None when the file is not a readable image."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)  # EXIF Orientation
    except Exception:  # noqa: BLE001 -- decoding later says what is wrong
        return None
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def contract(resize: str) -> str:
    """What an app must do with a camera frame for a model stored with
    `resize`: one sentence, for the model card and the exported files' metadata."""
    return {
        "squash": (
            "pass the whole frame: it is stretched to the input size (what "
            "MediaPipe's ImageClassifier does by default)"
        ),
        "crop": (
            "pass the centred square of the frame: in MediaPipe, set "
            "ImageProcessingOptions.region_of_interest to the centred square "
            "(for a w x h frame with w > h: left = (w - h) / 2w, right = 1 - "
            "left, top = 0, bottom = 1); elsewhere crop it before resizing"
        ),
        "pad": (
            "letterbox the frame to a square before passing it: pad the "
            f"shorter side on both ends with RGB {tuple(PAD_COLOUR)}, "
            "then resize"
        ),
    }[resize]
