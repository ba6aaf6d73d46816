"""Photo commands. Uploading is two steps so that a batch is all-or-nothing and the slow part holds no lock:
`prepare` / `prepare_all` check and re-encode (CPU only: no database, no storage), `store` writes the files
and rows. `save` does both for one photo. Nothing here commits; a caller whose commit fails calls `discard`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.attachments import images
from cityloop.attachments.models import STAGE_LABELS, Attachment, Stage
from cityloop.attachments.storage import Storage
from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.core.errors import Forbidden, NotFound, TooLarge, ValidationFailed

log = logging.getLogger(__name__)

# Photos per upload request. A phone's picker sends up to 9; each photo is decoded three times, so the cap
# bounds the work one request can cause.
MAX_PER_UPLOAD = 10
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_NAME_LEN = 200  # Attachment.original_name
# A capture time this far ahead of the server clock is a wrongly set camera, not a hint.
_CLOCK_SLACK = timedelta(days=1)

# Who may add photos of which stage, by permission (ROLE_PERMISSIONS decides who holds it): the reporter
# side adds 上报 photos, the collector those of its 核实 and 核查 tasks, the handling unit 处置前/处置后.
STAGE_PERMISSIONS: dict[Stage, frozenset[Permission]] = {
    Stage.REPORT: frozenset({Permission.CASE_CREATE, Permission.CASE_READ_ALL}),
    Stage.VERIFY: frozenset({Permission.CASE_VERIFY}),
    Stage.CHECK: frozenset({Permission.CASE_CHECK}),
    Stage.BEFORE: frozenset({Permission.CASE_COMPLETE}),
    Stage.AFTER: frozenset({Permission.CASE_COMPLETE}),
}
_UNIT_STAGES = frozenset({Stage.BEFORE, Stage.AFTER})


@dataclass(frozen=True)
class Prepared:
    """A checked photo, ready to store."""

    original_name: str
    info: images.ImageInfo
    clean: bytes
    mime: str
    thumb: bytes
    sha256: str


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the form field it came in (for error messages), its name and its content."""

    field: str
    filename: str
    stream: BinaryIO


def require_stage(principal: Principal, stage: Stage, *, case_unit_id: int | None) -> None:
    """Raises Forbidden (naming field "stage") unless `principal` may add `stage` photos to a case that is
    now at `case_unit_id`. Whether the principal may see the case at all is the caller's check."""
    allowed = bool(STAGE_PERMISSIONS[stage] & principal.permissions)
    if stage in _UNIT_STAGES:
        # Handling photos come from the unit the case is at now, not from one it was at before 回退.
        allowed = allowed and case_unit_id is not None and case_unit_id in principal.unit_ids
    if not allowed:
        raise Forbidden(f"you may not add {STAGE_LABELS[stage]} ({stage.value}) photos to this case",
                        field="stage")


def prepare(data: bytes, filename: str, *, max_bytes: int, max_pixels: int, field: str = "file") -> Prepared:
    """Check one upload and make its clean copy and thumbnail.

    Raises TooLarge (over `max_bytes`) and ValidationFailed (empty, not an image, too many pixels), each
    naming `field`.
    """
    if len(data) > max_bytes:
        raise TooLarge(f"{_display(filename)} is larger than the {_mb(max_bytes)} MB limit", field=field)
    if not data:
        raise ValidationFailed(f"{_display(filename)} is empty", field=field, code="empty_file")
    info = images.inspect(data, max_pixels, field=field)
    clean, mime = images.clean_copy(data, field=field)
    thumb = images.thumbnail(data, field=field)
    return Prepared(original_name=_clean_name(filename), info=info, clean=clean, mime=mime, thumb=thumb,
                    sha256=hashlib.sha256(clean).hexdigest())


def prepare_all(uploads: Sequence[Upload], *, max_bytes: int, max_pixels: int,
                field: str = "files") -> list[Prepared]:
    """Check every upload before any is stored, so one bad photo leaves nothing behind.

    Each stream is read only up to `max_bytes` + 1 bytes: an oversized file is refused without being loaded.
    Raises ValidationFailed naming `field` when there is no file or more than MAX_PER_UPLOAD, and what
    `prepare` raises, naming the offending upload's own field.
    """
    if not uploads:
        raise ValidationFailed(f"send one or more photos in the form field {field}", field=field, code="no_file")
    if len(uploads) > MAX_PER_UPLOAD:
        raise ValidationFailed(f"at most {MAX_PER_UPLOAD} photos per upload", field=field, code="too_many_files")
    return [prepare(u.stream.read(max_bytes + 1), u.filename, max_bytes=max_bytes, max_pixels=max_pixels,
                    field=u.field) for u in uploads]


