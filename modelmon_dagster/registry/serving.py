"""What the serving side reads: which version serves when, from the registry's history.

A :class:`ServingPlan` lists the champion's activations (promotions and rollbacks) in time
order, each with the version's artifact URI. Servers ask for ``plan.at(now)``; the simulator
asks per simulated request, so a re-simulated week serves what the registry served then.

The plan is *published* by the registry's writers (retrain, rollback) as a small JSON file,
``{data_dir}/registry/serving/{model}.json``, written atomically. A server reads that file and
never opens the warehouse: DuckDB allows one process per database file, and a server holding
even a read-only connection would make the next pipeline step fail to open it. The file is a
cache of the registry, never edited by hand: :func:`publish_serving_plan` rebuilds it from the
history at any time.
"""

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from modelmon_dagster.registry.base import EventKind, Registry

ACTIVATIONS = (EventKind.PROMOTED, EventKind.ROLLED_BACK)


@dataclass(frozen=True)
class ServedSpan:
    """From ``since`` on (until the next span), ``version`` serves from ``artifact_uri``."""

    since: dt.datetime
    version: str
    artifact_uri: str


@dataclass(frozen=True)
class ServingPlan:
    """The champion over time for one model (spans sorted by ``since``)."""

    model_name: str
    spans: tuple[ServedSpan, ...]

    @property
    def champion(self) -> ServedSpan | None:
        """The latest activation."""
        return self.spans[-1] if self.spans else None

    def at(self, when: dt.datetime) -> ServedSpan | None:
        """The span serving at ``when`` (None before the first activation)."""
        current = None
        for span in self.spans:
            if span.since > when:
                break
            current = span
        return current

    def to_json(self) -> str:
        """The published form."""
        spans = [
            {"since": s.since.isoformat(), "version": s.version, "artifact_uri": s.artifact_uri}
            for s in self.spans
        ]
        return json.dumps({"model_name": self.model_name, "spans": spans}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ServingPlan":
        """Parse the published form (ValueError if it is not one)."""
        try:
            raw = json.loads(text)
            spans = tuple(
                ServedSpan(dt.datetime.fromisoformat(s["since"]), s["version"], s["artifact_uri"])
                for s in raw["spans"]
            )
            return cls(str(raw["model_name"]), spans)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a serving plan: {exc}") from None


def serving_plan(registry: Registry, model_name: str) -> ServingPlan:
    """The plan from the registry's history (activations ordered by effective time, then seq)."""
    uris = {v.version: v.artifact_uri for v in registry.versions(model_name)}
    events = sorted(
        (e for e in registry.history(model_name) if e.kind in ACTIVATIONS),
        key=lambda e: (e.at, e.seq),
    )
    spans = tuple(ServedSpan(e.at, e.version, uris[e.version]) for e in events)
    return ServingPlan(model_name, spans)


def serving_plan_path(data_dir: Path, model_name: str) -> Path:
    """Where a model's plan is published under the data folder."""
    return Path(data_dir) / "registry" / "serving" / f"{model_name}.json"


def publish_serving_plan(registry: Registry, model_name: str, data_dir: Path) -> ServingPlan:
    """Write the model's plan for servers (temporary file, then an atomic rename)."""
    plan = serving_plan(registry, model_name)
    path = serving_plan_path(data_dir, model_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(plan.to_json())
    os.replace(tmp, path)
    return plan


def read_serving_plan(data_dir: Path, model_name: str) -> ServingPlan | None:
    """The published plan of a model, or None if none was published."""
    path = serving_plan_path(data_dir, model_name)
    if not path.exists():
        return None
    try:
        return ServingPlan.from_json(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
