"""The demo's every-way-in traffic: devices, the hotline, an Open311 client and a citizen, through the real
intake, leave the figures an operator would expect."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope
from cityloop.cases.models import Case, Source
from cityloop.cases.workflow import Status
from cityloop.demo import intake as demo_intake
from cityloop.intake import queries
from cityloop.intake.models import Channel, Device, Outcome, Report, Review
from tests.factories import EPOCH
from tests.integration.test_demo import engine, session, url

# The demo city loaded once for this module, as test_demo loads it (its fixtures, by name).
__all__ = ["engine", "session", "url"]


def test_every_published_key_works_for_its_channel(session: Session) -> None:
    assert apikeys.authenticate(session, demo_intake.OPEN311_KEY, ApiScope.OPEN311).name == "演示Open311客户端"
    assert apikeys.authenticate(session, demo_intake.HOTLINE_KEY, ApiScope.HOTLINE).name == "演示12345热线平台"
    for key, name, *_ in demo_intake.DEVICES:
        device = session.scalar(sa.select(Device).where(Device.name == name))
        assert device is not None
        assert apikeys.authenticate(session, key, ApiScope.DEVICE).id == device.api_key_id


def test_machine_detections_file_join_queue_and_drop(session: Session) -> None:
    outcomes = dict(session.execute(sa.select(Report.outcome, sa.func.count()).where(
        Report.channel == Channel.DEVICE).group_by(Report.outcome)).all())
    # camera 1: 5 join the citizen's garbage case; drone: 2 new cases + 1 joins; vendor camera: 4 queued;
    # vehicle: 2 dropped; sensor: 1 reading below the alarm (dropped) + 1 emergency case.
    assert outcomes == {Outcome.MERGED: 6, Outcome.CREATED: 3, Outcome.QUEUED: 4, Outcome.DROPPED: 3}
    garbage = session.scalar(sa.select(Case).where(Case.reporter_id.is_not(None), Case.category_code == "0110"))
    assert garbage is not None
    assert garbage.report_count == 6  # the citizen's report and the camera's five sightings
    queue, total = queries.review_queue(session, queries.PageParams(10, 0))
    assert total == 1  # four sightings of one vendor, one item for the operator
    assert queue[0][1] == 3
    assert queue[0][0].review is Review.PENDING


def test_the_waterlogging_sensor_raises_an_urgent_case_dispatched_at_once(session: Session) -> None:
    water = session.scalars(sa.select(Case).where(Case.source == Source.DEVICE, Case.urgent.is_(True))).all()
    assert len(water) == 1
    assert water[0].status is Status.DISPATCHED
    assert water[0].unit_id is not None


def test_machine_share_counts_every_channel(session: Session) -> None:
    share = queries.machine_share(session, EPOCH - timedelta(days=1), EPOCH + timedelta(days=1))
    channels = share["reports"]["by_channel"]
    assert channels[Channel.DEVICE.value] == 13  # dropped events are not reports
    assert channels[Channel.STAFF.value] == 5
    assert {Channel.PUBLIC.value, Channel.HOTLINE.value, Channel.OPEN311.value} <= set(channels)
    assert share["reports"]["share"] == pytest.approx(13 / sum(channels.values()))
    assert share["dropped_events"] == 3
