"""Tools read model: calls, outcomes and latency per tool, agent and source (gateway/sdk/hosted)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

from domain import events as ev
from domain.ports import RecordedEvent
from projections.base import Handler, Projection
from projections.db import Db, upsert, write_rows
from projections.histogram import bucket_index
from projections.schema import rm_tool_latency, rm_tool_stats

SUMS = ("calls", "ok", "errors", "denials", "timeouts", "duration_us_sum")
_OUTCOME_COLUMN = {"ok": 1, "error": 2, "denied": 3, "timeout": 4}


class ToolsProjection(Projection):
    name: ClassVar[str] = "tools"
    tables = (rm_tool_stats, rm_tool_latency)

    def reset(self) -> None:
        super().reset()
        self.stats: dict[tuple[str, str, str], list[int]] = {}
        self.latency: dict[tuple[str, str, str, int], int] = defaultdict(int)

    def handlers(self) -> dict[str, Handler]:
        return {ev.ToolCompleted.TYPE: self._finished, ev.ToolFailed.TYPE: self._finished}

    def _finished(self, rec: RecordedEvent, event: Any) -> None:
        # Every call ends in exactly one tool.completed or tool.failed: count calls there.
        key = (event.tool, event.agent, event.source)
        sums = self.stats.get(key)
        if sums is None:
            sums = self.stats[key] = [0] * len(SUMS)
        sums[0] += 1
        sums[_OUTCOME_COLUMN.get(event.outcome, 2)] += 1
        sums[5] += event.duration_us
        self.latency[(*key, bucket_index(event.duration_us))] += 1
        self.saw_name("tool", event.tool, rec.position)
        self.saw_name("agent", event.agent, rec.position)

    def dirty(self) -> bool:
        return bool(self.stats) or super().dirty()

    def flush(self, db: Db, generation: int) -> None:
        write_rows(
            db,
            upsert(rm_tool_stats, add=SUMS),
            (
                {
                    "generation": generation,
                    "tool": k[0],
                    "agent": k[1],
                    "source": k[2],
                    **dict(zip(SUMS, sums, strict=True)),
                }
                for k, sums in self.stats.items()
            ),
        )
        write_rows(
            db,
            upsert(rm_tool_latency, add=("count",)),
            (
                {
                    "generation": generation,
                    "tool": k[0],
                    "agent": k[1],
                    "source": k[2],
                    "le_index": k[3],
                    "count": n,
                }
                for k, n in self.latency.items()
            ),
        )
        super().flush(db, generation)
