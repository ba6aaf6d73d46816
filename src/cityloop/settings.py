"""Settings are read once (from CITYLOOP_* environment variables) and passed in; nothing connects at import."""

from __future__ import annotations

from pathlib import Path

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

    def ensure_sqlite_dir(self) -> None:
        """Create the directory of an SQLite file URL so that a first run on a new machine just works."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix):
            Path(self.database_url[len(prefix):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
