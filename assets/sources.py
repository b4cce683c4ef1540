"""``documentation_sources``: the documentation itself, observed rather than built.

An observable source asset. Observing it fingerprints every configured source
(``embedloop.ingestion.fingerprint``: the commit a git ref points at, paths/sizes/mtimes of
local files) and records the combined fingerprint as its data version. When a git ref
moves or a file changes, the version changes and ``source_documents`` shows as stale in
the UI. ``source_change_sensor`` observes it on every tick; "Observe sources" in the UI or
``dg launch --assets documentation_sources`` does the same by hand.

A source that cannot be looked at (remote down, directory gone) keeps its previous
fingerprint: a flaky remote is not a change.
"""

import json
import warnings
from dataclasses import dataclass

import dagster as dg

from embedloop.config import Settings
from embedloop.ingestion.fingerprint import combined_version, fingerprint_sources

SOURCES_KEY = dg.AssetKey("documentation_sources")
DATA_VERSION_TAG = "dagster/data_version"
FINGERPRINTS = "fingerprints"

DOCUMENTATION_SOURCES = dg.AssetSpec(
    SOURCES_KEY,
    group_name="ingestion",
    kinds={"git", "file"},
    description="The configured documentation sources (git remotes, local directories). "
    "Its data version is a fingerprint of every source: the commit a git ref points at, "
    "the paths, sizes and mtimes of local files.",
)


@dataclass(frozen=True)
class SourcesState:
    version: str | None  # None: no source could be looked at, and none was before
    fingerprints: dict[str, str]
    details: dict[str, str]
    problems: list[str]

    def metadata(self) -> dict[str, dg.MetadataValue]:
        return {
            **{name: dg.MetadataValue.text(d) for name, d in sorted(self.details.items())},
            FINGERPRINTS: dg.MetadataValue.json(self.fingerprints),
        }


def observed(instance: dg.DagsterInstance) -> tuple[str | None, dict[str, str]]:
    """The last observed data version and per-source fingerprints."""
    record = instance.get_latest_data_version_record(SOURCES_KEY, is_source=True)
    if record is None:
        return None, {}
    entry = record.event_log_entry
    observation = entry.asset_observation
    raw = observation.metadata.get(FINGERPRINTS) if observation is not None else None
    previous = getattr(raw, "value", None)
    if isinstance(previous, str):
        previous = json.loads(previous)
    return (entry.tags or {}).get(DATA_VERSION_TAG), dict(previous or {})


def look_at_sources(instance: dg.DagsterInstance, settings: Settings) -> SourcesState:
    _, previous = observed(instance)
    prints = fingerprint_sources(list(settings.sources))
    current, problems = {}, []
    for name, fp in prints.items():
        if fp.fingerprint is not None:
            current[name] = fp.fingerprint
        else:
            problems.append(f"{name}: {fp.detail}")
            if name in previous:
                current[name] = previous[name]
    version = combined_version(current) if current else None
    return SourcesState(version, current, {n: fp.detail for n, fp in prints.items()}, problems)


def _observe(context: dg.AssetExecutionContext) -> dg.ObserveResult:
    state = look_at_sources(context.instance, context.resources.settings)
    for problem in state.problems:
        context.log.warning(f"source not checked, kept as unchanged: {problem}")
    if state.version is None:
        raise dg.Failure(description="no source could be looked at: " + "; ".join(state.problems))
    return dg.ObserveResult(data_version=dg.DataVersion(state.version), metadata=state.metadata())


# Observable source assets are "beta" in Dagster 1.13; the API is the documented way to give a
# source a data version the stale status (and the UI) compares against.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    documentation_sources = dg.multi_observable_source_asset(
        specs=[DOCUMENTATION_SOURCES], name="observe_sources", required_resource_keys={"settings"}
    )(_observe)
