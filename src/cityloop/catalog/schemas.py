from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from cityloop.catalog.enums import Kind


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scheme: str
    kind: Kind
    code: str
    name: str
    major_code: str
    major_name: str
    sub_code: str
