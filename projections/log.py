"""Log read model: how many events of each type, and the last position and time of each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

from domain.ports import RecordedEvent
from projections.base import Projection
from projections.db import Db, upsert, write_rows
from projections.schema import rm_log_types


class LogProjection(Projection):
    name: ClassVar[str] = "log"
    tables = (rm_log_types,)

    def reset(self) -> None:
        super().reset()
        self.counts: Counter[str] = Counter()
        self.last: dict[str, RecordedEvent] = {}

    def page(self, events: Sequence[RecordedEvent]) -> None:
        # Bulk, not per event: Counter counts in C, the dict keeps each type's last event.
        self.counts.update(r.type for r in events)
        self.last.update({r.type: r for r in events})

    def dirty(self) -> bool:
        return bool(self.counts) or super().dirty()

    def flush(self, db: Db, generation: int) -> None:
        write_rows(
            db,
            upsert(rm_log_types, add=("count",), replace=("last_position", "last_recorded_at")),
            (
                {
                    "generation": generation,
                    "type": t,
                    "count": n,
                    "last_position": self.last[t].position,
                    "last_recorded_at": self.last[t].recorded_at,
                }
                for t, n in self.counts.items()
            ),
        )
        super().flush(db, generation)
