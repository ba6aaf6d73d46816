"""Every ORM model, imported once so the metadata (and Alembic's autogenerate) sees the whole schema."""

from __future__ import annotations

from cityloop.areas import models as area_models
from cityloop.attachments import models as attachment_models
from cityloop.auth import models as auth_models
from cityloop.cases import models as case_models
from cityloop.catalog import models as catalog_models
from cityloop.db.base import Base
from cityloop.deadlines import models as deadline_models
from cityloop.intake import models as intake_models
from cityloop.notifications import models as notification_models
from cityloop.parts import models as part_models
from cityloop.routing import models as routing_models
from cityloop.units import models as unit_models

metadata = Base.metadata
MODEL_MODULES = (auth_models, unit_models, catalog_models, case_models, deadline_models, notification_models,
                 area_models, part_models, routing_models, intake_models, attachment_models)
