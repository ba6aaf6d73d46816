from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from cityloop.attachments.storage import storage_for
from cityloop.core.clock import FakeClock
from tests.conftest import World
from tests.open311 import seed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "open311_clients: independent Open311 clients against a live server")


@pytest.fixture
def people(world: World) -> seed.People:
    return seed.People(collector=world["collector"].principal(), operator=world["operator"].principal(),
                       shift_leader=world["shift_leader"].principal(), dispatcher=world["dispatcher"].principal(),
                       unit_staff=world["unit_a_staff"].principal(), unit_id=world.unit_a)


@pytest.fixture
def scene(app: FastAPI, session: Session, people: seed.People, clock: FakeClock, tmp_path: Path) -> seed.Scene:
    """The seeded city inside the test's transaction; photos go to the test's own directory."""
    app.state.settings = app.state.settings.model_copy(update={"attachments_dir": tmp_path / "attachments"})
    built = seed.build(session, people, now=clock.now(), storage=storage_for(app.state.settings))
    session.commit()  # the savepoint only: the outer transaction still undoes it all
    return built
