"""The exposition: parses back, bounded labels collapse to ``other``, every family documented."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from app.adapters.eventstore import InMemoryEventStore
from app.api.prometheus import FAMILIES, MAX_LABEL_VALUES, families, registry_of
from projections import queries, snapshot
from projections.runner import ProjectionRunner
from tests.projections.factory import append_request

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


async def test_unknown_names_collapse_to_other(
    store: InMemoryEventStore, engine: AsyncEngine
) -> None:
    count = MAX_LABEL_VALUES + 5
    for n in range(count):
        await append_request(store, f"r{n}", model=f"model-{n:02d}", words=["x"])
    runner = ProjectionRunner(store, engine)
    head = await runner.catch_up()
    await runner.stop()
    models = await queries.load(engine)
    statuses = snapshot.statuses(models, head)
    text = generate_latest(registry_of(families(models, head, statuses))).decode()
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(parsed) == set(FAMILIES)  # every family present, even when empty
    requests = [s for s in parsed["ledgergate_requests"].samples if s.name.endswith("_total")]
    labels = {s.labels["model"]: s.value for s in requests}
    assert len(labels) == MAX_LABEL_VALUES + 1
    assert labels["other"] == 5  # the last five names seen in the log
    assert "model-00" in labels and "model-54" not in labels
    assert sum(labels.values()) == count
    hist = parsed["ledgergate_request_duration_seconds"].samples
    inf = [s for s in hist if s.name.endswith("_bucket") and s.labels["le"] == "+Inf"]
    assert sum(s.value for s in inf) == count
    assert {s.labels["model"] for s in inf} == set(labels)


def test_every_family_is_documented() -> None:
    documented = set(re.findall(r"`(ledgergate_[a-z_]+)`", DOCS.read_text()))
    for name, (kind, _labels, _help) in FAMILIES.items():
        exposed = f"{name}_total" if kind == "counter" else name
        assert exposed in documented, exposed
