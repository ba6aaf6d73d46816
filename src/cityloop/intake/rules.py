"""Machine thresholds and dedup rules: data, edited by admins, read once per batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.core.errors import NotFound
from cityloop.intake.dedup import Rule
from cityloop.intake.models import DedupRule, MachineThreshold
from cityloop.intake.schemas import DedupRuleIn, ThresholdIn
from cityloop.settings import Settings

ANY = "*"


@dataclass(frozen=True)
class Band:
    auto_at: float
    review_at: float


@dataclass(frozen=True)
class IntakeRules:
    thresholds: dict[tuple[str, str], Band]
    dedup_rules: dict[str, Rule]

    def band(self, category_code: str, algorithm: str) -> Band:
        """The most specific row: class and algorithm, then class, then algorithm, then the default."""
        for key in ((category_code, algorithm), (category_code, ANY), (ANY, algorithm), (ANY, ANY)):
            band = self.thresholds.get(key)
            if band is not None:
                return band
        raise AssertionError("load() always provides the (*, *) default")

    def dedup(self, category_code: str) -> Rule:
        return self.dedup_rules.get(category_code) or self.dedup_rules[ANY]


def settings_of(session: Session) -> Settings:
    settings = session.info.get("settings")
    return settings if isinstance(settings, Settings) else Settings()


def load(session: Session) -> IntakeRules:
    settings = settings_of(session)
    thresholds = {(ANY, ANY): Band(settings.machine_auto_at, settings.machine_review_at)}
    for t in session.scalars(sa.select(MachineThreshold)):
        thresholds[(t.category_code, t.algorithm)] = Band(t.auto_at, t.review_at)
    dedup = {ANY: Rule(settings.dedup_radius_m, timedelta(minutes=settings.dedup_window_min))}
    for r in session.scalars(sa.select(DedupRule)):
        dedup[r.category_code] = Rule(r.radius_m, timedelta(minutes=r.window_min))
    return IntakeRules(thresholds, dedup)


def list_thresholds(session: Session) -> list[MachineThreshold]:
    return list(session.scalars(sa.select(MachineThreshold)
                                .order_by(MachineThreshold.category_code, MachineThreshold.algorithm)))


def set_threshold(session: Session, data: ThresholdIn, *, now: datetime) -> MachineThreshold:
    row = session.scalar(sa.select(MachineThreshold).where(MachineThreshold.category_code == data.category_code,
                                                           MachineThreshold.algorithm == data.algorithm))
    if row is None:
        row = MachineThreshold(category_code=data.category_code, algorithm=data.algorithm)
        session.add(row)
    row.auto_at, row.review_at, row.updated_at = data.auto_at, data.review_at, now
    session.flush()
    return row


def delete_threshold(session: Session, category_code: str, algorithm: str) -> None:
    row = session.scalar(sa.select(MachineThreshold).where(MachineThreshold.category_code == category_code,
                                                           MachineThreshold.algorithm == algorithm))
    if row is None:
        raise NotFound(f"no threshold for class {category_code} and algorithm {algorithm}", field="category_code")
    session.delete(row)


def list_dedup_rules(session: Session) -> list[DedupRule]:
    return list(session.scalars(sa.select(DedupRule).order_by(DedupRule.category_code)))


def set_dedup_rule(session: Session, data: DedupRuleIn, *, now: datetime) -> DedupRule:
    row = session.get(DedupRule, data.category_code)
    if row is None:
        row = DedupRule(category_code=data.category_code)
        session.add(row)
    row.radius_m, row.window_min, row.updated_at = data.radius_m, data.window_min, now
    session.flush()
    return row


def delete_dedup_rule(session: Session, category_code: str) -> None:
    row = session.get(DedupRule, category_code)
    if row is None:
        raise NotFound(f"no dedup rule for class {category_code}", field="category_code")
    session.delete(row)
