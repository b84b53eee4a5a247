"""Images of label tasks: validated by decoding, served with safe headers.

An upload is accepted only when Pillow decodes it completely as PNG, JPEG, GIF or WebP
within :data:`MAX_PIXELS` (a decompression bomb is refused); its media type is the decoded
format, never what the client claimed.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from stackml.errors import InvalidInput, PayloadTooLarge

#: Formats annotators' browsers display, by Pillow's name.
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
#: Largest image accepted, in pixels (about 8k x 8k).
MAX_PIXELS = 64_000_000
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True)
class ImageInfo:
    """What decoding an image told us."""

    width: int
    height: int
    media_type: str


def decode_image(data: bytes) -> ImageInfo:
    """Decode ``data`` fully; answer its size and media type.

    Raises:
        InvalidInput: when the bytes are not a complete PNG, JPEG, GIF or WebP image.
        PayloadTooLarge: when it has more than :data:`MAX_PIXELS` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PayloadTooLarge(f"images are limited to {MAX_PIXELS} pixels")
                image.load()  # decode every pixel: a truncated or forged file fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PayloadTooLarge(f"images are limited to {MAX_PIXELS} pixels") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InvalidInput(f"the upload is not a valid image: {error}") from error
    if fmt not in FORMATS:
        raise InvalidInput(
            f"unsupported image format {fmt or 'unknown'}: use PNG, JPEG, GIF or WebP"
        )
    return ImageInfo(int(width), int(height), FORMATS[fmt])


def sniff_image(data: bytes) -> str:
    """The media type of stored image bytes from their signature (``octet-stream`` if none)."""
    for magic, media in _MAGIC:
        if data.startswith(magic):
            return media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def safe_image_headers(task_id: int, media_type: str) -> dict[str, str]:
    """Headers for serving a task's image: no sniffing, no scripts, a fixed file name."""
    ext = media_type.rsplit("/", 1)[-1].replace("jpeg", "jpg")
    return {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="task-{task_id}.{ext}"',
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    }
