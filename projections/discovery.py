"""Discovery read model: the last scan, and every drop-in's state with its failure history.

Rows are keyed by the drop-in's path. A drop-in that failed and was fixed later shows as
``loaded``; its last error stays in the row as history, with its count and first/last time.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

import msgspec

from domain import events as ev
from domain.ports import RecordedEvent
from projections.base import Handler, Projection
from projections.db import Db, upsert, write_rows
from projections.schema import rm_discovery, rm_dropin_failures, rm_dropins

_REPLACE = ("name", "state", "last_seen_at")
_KEEP_LAST: tuple[str, ...] = (
    "kind",
    "entrypoint",
    "tools",
    "digest",
    "error_type",
    "message",
    "remediation",
)
_KEEP_LAST += ("loaded_at", "last_failed_at")
_KEEP_FIRST = ("first_seen_at", "first_failed_at")
_ADD = ("load_count", "failure_count")

_SCAN_LAST = tuple(c.name for c in rm_discovery.columns if c.name.startswith("last_"))
_SCAN_ADD = ("scans_started", "scans_completed")


def _merge(
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    replace: tuple[str, ...] = (),
    keep_last: tuple[str, ...] = (),
    keep_first: tuple[str, ...] = (),
    add: tuple[str, ...] = (),
) -> None:
    # The same rules as the SQL upsert, so a page merges exactly as the table does.
    for key in replace:
        old[key] = new[key]
    for key in keep_last:
        if new.get(key) not in (None, ""):
            old[key] = new[key]
    for key in keep_first:
        if old.get(key) is None:
            old[key] = new.get(key)
    for key in add:
        old[key] = old.get(key, 0) + new.get(key, 0)


class DiscoveryProjection(Projection):
    name: ClassVar[str] = "discovery"
    tables = (rm_discovery, rm_dropins, rm_dropin_failures)

    def reset(self) -> None:
        super().reset()
        self.dropins: dict[str, dict[str, Any]] = {}
        self.scan: dict[str, Any] | None = None
        self.failures: dict[str, int] = defaultdict(int)

    def handlers(self) -> dict[str, Handler]:
        return {
            ev.ScanStarted.TYPE: self._started,
            ev.ScanCompleted.TYPE: self._completed,
            ev.AgentLoaded.TYPE: self._loaded,
            ev.DropinFailed.TYPE: self._failed,
            ev.AgentUnloaded.TYPE: self._unloaded,
        }

    def _scan(self, patch: dict[str, Any]) -> None:
        row = dict.fromkeys(_SCAN_LAST) | dict.fromkeys(_SCAN_ADD, 0) | patch
        if self.scan is None:
            self.scan = row
        else:
            _merge(self.scan, row, keep_last=_SCAN_LAST, add=_SCAN_ADD)

    def _started(self, rec: RecordedEvent, event: Any) -> None:
        self._scan(
            {
                "last_scan_id": event.scan_id,
                "last_reason": event.reason,
                "last_started_at": rec.recorded_at,
                "scans_started": 1,
            }
        )

    def _completed(self, rec: RecordedEvent, event: Any) -> None:
        self._scan(
            {
                "last_scan_id": event.scan_id,
                "last_completed_at": rec.recorded_at,
                "last_loaded": event.loaded,
                "last_failed": event.failed,
                "last_unloaded": event.unloaded,
                "last_unchanged": event.unchanged,
                "last_duration_us": event.duration_us,
                "scans_completed": 1,
            }
        )

    def _dropin(self, rec: RecordedEvent, event: Any, state: str, **patch: Any) -> None:
        row = dict.fromkeys(_KEEP_LAST + _KEEP_FIRST) | {"load_count": 0, "failure_count": 0}
        row |= {"name": event.name, "kind": getattr(event, "kind", ""), "state": state}
        row |= {"first_seen_at": rec.recorded_at, "last_seen_at": rec.recorded_at, **patch}
        old = self.dropins.get(event.path)
        if old is None:
            self.dropins[event.path] = row
        else:
            _merge(
                old, row, replace=_REPLACE, keep_last=_KEEP_LAST, keep_first=_KEEP_FIRST, add=_ADD
            )
        self.saw_name("dropin", event.name, rec.position)

    def _loaded(self, rec: RecordedEvent, event: Any) -> None:
        self._dropin(
            rec,
            event,
            "loaded",
            entrypoint=event.entrypoint,
            digest=event.digest,
            tools=msgspec.json.encode(event.tools).decode(),
            loaded_at=rec.recorded_at,
            load_count=1,
        )

    def _failed(self, rec: RecordedEvent, event: Any) -> None:
        self._dropin(
            rec,
            event,
            "failed",
            error_type=event.error_type,
            message=event.message,
            remediation=event.remediation,
            digest=event.digest or None,
            first_failed_at=rec.recorded_at,
            last_failed_at=rec.recorded_at,
            failure_count=1,
        )
        self.failures[event.error_type] += 1
        self.saw_name("error_type", event.error_type, rec.position)

    def _unloaded(self, rec: RecordedEvent, event: Any) -> None:
        # A failed reload is followed by its discovery.dropin_failed; only removal unloads.
        state = "unloaded" if event.reason == "removed" else "failed"
        self._dropin(rec, event, state)

    def dirty(self) -> bool:
        return bool(self.dropins) or self.scan is not None or super().dirty()

    def flush(self, db: Db, generation: int) -> None:
        write_rows(
            db,
            upsert(
                rm_dropins, replace=_REPLACE, keep_last=_KEEP_LAST, keep_first=_KEEP_FIRST, add=_ADD
            ),
            ({"generation": generation, "path": p, **row} for p, row in self.dropins.items()),
        )
        if self.scan is not None:
            write_rows(
                db,
                upsert(rm_discovery, keep_last=_SCAN_LAST, add=_SCAN_ADD),
                [{"generation": generation, **self.scan}],
            )
        write_rows(
            db,
            upsert(rm_dropin_failures, add=("count",)),
            (
                {"generation": generation, "error_type": t, "count": n}
                for t, n in self.failures.items()
            ),
        )
        super().flush(db, generation)
