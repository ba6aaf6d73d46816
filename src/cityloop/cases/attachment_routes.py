"""Case photos over HTTP. They live here, not in attachments/, because only the cases domain decides who may
see a case, and a photo is visible exactly to those who may see its case."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from sqlalchemy.orm import Session

from cityloop.attachments import service as attachment_service
from cityloop.attachments.models import Attachment, Stage
from cityloop.attachments.schemas import AttachmentOut
from cityloop.attachments.storage import storage_for
from cityloop.auth.deps import PrincipalDep
from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.cases import access
from cityloop.core.errors import NotFound
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["attachments"])

_IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
          "description": "the photo (EXIF-free copy) or its JPEG thumbnail"}}


@router.post("/cases/{case_id}/attachments", response_model=list[AttachmentOut], status_code=201)
def upload_attachments(
    case_id: int,
    # The principal and the case come from the read session, declared before the write one, so that the
    # write transaction (on SQLite: the database's one write lock) starts only after the photos are decoded.
    principal: PrincipalDep,
    reads: ReadSessionDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile] | None, File(description="one or more JPEG, PNG or WebP photos")] = None,
    file: Annotated[UploadFile | None, File(description="a single photo (alternative to `files`)")] = None,
    stage: Annotated[Stage, Form(description="report, verify, check (collectors) or before, after (the unit)")]
    = Stage.REPORT,
) -> list[AttachmentOut]:
    """Add photos to a case, all or none: one bad file and nothing is stored (413 too large, 422 not an image)."""
    case = access.get_case_for(reads, principal, case_id)
    attachment_service.require_stage(principal, stage, case_unit_id=case.unit_id)
    uploads = [attachment_service.Upload(f"files.{i}", f.filename or "", f.file) for i, f in enumerate(files or [])]
    if file is not None:
        uploads.append(attachment_service.Upload("file", file.filename or "", file.file))
    photos = attachment_service.prepare_all(uploads, max_bytes=int(settings.max_upload_mb * 1024 * 1024),
                                            max_pixels=settings.max_image_pixels)
    storage = storage_for(settings)
    attachments = attachment_service.store(session, storage, photos, stage=stage, case_id=case.id, report_id=None,
                                           uploaded_by=principal.user_id, now=clock.now())
    try:
        session.commit()
    except BaseException:
        attachment_service.discard(storage, attachments)  # the rows are gone, so must their files be
        raise
    return [AttachmentOut.of(a) for a in attachments]


@router.get("/cases/{case_id}/attachments", response_model=list[AttachmentOut])
def list_attachments(case_id: int, session: ReadSessionDep, principal: PrincipalDep) -> list[AttachmentOut]:
    case = access.get_case_for(session, principal, case_id)
    return [AttachmentOut.of(a) for a in attachment_service.list_for_case(session, case.id)]


@router.get("/attachments/{attachment_id}/content", response_class=Response, responses=_IMAGE_RESPONSE)
def attachment_content(attachment_id: int, session: ReadSessionDep, principal: PrincipalDep, settings: SettingsDep,
                       size: Annotated[Literal["display", "thumb"], Query()] = "display") -> Response:
    """The photo's bytes, to those who may see its case; 404 to everyone else, so its existence does not leak."""
    attachment = readable_attachment(session, principal, attachment_id)
    data, mime = attachment_service.read(storage_for(settings), attachment, size)
    # private: a shared cache must never hand one caller's photo to another; nosniff: the bytes are an image
    # of the stated type and the browser must not guess otherwise.
    return Response(data, media_type=mime, headers={"Cache-Control": "private", "X-Content-Type-Options": "nosniff"})


def readable_attachment(session: Session, principal: Principal, attachment_id: int) -> Attachment:
    """An attachment the caller may see: one of a case they may see, or, before its report became a case,
    to intake reviewers and city-wide staff. Raises NotFound otherwise."""
    attachment = attachment_service.get(session, attachment_id)
    hidden = NotFound(f"attachment {attachment_id} not found", field="attachment_id")
    if attachment.case_id is None:
        if not (principal.has(Permission.INTAKE_REVIEW) or principal.has(Permission.CASE_READ_ALL)):
            raise hidden
        return attachment
    try:
        access.get_case_for(session, principal, attachment.case_id)
    except NotFound:
        raise hidden from None
    return attachment
