"""Settings are read once (from CITYLOOP_* environment variables) and passed in; nothing connects at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(user_data_dir("cityloop", appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'cityloop.sqlite'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYLOOP_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    # Demo mode accepts the published demo password; everywhere else it is refused at login.
    demo_mode: bool = False
    token_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    # argon2id cost; the defaults follow RFC 9106's second recommended option (64 MiB, t=3).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    # The city's working calendar and deadline rules.
    work_periods: str = Field(default="08:00-12:00,14:00-18:00",
                              description="working periods of a working day, comma-separated HH:MM-HH:MM")
    deadline_yellow_at: float = Field(default=0.8, gt=0, lt=1, description="share of a limit used → yellow")
    max_extensions: int = Field(default=2, ge=0, description="approved 延期 per handling deadline")
    supervise_on_breach: bool = Field(default=False, description="raise 督办 automatically when a clock goes red")
    calendar_horizon_days: int = Field(default=60, ge=1, description="warn when these coming days are uncovered")
    worker_interval_s: float = Field(default=30.0, gt=0)

    # Photos: on the local disk by default, or in S3-compatible object storage (MinIO, OSS, COS, S3 …).
    storage: Literal["local", "s3"] = "local"
    attachments_dir: Path | None = Field(default=None, description="default: <data dir>/attachments")
    s3_bucket: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_prefix: str = ""
    max_upload_mb: float = Field(default=10.0, gt=0, description="largest accepted photo")
    max_image_pixels: int = Field(default=50_000_000, gt=0, description="larger images are refused (bombs)")

    # Public channels.
    # The web console. Map tiles are optional: with none the map shows boundaries and grids on a plain
    # background. `map_tile_crs` is the datum the tiles are drawn in (天地图: wgs84; AMap/高德: gcj02), so
    # that points and polygons land on the right streets.
    ui_language: str = Field(default="zh_CN", description="console language (a gettext catalog in web/locale)")
    map_tile_url: str = Field(default="", description="tile URL template, e.g. http://tiles.intra/{z}/{x}/{y}.png")
    map_tile_crs: Literal["wgs84", "gcj02"] = "wgs84"
    map_tile_attribution: str = ""
    map_tile_max_zoom: int = Field(default=18, ge=1, le=22)
    map_center: str = Field(default="120.155,30.274", description="lon,lat (WGS-84) the maps open on")
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="how the outside world reaches us")
    public_reports_per_minute: int = Field(default=10, ge=1, description="随手拍 reports per client per minute")
    open311_jurisdiction_id: str = "hangzhou.gov.cn"
    open311_contact: str = "市数字城管监督指挥中心"
    open311_key_service: str = "向市数字城管监督指挥中心申请 API key（cityloop apikey create）"

    # Machine collection defaults (per class and algorithm overrides live in the database).
    machine_auto_at: float = Field(default=0.9, ge=0, le=1, description="confidence filed without a person")
    machine_review_at: float = Field(default=0.6, ge=0, le=1, description="confidence below this is dropped")
    dedup_radius_m: float = Field(default=30.0, gt=0, description="same class this close joins an open case")
    dedup_window_min: int = Field(default=120, gt=0, description="… if that case had a report this recently")
    intake_max_batch: int = Field(default=1000, ge=1, le=10000, description="events per device call")

    def attachments_path(self) -> Path:
        return self.attachments_dir or default_data_dir() / "attachments"

    def ensure_sqlite_dir(self) -> None:
        """Create the directory of an SQLite file URL so that a first run on a new machine just works."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix):
            Path(self.database_url[len(prefix):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
