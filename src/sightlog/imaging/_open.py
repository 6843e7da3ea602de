"""Opening untrusted image bytes: format allow-list, pixel limit, and error translation.

Everything Pillow raises for hostile or broken input (``UnidentifiedImageError``, ``OSError`` for truncated
data, ``SyntaxError``/``ValueError``/``struct.error`` from plugin parsers, the decompression-bomb error and
warning) leaves this module as ``UnsupportedMediaType`` (415) or ``PayloadTooLarge`` (413).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import BinaryIO, TypeAlias

from PIL import Image, ImageFile

from sightlog.errors import PayloadTooLarge, SightlogError, UnsupportedMediaType
from sightlog.imaging.formats import allowed_formats, describe_supported, name_of

ImageSource: TypeAlias = str | os.PathLike[str] | bytes | BinaryIO

_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def not_an_image() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"The file is not an image Sightlog can read (supported: {describe_supported()})."
    )


def too_many_pixels(pixels: int, max_pixels: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The image has {pixels} pixels; the limit is {max_pixels}.")


def _from_pillow_bomb(exc: Exception, max_pixels: int) -> PayloadTooLarge:
    # Pillow's own guard (Image.MAX_IMAGE_PIXELS, process-wide) fired before we could look at the size.
    # Its message is the only place the pixel count is available.
    match = _BOMB_PIXELS.search(str(exc))
    if match is None:
        return PayloadTooLarge(f"The image has more pixels than the limit of {max_pixels}.")
    pixels = int(match.group(1))
    if pixels > max_pixels:
        return too_many_pixels(pixels, max_pixels)
    # Only reachable when max_pixels is configured above Pillow's process-wide ceiling.
    return PayloadTooLarge(
        f"The image has {pixels} pixels, more than the imaging library's safety limit "
        f"(Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS})."
    )


@contextmanager
def _translated(max_pixels: int, pillow_format: str | None) -> Iterator[None]:
    """Map any Pillow failure to 413/415; ``pillow_format`` is None while the file is still unidentified."""
    try:
        yield
    except SightlogError:
        raise
    except MemoryError:
        raise  # the server is short of memory; not the client's fault
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning only arrives as an exception when warnings are turned into errors.
        raise _from_pillow_bomb(exc, max_pixels) from exc
    except Exception as exc:
        # Deliberately broad: Pillow's plugins raise a zoo of types on malformed input, and for bytes
        # from a client every one of them means "we cannot read this image".
        if pillow_format is None:
            raise not_an_image() from exc
        raise UnsupportedMediaType(
            f"The {name_of(pillow_format).display} image is truncated or corrupt and could not be decoded."
        ) from exc


def _stream(source: ImageSource) -> AbstractContextManager[BinaryIO]:
    if isinstance(source, bytes | bytearray | memoryview):
        return nullcontext(io.BytesIO(source))
    if isinstance(source, str | os.PathLike):
        # Opened here, outside the translation, so a missing stored file is a server error, not a 415.
        # Passing a file object (not the path) also keeps Pillow from guessing by extension.
        return open(source, "rb")
    return nullcontext(source)


@contextmanager
def open_image(source: ImageSource, *, max_pixels: int) -> Iterator[ImageFile.ImageFile]:
    """Identify the image and check its size; pixel data is NOT decoded yet (call ``load()``).

    Pillow errors raised inside the caller's ``with`` block are translated too, so keep only Pillow work
    on the opened image there.
    """
    with _stream(source) as fp:
        with _translated(max_pixels, None):
            img = Image.open(fp, formats=allowed_formats())
        with img:
            # Belt and braces: a plugin may report another format than the one it was asked for.
            if img.format not in allowed_formats() and img.format != "MPO":
                raise not_an_image()
            width, height = img.size
            if width * height > max_pixels:
                raise too_many_pixels(width * height, max_pixels)
            with _translated(max_pixels, img.format):
                yield img
