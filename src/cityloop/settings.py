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

    def ensure_sqlite_dir(self) -> None:
        """Create the directory of an SQLite file URL so that a first run on a new machine just works."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix):
            Path(self.database_url[len(prefix):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
