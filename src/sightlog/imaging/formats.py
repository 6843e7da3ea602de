"""Which image formats Sightlog accepts, and how each is named on the wire.

The allow-list is passed to ``Image.open(..., formats=...)`` so that Pillow never even tries the risky or
irrelevant plugins (EPS would shell out to Ghostscript; PDF, ICO, PSD... are not photos).
"""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple

from PIL import Image, features


class FormatName(NamedTuple):
    short: str  # lower-case name stored with the upload ("jpeg")
    mime: str
    display: str  # how error messages spell it ("WebP")


# Keyed by Pillow's format identifier. MPO is what Pillow reports for camera JPEGs carrying extra
# (multi-picture) frames; to a client it is just a JPEG.
_NAMES: dict[str, FormatName] = {
    "JPEG": FormatName("jpeg", "image/jpeg", "JPEG"),
    "MPO": FormatName("jpeg", "image/jpeg", "JPEG"),
    "PNG": FormatName("png", "image/png", "PNG"),
    "WEBP": FormatName("webp", "image/webp", "WebP"),
    "GIF": FormatName("gif", "image/gif", "GIF"),
    "TIFF": FormatName("tiff", "image/tiff", "TIFF"),
    "BMP": FormatName("bmp", "image/bmp", "BMP"),
    "AVIF": FormatName("avif", "image/avif", "AVIF"),
    "HEIF": FormatName("heic", "image/heic", "HEIC"),
}

# Always decodable by any Pillow build Sightlog supports. (JPEG also covers MPO: Pillow's JPEG opener
# returns an MPO image by itself when it sees the extra frames.)
_CORE = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")


def _native_avif() -> bool:
    # Pillow >= 11.2 ships its own AVIF plugin, but only works when built with libavif. Older Pillows do
    # not know the feature name at all, and features.check() would warn about that.
    return "avif" in features.modules and bool(features.check_module("avif"))


def _register_optional_plugins() -> tuple[bool, bool]:
    """Register the optional AVIF/HEIF plugins; return (avif_ok, heif_ok)."""
    avif_ok = _native_avif()
    if not avif_ok:
        # Only as a fallback: importing pillow_avif re-registers "AVIF" and would replace Pillow's newer
        # native decoder with the plugin's own (possibly older) libavif.
        with contextlib.suppress(ImportError):
            import pillow_avif  # noqa: F401  (registers itself on import)

            avif_ok = True
    heif_ok = False
    with contextlib.suppress(ImportError):
        from pillow_heif import register_heif_opener

        register_heif_opener()
        heif_ok = True
    return avif_ok, heif_ok


@functools.cache
def allowed_formats() -> tuple[str, ...]:
    """Pillow format identifiers to pass to ``Image.open`` (computed once, then read-only)."""
    avif_ok, heif_ok = _register_optional_plugins()
    Image.init()  # make sure every wanted plugin is in Image.OPEN before we filter on it
    wanted = [*_CORE, *(["AVIF"] if avif_ok else []), *(["HEIF"] if heif_ok else [])]
    return tuple(name for name in wanted if name in Image.OPEN)


def supported_formats() -> tuple[str, ...]:
    """Short names of the formats this installation accepts, e.g. ``("jpeg", "png", ...)``."""
    return tuple(_NAMES[name].short for name in allowed_formats())


def describe_supported() -> str:
    return ", ".join(_NAMES[name].display for name in allowed_formats())


def name_of(pillow_format: str | None) -> FormatName:
    """Wire name of an image Pillow opened with our allow-list (so the format is always known)."""
    return _NAMES.get(pillow_format or "", FormatName("unknown", "application/octet-stream", "image"))
