"""Photo checks and clean copies, with Pillow only.

The type is decided by the bytes, never by the file name or the declared content type. What is kept is a
re-encoded copy without EXIF, XMP or comments: a phone photo's EXIF holds the exact place and time it was
taken and often the device's serial number, and the copy may be shown to the public. The GPS position and
capture time are read first, as a hint for the case's location.

Decoding is bounded by `inspect`'s pixel limit, so callers run `inspect` before `clean_copy` and `thumbnail`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from PIL import Image, ImageOps

from cityloop.core.clock import BUSINESS_TZ
from cityloop.core.errors import ValidationFailed

# Pillow format name → MIME type. A phone's multi-picture JPEG (MPO: the photo plus a depth map or preview)
# is a JPEG file, and browsers show its first picture.
MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_SAVE_AS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
# Only these decoders ever see uploaded bytes: fewer parsers, fewer attack surfaces.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP")

THUMB_PX = 320
THUMB_MIME = "image/jpeg"
JPEG_QUALITY = 90
THUMB_QUALITY = 80

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_GPS_STATUS = 0x09
_GPS_MAP_DATUM = 0x12


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: JPEG, MPO, PNG or WEBP
    mime: str
    width: int   # as displayed, i.e. after the EXIF orientation is applied
    height: int
    gps_lat: float | None = None  # WGS-84, from EXIF: a hint, as the phone saw it
    gps_lon: float | None = None
    taken_at: datetime | None = None  # aware UTC


def _unsupported(field: str, message: str = "not a JPEG, PNG or WebP image") -> ValidationFailed:
    return ValidationFailed(message, field=field, code="unsupported_image")


def _damaged(field: str) -> ValidationFailed:
    return _unsupported(field, "the image file is damaged or incomplete")


def _open(data: bytes, field: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except Image.DecompressionBombError:
        raise ValidationFailed("the image has too many pixels", field=field, code="image_too_large") from None
    except Exception:  # UnidentifiedImageError, or a header Pillow chokes on: either way not a usable image
        raise _unsupported(field) from None


def inspect(data: bytes, max_pixels: int, *, field: str = "file") -> ImageInfo:
    """Check that `data` is a JPEG, PNG or WebP image of at most `max_pixels`, and read its location hints.

    Raises ValidationFailed naming `field`: code "unsupported_image" for anything else (a text file named
    .jpg, a GIF, a damaged file), "image_too_large" for a decompression bomb.
    """
    img = _open(data, field)
    fmt = img.format or ""
    if fmt not in MIME:
        raise _unsupported(field)
    # Checked from the header, before any pixel is decoded: a small file may declare a huge canvas.
    if img.width * img.height > max_pixels:
        raise ValidationFailed(f"the image has {img.width}×{img.height} pixels; at most {max_pixels} are accepted",
                               field=field, code="image_too_large")
    try:
        img.verify()
    except Exception:  # Pillow raises many types for corrupt data (SyntaxError, OSError, struct.error …)
        raise _damaged(field) from None
    # verify() leaves the image unusable; the EXIF needs a fresh one.
    img = _open(data, field)
    exif = _exif(img)
    width, height = img.size
    if exif.get(_ORIENTATION) in (5, 6, 7, 8):  # the four orientations that turn the picture by 90°
        width, height = height, width
    lat, lon = _gps(exif)
    return ImageInfo(format=fmt, mime=MIME[fmt], width=width, height=height, gps_lat=lat,
                     gps_lon=lon, taken_at=_taken_at(exif))


def clean_copy(data: bytes, *, field: str = "file") -> tuple[bytes, str]:
    """The upright picture re-encoded in its own format, without EXIF, XMP or comments; and its MIME type.

    Only the first frame of an animation or multi-picture file is kept. The colour profile stays (it is not
    personal and the colours depend on it), and so does a PNG's transparency.
    """
    img = _open(data, field)
    if (img.format or "") not in MIME:
        raise _unsupported(field)
    fmt = _SAVE_AS[img.format or ""]
    try:
        upright = ImageOps.exif_transpose(img)
        # Pillow copies metadata from `info` when saving (a JPEG comment, for one): keep only what is allowed.
        keep = {k: upright.info[k] for k in ("icc_profile", "transparency") if k in upright.info}
        upright.info = {}
        options: dict[str, Any] = {}
        if fmt == "JPEG":
            upright = upright if upright.mode in ("L", "RGB") else upright.convert("RGB")
            options = {"quality": JPEG_QUALITY}
            keep.pop("transparency", None)
        elif fmt == "WEBP":
            options = {"quality": JPEG_QUALITY}
            keep.pop("transparency", None)
        out = io.BytesIO()
        upright.save(out, fmt, **options, **keep)
    except Exception:  # a file whose header passed but whose pixel data is truncated or corrupt
        raise _damaged(field) from None
    return out.getvalue(), MIME[fmt]


def thumbnail(data: bytes, *, field: str = "file") -> bytes:
    """An upright JPEG at most THUMB_PX on its long side; transparency becomes white."""
    img = _open(data, field)
    try:
        # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale directly: far cheaper than decoding 12 MP to shrink it.
        img.draft("RGB", (THUMB_PX, THUMB_PX))
        small = ImageOps.exif_transpose(img)
        small.thumbnail((THUMB_PX, THUMB_PX))
        small = _flatten(small)
        out = io.BytesIO()
        small.save(out, "JPEG", quality=THUMB_QUALITY)
    except Exception:  # as in clean_copy: corrupt pixel data
        raise _damaged(field) from None
    return out.getvalue()


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img if img.mode in ("L", "RGB") else img.convert("RGB")


# ---- EXIF hints: a malformed or absurd value is ignored, never a reason to refuse the photo ----

def _exif(img: Image.Image) -> dict[int, Any]:
    try:
        exif = img.getexif()
        merged: dict[int, Any] = dict(exif)
        merged[_EXIF_IFD] = dict(exif.get_ifd(_EXIF_IFD))
        merged[_GPS_IFD] = dict(exif.get_ifd(_GPS_IFD))
    except Exception:  # a broken EXIF block: the photo is still good, it just has no hints
        return {}
    return merged


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ").upper() if value is not None else ""


def _gps(exif: Mapping[int, Any]) -> tuple[float | None, float | None]:
    gps = exif.get(_GPS_IFD) or {}
    if not isinstance(gps, Mapping):
        return None, None
    if _text(gps.get(_GPS_STATUS)) == "V":  # "void": the receiver had no fix
        return None, None
    # Phones record WGS-84. Another datum (a rare survey camera) would need a conversion we do not guess.
    datum = _text(gps.get(_GPS_MAP_DATUM)).replace("-", "").replace(" ", "")
    if datum not in ("", "WGS84"):
        return None, None
    lat = _coordinate(gps.get(_GPS_LAT), _text(gps.get(_GPS_LAT_REF)), "N", "S", 90)
    lon = _coordinate(gps.get(_GPS_LON), _text(gps.get(_GPS_LON_REF)), "E", "W", 180)
    if lat is None or lon is None or (lat == 0 and lon == 0):  # 0,0 is what some cameras write without a fix
        return None, None
    return lat, lon


def _coordinate(value: Any, ref: str, positive: str, negative: str, limit: float) -> float | None:
    """Degrees, minutes, seconds (each an EXIF rational) and a hemisphere letter → signed decimal degrees."""
    if ref not in ("", positive, negative):
        return None
    try:
        parts = [float(p) for p in (value if isinstance(value, tuple | list) else (value,))]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None
    if any(p >= 60 for p in parts[1:]):
        return None
    degrees = sum(p / 60**i for i, p in enumerate(parts))
    if degrees > limit:
        return None
    return round(-degrees if ref == negative else degrees, 7)


def _taken_at(exif: Mapping[int, Any]) -> datetime | None:
    sub = exif.get(_EXIF_IFD) or {}
    if not isinstance(sub, Mapping):
        return None
    try:
        local = datetime.strptime(_text(sub.get(_DATETIME_ORIGINAL)), "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007 - zone below
    except ValueError:  # absent, blank ("    :  :  ") or a camera's invented format
        return None
    if not 1990 <= local.year <= 2100:  # an unset camera clock (1970, 0000) tells nothing
        return None
    # A camera's clock is local wall time. The offset is recorded by newer phones; without it, assume the
    # photo was taken here, in the city.
    zone = _offset(_text(sub.get(_OFFSET_TIME_ORIGINAL))) or BUSINESS_TZ
    return local.replace(tzinfo=zone).astimezone(UTC)


def _offset(text: str) -> timezone | None:
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes >= 60:
        return None
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
