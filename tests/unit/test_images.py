"""Photo checks by content, EXIF hints, and the EXIF-free clean copy."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from cityloop.attachments import images
from cityloop.core.errors import ValidationFailed

MAX_PIXELS = 50_000_000
GPS_IFD, EXIF_IFD = 0x8825, 0x8769


def picture(size: tuple[int, int] = (40, 20), mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: the orientation of a copy is visible in its pixels."""
    img = Image.new(mode, size, "blue")
    img.paste(Image.new(mode, (size[0] // 2, size[1]), "red"), (0, 0))
    return img


def exif(*, orientation: int | None = None, gps: dict[int, Any] | None = None,
         taken: dict[int, Any] | None = None) -> Image.Exif:
    ex = Image.Exif()
    ex[0x010F] = "PhoneMaker"  # Make: device data that must not survive either
    if orientation is not None:
        ex[0x0112] = orientation
    if gps is not None:
        ex.get_ifd(GPS_IFD).update(gps)
    if taken is not None:
        ex.get_ifd(EXIF_IFD).update(taken)
    return ex


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def dms(degrees: int, minutes: int, seconds: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    return IFDRational(degrees), IFDRational(minutes), IFDRational(round(seconds * 100), 100)


HANGZHOU_GPS = {1: "N", 2: dms(30, 15, 32.4), 3: "E", 4: dms(120, 9, 7.5)}


def refused(data: bytes, field: str = "files.0") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        images.inspect(data, MAX_PIXELS, field=field)
    assert caught.value.field == field
    return caught.value


# ---- the type is decided by the bytes ----

def test_text_file_named_jpg_is_refused() -> None:
    err = refused(b"this is not a photo, whatever its name says\n" * 10)
    assert err.code == "unsupported_image"


def test_gif_is_refused_even_though_pillow_reads_it() -> None:
    assert refused(encode(picture(), "GIF")).code == "unsupported_image"


def test_empty_and_truncated_headers_are_refused() -> None:
    assert refused(b"").code == "unsupported_image"
    assert refused(encode(picture(), "PNG")[:20]).code == "unsupported_image"


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_jpeg_png_and_webp_are_accepted(fmt: str, mime: str) -> None:
    info = images.inspect(encode(picture((64, 48)), fmt), MAX_PIXELS)
    assert (info.mime, info.width, info.height) == (mime, 64, 48)
    assert info.gps_lat is None
    assert info.taken_at is None


def test_multi_picture_jpeg_from_a_phone_is_a_jpeg() -> None:
    data = encode(picture(), "MPO", save_all=True, append_images=[picture((10, 10))])
    assert images.inspect(data, MAX_PIXELS).mime == "image/jpeg"
    clean, mime = images.clean_copy(data)
    assert mime == "image/jpeg"
    assert Image.open(io.BytesIO(clean)).format == "JPEG"


def test_too_many_pixels_are_refused_before_decoding() -> None:
    with pytest.raises(ValidationFailed) as caught:
        images.inspect(encode(picture((20, 20)), "PNG"), 399, field="file")
    assert (caught.value.code, caught.value.field) == ("image_too_large", "file")
    assert images.inspect(encode(picture((20, 20)), "PNG"), 400).width == 20


def _png(width: int, height: int) -> bytes:
    """A PNG declaring any size, with next to no pixel data behind it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (9_000, 9_000)],
                         ids=["beyond-pillow-limit", "beyond-our-limit"])
def test_decompression_bomb_is_refused(width: int, height: int) -> None:
    # Billions of pixels declared by a file of a few dozen bytes: refused from the header alone.
    assert refused(_png(width, height)).code == "image_too_large"


def test_damaged_pixel_data_is_refused_before_anything_is_stored() -> None:
    damaged = encode(picture((400, 300)), "JPEG")[:-600]
    assert images.inspect(damaged, MAX_PIXELS).width == 400  # the header is intact …
    for step in (images.clean_copy, images.thumbnail):  # … but decoding fails, still before storing
        with pytest.raises(ValidationFailed) as caught:
            step(damaged, field="files.1")
        assert (caught.value.code, caught.value.field) == ("unsupported_image", "files.1")


# ---- EXIF hints ----

def test_gps_position_is_read_as_decimal_wgs84() -> None:
    info = images.inspect(encode(picture(), "JPEG", exif=exif(gps=HANGZHOU_GPS)), MAX_PIXELS)
    assert info.gps_lat == pytest.approx(30 + 15 / 60 + 32.4 / 3600)
    assert info.gps_lon == pytest.approx(120 + 9 / 60 + 7.5 / 3600)


def test_southern_and_western_hemispheres_are_negative() -> None:
    gps = {1: b"S\x00", 2: dms(33, 52, 4.0), 3: "W", 4: dms(151, 12, 36.0), 0x12: "WGS-84"}
    info = images.inspect(encode(picture(), "JPEG", exif=exif(gps=gps)), MAX_PIXELS)
    assert info.gps_lat == pytest.approx(-(33 + 52 / 60 + 4 / 3600))
    assert info.gps_lon == pytest.approx(-(151 + 12 / 60 + 36 / 3600))


@pytest.mark.parametrize("gps", [
    {**HANGZHOU_GPS, 1: "X"},                                              # not a hemisphere
    {**HANGZHOU_GPS, 2: dms(30, 75, 0)},                                   # 75 minutes
    {**HANGZHOU_GPS, 2: dms(95, 0, 0)},                                    # beyond the pole
    {**HANGZHOU_GPS, 4: (IFDRational(120), IFDRational(1, 0), IFDRational(0))},  # zero denominator
    {1: "N", 2: dms(0, 0, 0), 3: "E", 4: dms(0, 0, 0)},                    # no fix written as 0,0
    {**HANGZHOU_GPS, 0x09: "V"},                                           # the receiver said "void"
    {**HANGZHOU_GPS, 0x12: "TOKYO"},                                       # another datum: not guessed
    {**HANGZHOU_GPS, 2: (*dms(30, 15, 0), IFDRational(1))},               # four numbers
], ids=["ref", "minutes", "pole", "zero-denominator", "null-island", "void", "datum", "four-parts"])
def test_nonsense_gps_is_ignored(gps: dict[int, Any]) -> None:
    info = images.inspect(encode(picture(), "JPEG", exif=exif(gps=gps)), MAX_PIXELS)
    assert (info.gps_lat, info.gps_lon) == (None, None)


def test_capture_time_without_offset_is_taken_as_city_time() -> None:
    info = images.inspect(encode(picture(), "JPEG", exif=exif(taken={0x9003: "2026:11:25 10:30:00"})), MAX_PIXELS)
    assert info.taken_at == datetime(2026, 11, 25, 2, 30, tzinfo=UTC)


def test_capture_time_uses_the_recorded_offset() -> None:
    taken = {0x9003: "2026:11:25 10:30:00", 0x9011: "+09:00"}
    info = images.inspect(encode(picture(), "JPEG", exif=exif(taken=taken)), MAX_PIXELS)
    assert info.taken_at == datetime(2026, 11, 25, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", ["0000:00:00 00:00:00", "    :  :     :  :  ", "1970:01:01 00:00:00", "yesterday"])
def test_unset_camera_clock_gives_no_capture_time(value: str) -> None:
    info = images.inspect(encode(picture(), "JPEG", exif=exif(taken={0x9003: value})), MAX_PIXELS)
    assert info.taken_at is None


def test_turned_photo_reports_its_upright_size() -> None:
    info = images.inspect(encode(picture((40, 20)), "JPEG", exif=exif(orientation=6)), MAX_PIXELS)
    assert (info.width, info.height) == (20, 40)


# ---- the clean copy ----

def _assert_no_metadata(clean: bytes) -> None:
    img = Image.open(io.BytesIO(clean))
    assert not img.getexif()
    assert not {"exif", "xmp", "comment"} & img.info.keys()
    for marker in (b"Exif", b"EXIF", b"eXIf", b"PhoneMaker", b"xmpmeta", b"secret"):
        assert marker not in clean


def test_clean_jpeg_has_no_exif_xmp_or_comment() -> None:
    data = encode(picture(), "JPEG", exif=exif(gps=HANGZHOU_GPS, taken={0x9003: "2026:11:25 10:30:00"}),
                  comment=b"secret", xmp=b"<x:xmpmeta>secret</x:xmpmeta>")
    assert b"Exif" in data  # the fixture really carries them
    assert b"secret" in data
    clean, mime = images.clean_copy(data)
    assert mime == "image/jpeg"
    _assert_no_metadata(clean)


def test_clean_png_has_no_exif_or_text() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "secret")
    data = encode(picture(mode="RGBA"), "PNG", exif=exif(gps=HANGZHOU_GPS), pnginfo=text)
    clean, mime = images.clean_copy(data)
    assert mime == "image/png"
    _assert_no_metadata(clean)
    assert Image.open(io.BytesIO(clean)).mode == "RGBA"  # transparency kept


def test_clean_webp_has_no_exif_or_xmp() -> None:
    data = encode(picture(), "WEBP", exif=exif(gps=HANGZHOU_GPS), xmp=b"<x:xmpmeta>secret</x:xmpmeta>")
    clean, mime = images.clean_copy(data)
    assert mime == "image/webp"
    _assert_no_metadata(clean)


def _rgb(img: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    r, g, b = img.convert("RGB").getpixel(xy)  # type: ignore[misc]
    return int(r), int(g), int(b)


def _is_red(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] > 200 and rgb[2] < 60


@pytest.mark.parametrize(("orientation", "size", "red_at"), [
    (1, (40, 20), (2, 10)),   # as stored: red on the left
    (3, (40, 20), (37, 10)),  # turned 180°: red on the right
    (6, (20, 40), (10, 2)),   # turned 90° clockwise to display: the left edge becomes the top
    (8, (20, 40), (10, 37)),  # 90° the other way: the left edge becomes the bottom
])
def test_clean_copy_is_turned_upright(orientation: int, size: tuple[int, int], red_at: tuple[int, int]) -> None:
    clean, _ = images.clean_copy(encode(picture((40, 20)), "JPEG", exif=exif(orientation=orientation), quality=95))
    img = Image.open(io.BytesIO(clean))
    assert img.size == size
    assert _is_red(_rgb(img, red_at))


# ---- thumbnails ----

def test_thumbnail_is_a_jpeg_at_most_320_on_the_long_side() -> None:
    thumb = Image.open(io.BytesIO(images.thumbnail(encode(picture((1200, 600)), "JPEG"))))
    assert (thumb.format, thumb.size) == ("JPEG", (320, 160))


def test_thumbnail_is_upright_and_flattens_transparency() -> None:
    turned = Image.open(io.BytesIO(images.thumbnail(encode(picture((800, 400)), "JPEG", exif=exif(orientation=6)))))
    assert turned.size == (160, 320)
    transparent = encode(Image.new("RGBA", (100, 50), (0, 0, 0, 0)), "PNG")
    flat = Image.open(io.BytesIO(images.thumbnail(transparent)))
    assert (flat.format, flat.mode, flat.size) == ("JPEG", "RGB", (100, 50))  # never enlarged
    assert min(_rgb(flat, (50, 25))) > 240  # white, not black


def test_small_image_is_not_enlarged() -> None:
    assert Image.open(io.BytesIO(images.thumbnail(encode(picture((64, 48)), "WEBP")))).size == (64, 48)
