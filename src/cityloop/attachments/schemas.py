from __future__ import annotations

from pydantic import BaseModel, Field

from cityloop.attachments.models import STAGE_LABELS, Attachment, Stage
from cityloop.core.serialization import BizDateTime

# Served by cases/attachment_routes.py: only the cases domain decides who may see a case's photos.
CONTENT_URL = "/api/v1/attachments/{id}/content"


class AttachmentOut(BaseModel):
    id: int
    public_id: str
    stage: Stage
    stage_label: str
    mime: str
    size: int = Field(description="bytes of the stored (EXIF-free) copy")
    width: int
    height: int
    gps_lat: float | None = Field(description="WGS-84, from the photo's EXIF: a hint, not the case location")
    gps_lon: float | None
    taken_at: BizDateTime | None = Field(description="capture time from the photo's EXIF, when it had one")
    created_at: BizDateTime
    uploaded_by: int | None
    url: str
    thumb_url: str

    @classmethod
    def of(cls, a: Attachment) -> AttachmentOut:
        url = CONTENT_URL.format(id=a.id)
        return cls(id=a.id, public_id=a.public_id, stage=a.stage, stage_label=STAGE_LABELS[a.stage], mime=a.mime,
                   size=a.size, width=a.width, height=a.height, gps_lat=a.gps_lat, gps_lon=a.gps_lon,
                   taken_at=a.taken_at, created_at=a.created_at, uploaded_by=a.uploaded_by, url=url,
                   thumb_url=f"{url}?size=thumb")
