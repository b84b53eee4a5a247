"""Segmentation masks as COCO run-length encodings (RLE), checked without decoding pixels.

A mask of ``h`` rows and ``w`` columns is read in column-major order (down each column, then
the next column, as COCO does) and stored as the lengths of alternating runs of 0s and 1s,
starting with 0s (a first run of length 0 when the mask starts with a 1). COCO's compressed
form writes those counts as a string: each count (after the third, as a difference to the one
two before it) in groups of 5 bits, least significant first, each group a character from
``chr(48)`` on with a continuation bit. :func:`encode_counts` and :func:`decode_counts` follow
``pycocotools`` (``maskApi.c``) exactly, so its ``mask.decode``/``area``/``toBbox`` read what
stackml stores and stackml reads what it writes.

Stored form: ``{"size": [h, w], "counts": "<compressed string>"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stackml.errors import InvalidInput

#: Largest side of a mask, in pixels.
MAX_SIDE = 16_384
#: Longest compressed counts string accepted.
MAX_COUNTS_CHARS = 1 << 19


def encode_counts(counts: Sequence[int]) -> str:
    """COCO's compressed string of run lengths."""
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def decode_counts(text: str) -> list[int]:
    """Run lengths of COCO's compressed string (``InvalidInput`` when malformed)."""
    counts: list[int] = []
    p, n = 0, len(text)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise InvalidInput("mask counts end in the middle of a number")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise InvalidInput(f"mask counts hold an invalid character {text[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_counts(rle: Mapping[str, Any]) -> list[int]:
    """The run lengths of an RLE whose counts are a compressed string or a list of ints."""
    raw = rle.get("counts")
    if isinstance(raw, str):
        if len(raw) > MAX_COUNTS_CHARS:
            raise InvalidInput(f"mask counts are limited to {MAX_COUNTS_CHARS} characters")
        return decode_counts(raw)
    if isinstance(raw, list) and all(type(c) is int for c in raw):
        return list(raw)
    raise InvalidInput("a mask's counts are a COCO RLE string or a list of run lengths")


def mask_area(counts: Sequence[int]) -> int:
    """Pixels set in the mask (the sum of the runs of 1s)."""
    return int(sum(counts[1::2]))


def check_rle(raw: object, bounds: tuple[float, float] | None) -> dict[str, Any]:
    """A mask's RLE, checked and in compressed form.

    ``bounds`` is the image's ``(width, height)`` when the task knows it: the mask must have
    exactly that size.

    Raises:
        InvalidInput: for a malformed RLE, a size that is not the image's, runs that do not
            cover the mask exactly, or an empty mask.
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput('a mask needs "rle": {"size": [height, width], "counts": ...}')
    size = raw.get("size")
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(type(v) is int and 0 < v <= MAX_SIDE for v in size)
    ):
        raise InvalidInput(f"a mask's size is [height, width] in 1..{MAX_SIDE}, not {size!r}")
    h, w = int(size[0]), int(size[1])
    if bounds is not None and (w, h) != (round(bounds[0]), round(bounds[1])):
        raise InvalidInput(
            f"a mask of {w}x{h} does not fit the image of {bounds[0]:g}x{bounds[1]:g}"
        )
    counts = rle_counts(raw)
    if any(c < 0 for c in counts) or sum(counts) != h * w:
        raise InvalidInput(f"a mask's runs must cover its {h}x{w} pixels exactly")
    if mask_area(counts) == 0:
        raise InvalidInput("a mask must cover at least one pixel")
    return {"size": [h, w], "counts": encode_counts(counts)}
