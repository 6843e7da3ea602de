"""Turn whatever a pipeline holds (a path, bytes, a PIL image, a numpy array) into bytes to upload.

Paths and bytes are sent unchanged: the server sniffs the format and keeps the original. PIL images and
numpy arrays are encoded as JPEG, or as PNG when they have an alpha channel (JPEG would lose it) or a mode
JPEG cannot hold (16-bit, float). Pillow and numpy are imported only when such an image is given.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, TypeAlias, TypeGuard

if TYPE_CHECKING:
    from PIL import Image as PILImage


class ArrayLike(Protocol):
    """A numpy array, described structurally so that numpy stays optional."""

    @property
    def __array_interface__(self) -> dict[str, Any]: ...


ImageSource: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | PILImage.Image | ArrayLike"
)
"""Anything :func:`encode_image` accepts."""
ChannelOrder = Literal["bgr", "rgb"]

JPEG_QUALITY = 90
_JPEG_MODES = {"L", "RGB", "CMYK"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


@dataclass(frozen=True, slots=True)
class EncodedImage:
    filename: str
    content: bytes
    content_type: str


def encode_image(
    image: ImageSource, *, channels: ChannelOrder = "bgr", quality: int = JPEG_QUALITY
) -> EncodedImage:
    """Bytes ready for ``POST /vision-events/upload``.

    ``channels`` tells the channel order of 3- and 4-channel numpy arrays: ``"bgr"`` (the default) is what
    OpenCV, ``inference`` and ``supervision`` hand around; use ``"rgb"`` for arrays from PIL or imageio.
    """
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        return EncodedImage(path.name, path.read_bytes(), "application/octet-stream")
    if isinstance(image, bytes | bytearray | memoryview):
        return EncodedImage("image", bytes(image), "application/octet-stream")
    if hasattr(image, "read"):
        name = os.path.basename(str(getattr(image, "name", ""))) or "image"
        return EncodedImage(name, image.read(), "application/octet-stream")
    if _is_numpy(image):
        return _encode_pil(_array_to_pil(image, channels), quality)
    if _is_pil(image):
        return _encode_pil(image, quality)
    raise TypeError(
        f"cannot upload a {type(image).__name__}: "
        "give a path, bytes, a file object, a PIL image or a numpy array"
    )


def _is_numpy(value: object) -> TypeGuard[ArrayLike]:
    # Looked up by module name so that numpy is never imported just to rule it out.
    return type(value).__module__ == "numpy" and hasattr(value, "__array_interface__")


def _is_pil(value: object) -> TypeGuard[PILImage.Image]:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save")


def _array_to_pil(array: Any, channels: ChannelOrder) -> PILImage.Image:
    import numpy as np
    from PIL import Image

    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(
            f"numpy images must be uint8 (or bool), not {array.dtype}; scale and cast them first"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array), "L")
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"numpy images must be HxW, HxWx3 or HxWx4, not shape {array.shape}")
    if channels == "bgr":
        # BGR → RGB and BGRA → RGBA: swap the first and third channels, keep alpha in place.
        order = [2, 1, 0] + ([3] if array.shape[2] == 4 else [])
        array = array[:, :, order]
    return Image.fromarray(np.ascontiguousarray(array), "RGB" if array.shape[2] == 3 else "RGBA")


def _encode_pil(image: PILImage.Image, quality: int) -> EncodedImage:
    out = io.BytesIO()
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if image.mode == "P" and not has_alpha:
        image = image.convert("RGB")
    if has_alpha or image.mode not in _JPEG_MODES:
        image.save(out, "PNG")
        return EncodedImage("image.png", out.getvalue(), "image/png")
    image.save(out, "JPEG", quality=quality)
    return EncodedImage("image.jpg", out.getvalue(), "image/jpeg")
