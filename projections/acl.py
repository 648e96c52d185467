"""ACL read model: allow and deny decisions by action, resource, rule and key."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

from domain import events as ev
from domain.ports import RecordedEvent
from projections.base import Handler, Projection
from projections.db import Db, upsert, write_rows
from projections.schema import rm_acl_stats


class AclProjection(Projection):
    name: ClassVar[str] = "acl"
    tables = (rm_acl_stats,)

    def reset(self) -> None:
        super().reset()
        self.counts: dict[tuple[str, str, str, str, str], int] = defaultdict(int)

    def handlers(self) -> dict[str, Handler]:
        return {ev.AclDecided.TYPE: self._decided}

    def _decided(self, rec: RecordedEvent, event: Any) -> None:
        self.counts[(event.action, event.resource, event.rule, event.subject, event.decision)] += 1
        self.saw_name("rule", event.rule, rec.position)
        self.saw_name("action", event.action, rec.position)

    def dirty(self) -> bool:
        return bool(self.counts) or super().dirty()

    def flush(self, db: Db, generation: int) -> None:
        write_rows(
            db,
            upsert(rm_acl_stats, add=("count",)),
            (
                {
                    "generation": generation,
                    "action": k[0],
                    "resource": k[1],
                    "rule": k[2],
                    "key_id": k[3],
                    "decision": k[4],
                    "count": n,
                }
                for k, n in self.counts.items()
            ),
        )
        super().flush(db, generation)