def store(session: Session, storage: Storage, photos: Sequence[Prepared], *, stage: Stage, case_id: int | None,
          report_id: int | None, uploaded_by: int | None, now: datetime) -> list[Attachment]:
    """Write the files and add the rows, all or none: on any failure the files written so far are deleted."""
    written: list[str] = []
    attachments: list[Attachment] = []
    try:
        for photo in photos:
            public_id = secrets.token_urlsafe(16)  # 22 characters, 128 random bits
            key = _key(public_id, _EXTENSIONS[photo.mime])
            thumb_key = _key(public_id, "thumb.jpg")
            storage.put(key, photo.clean, photo.mime)
            written.append(key)
            storage.put(thumb_key, photo.thumb, images.THUMB_MIME)
            written.append(thumb_key)
            taken_at = photo.info.taken_at
            attachment = Attachment(
                public_id=public_id, case_id=case_id, report_id=report_id, stage=stage, mime=photo.mime,
                size=len(photo.clean), width=photo.info.width, height=photo.info.height, sha256=photo.sha256,
                storage_key=key, thumb_key=thumb_key, original_name=photo.original_name,
                gps_lat=photo.info.gps_lat, gps_lon=photo.info.gps_lon,
                taken_at=taken_at if taken_at is None or taken_at <= now + _CLOCK_SLACK else None,
                uploaded_by=uploaded_by, created_at=now)
            session.add(attachment)
            attachments.append(attachment)
        # flush: the caller answers with the ids, and a failed insert must surface here, while the files
        # can still be deleted.
        session.flush()
    except BaseException:
        _delete_quietly(storage, written)
        raise
    return attachments


def save(session: Session, storage: Storage, *, data: bytes, filename: str, stage: Stage, case_id: int | None,
         report_id: int | None, uploaded_by: int | None, now: datetime, max_bytes: int, max_pixels: int,
         field: str = "file") -> Attachment:
    """Check and store one photo (see prepare and store)."""
    photo = prepare(data, filename, max_bytes=max_bytes, max_pixels=max_pixels, field=field)
    [attachment] = store(session, storage, [photo], stage=stage, case_id=case_id, report_id=report_id,
                         uploaded_by=uploaded_by, now=now)
    return attachment


def discard(storage: Storage, attachments: Sequence[Attachment]) -> None:
    """Delete the files of attachments whose rows were never committed."""
    _delete_quietly(storage, [k for a in attachments for k in (a.storage_key, a.thumb_key)])


def attach_to_case(session: Session, report_id: int, case_id: int) -> int:
    """Give a report's photos the case the report became part of; returns how many.

    Photos that already belong to a case keep it: a photo never moves from one case to another.
    """
    result = session.execute(sa.update(Attachment)
                             .where(Attachment.report_id == report_id, Attachment.case_id.is_(None))
                             .values(case_id=case_id))
    return int(getattr(result, "rowcount", 0) or 0)


def list_for_case(session: Session, case_id: int) -> list[Attachment]:
    """A case's photos in upload order. Access to the case is the caller's check."""
    return list(session.scalars(sa.select(Attachment).where(Attachment.case_id == case_id)
                                .order_by(Attachment.id)))


def get(session: Session, attachment_id: int) -> Attachment:
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(f"attachment {attachment_id} not found", field="attachment_id")
    return attachment


def get_public(session: Session, public_id: str) -> Attachment:
    attachment = session.scalar(sa.select(Attachment).where(Attachment.public_id == public_id))
    if attachment is None:
        raise NotFound("photo not found", field="public_id")
    return attachment


def read(storage: Storage, attachment: Attachment, size: Literal["display", "thumb"]) -> tuple[bytes, str]:
    """The stored bytes and their MIME type. Raises NotFound when the file is missing from storage."""
    if size == "thumb":
        return storage.get(attachment.thumb_key), images.THUMB_MIME
    return storage.get(attachment.storage_key), attachment.mime


def _key(public_id: str, suffix: str) -> str:
    # Two directory levels keep any one directory small (a city stores millions of photos).
    return f"{public_id[:2]}/{public_id[2:4]}/{public_id}.{suffix}"


def _delete_quietly(storage: Storage, keys: Sequence[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # cleanup after a failure: report the first error, log the rest
            log.warning("could not delete stored file %s", key, exc_info=True)


def _clean_name(filename: str) -> str:
    # Browsers may send a full client path ("C:\\fakepath\\a.jpg"); keep the base name, printable, bounded.
    base = re.split(r"[\\/]", filename)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:_NAME_LEN]


def _display(filename: str) -> str:
    return _clean_name(filename) or "the file"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g}"
