"""What a source change refreshes, as Dagster declarative automation (public API).

``source_change_sensor`` only observes: it records a new data version of
``documentation_sources`` when the sources' fingerprint moves. Deciding what to rebuild is
Dagster's own declarative automation, so the UI shows, per asset, the condition and why
each tick did or did not request it (the asset's "Automation" tab). Every asset of the
refresh scope (everything below the sources except group ``training``) carries
``SOURCE_CHANGE``; ``source_automation_sensor`` evaluates them.

An asset is requested when

- it was built before, and since it was last requested or built its code version changed
  (``code_version_changed``) or an input's data version changed
  (``any_deps_match(data_version_changed())``: the sources' fingerprint, or the
  content-based data version an upstream asset wrote); or
- an input will be requested on the same tick (so a change travels down in one run, missing
  assets below it included). An asset never built is not requested on its own: building
  it the first time is a person's call (``make demo``, the UI).

Data versions are content-based, so a file that was touched but not edited re-ingests to
the same version of ``source_documents`` and nothing below it is requested. Nothing is
requested while the asset or an input is in progress; the change waits (latched by
``since_last_handled``) instead. A request clears the latch, so a failed refresh is not
retried every tick while nothing changes. Training is outside the scope:
``argilla_feedback_sensor`` and people decide when to retrain.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from embedloop.config import Settings
from orchestration.jobs import REFRESH_SCOPE, TRAINING_GROUP

TRIGGER_TAG = "embedloop/trigger"
SENSOR_NAME = "source_automation_sensor"

_AC = dg.AutomationCondition
_CHANGED: dg.AutomationCondition = (
    _AC.code_version_changed() | _AC.any_deps_match(_AC.data_version_changed())
).with_label("code version or an input's data version changed")
SOURCE_CHANGE = (
    ((_CHANGED.since_last_handled() & ~_AC.missing()) | _AC.any_deps_match(_AC.will_be_requested()))
    & ~_AC.in_progress()
    & ~_AC.any_deps_in_progress()
).with_label("source_change")


def with_source_automation(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """``assets`` with ``SOURCE_CHANGE`` on every spec outside group ``training``."""

    def condition(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.group_name == TRAINING_GROUP:
            return spec
        return spec.replace_attributes(automation_condition=SOURCE_CHANGE)

    return list(dg.map_asset_specs(condition, assets))


def build_source_automation_sensor(settings: Settings) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates ``SOURCE_CHANGE`` on the refresh scope, at the source
    sensor's interval."""
    return dg.AutomationConditionSensorDefinition(
        SENSOR_NAME,
        target=REFRESH_SCOPE,
        run_tags={TRIGGER_TAG: "source_change"},
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.automation.source_poll_interval_s,
        description="Requests the assets below the documentation sources whose code version "
        "or input data changed, and what they feed, up to the review dataset (no training).",
    )
