"""Response models of the 部件 API. Field names are the model's; each says which GB/T 47678.5-2026 field it is.
Coordinates are WGS-84 whatever system a request's point was given in."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, computed_field

from cityloop.parts.models import PART_STATUS_LABELS, Part, PartStatus


class PartOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description="GLBJBSM 标识码: 6 区划 + 5 class + 6 sequence")
    category_code: str = Field(description="class of GB/T 47678.5-2026: major 2 + minor 3")
    name: str = Field(description="GLBJMC 名称")
    competent_code: str = Field(description="ZGBMDM 主管部门代码")
    competent_name: str = Field(description="ZGBMMC 主管部门名称")
    owner_code: str = Field(description="QSDWDM 权属单位代码")
    owner_name: str = Field(description="QSDWMC 权属单位名称")
    maintainer_code: str = Field(description="YHDWDM 养护单位代码")
    maintainer_name: str = Field(description="YHDWMC 养护单位名称")
    grid_code: str = Field(description="SZDYWGBSM 所在单元网格标识码")
    street_code: str = Field(description="SZJDDM")
    street_name: str = Field(description="SZJDMC")
    community_code: str = Field(description="SZSQDM")
    community_name: str = Field(description="SZSQMC")
    status: PartStatus = Field(description="GLBJZT 状态")
    surveyed_on: date = Field(description="CSRQ 初始日期")
    changed_on: date | None = Field(description="BGRQ 变更日期")
    data_source: str = Field(description="SJLY 数据来源")
    note: str = Field(description="BZ 备注")
    lon: float
    lat: float
    synthetic: bool = Field(description="generated demo data, not a survey")

    @computed_field(description="GLBJZT as the standard writes it: 完好、破损、丢失、废弃、移除")  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return PART_STATUS_LABELS[self.status]

    @computed_field(description="the 区划代码 the code begins with")  # type: ignore[prop-decorator]
    @property
    def district_code(self) -> str:
        return self.code[:6]


class NearPartOut(PartOut):
    distance_m: float = Field(description="from the asked point, metres (0.1 m)")

    @classmethod
    def of(cls, part: Part, distance_m: float) -> NearPartOut:
        values = {name: getattr(part, name) for name in PartOut.model_fields}
        return cls.model_validate({**values, "distance_m": round(distance_m, 1)})
