"""Image handling for uploads: format sniffing and validation, thumbnails, and annotated previews.

All functions take untrusted bytes (a path, ``bytes`` or a binary file object) and raise only
``UnsupportedMediaType`` (415) or ``PayloadTooLarge`` (413) for bad input, never a Pillow exception.
They share no mutable state and are safe to call from several threads at once.
"""

from sightlog.imaging._open import ImageSource
from sightlog.imaging.annotate import draw_annotations
from sightlog.imaging.formats import supported_formats
from sightlog.imaging.info import ImageInfo, inspect_image
from sightlog.imaging.thumbnail import make_thumbnail

__all__ = [
    "ImageInfo",
    "ImageSource",
    "draw_annotations",
    "inspect_image",
    "make_thumbnail",
    "supported_formats",
]
