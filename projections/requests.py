"""Requests read model: one row per request, and counts/latency/tokens per minute, model, key."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

from domain import events as ev
from domain.ports import RecordedEvent
from projections.base import REQUEST_PREFIX, Handler, Projection, minute, request_id_of
from projections.db import Db, upsert, write_rows
from projections.histogram import bucket_index
from projections.schema import rm_request_latency, rm_request_stats, rm_requests

STATUS_BY_TYPE = {
    ev.RequestCompleted.TYPE: "completed",
    ev.RequestFailed.TYPE: "failed",
    ev.RequestCancelled.TYPE: "cancelled",
    ev.RequestInterrupted.TYPE: "interrupted",
}
_STAT_SUMS: tuple[str, ...] = ("count", "duration_us_sum", "ttft_us_sum", "ttft_count")
_STAT_SUMS += ("prompt_tokens", "completion_tokens")
_ROW_COLUMNS = tuple(c.name for c in rm_requests.columns if c.name != "generation")
_REPLACE_ROW = upsert(rm_requests, replace=tuple(c for c in _ROW_COLUMNS if c != "request_id"))
_LOAD = (
    f"SELECT {', '.join(_ROW_COLUMNS)} FROM rm_requests"
    " WHERE generation = ? AND request_id IN ({marks})"
)
_LOAD_CHUNK = 500


def _new_row(request_id: str, rec: RecordedEvent) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "key_id": "",
        "model": "",
        "target": "unknown",
        "stream": False,
        "status": "in_flight",
        "received_at": rec.recorded_at,
        "finished_at": None,
        "first_position": rec.position,
        "last_position": rec.position,
        "duration_us": 0,
        "ttft_us": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "finish_reason": "",
        "error_type": "",
        "http_status": 0,
        "deltas": 0,
        "upstream_calls": 0,
        "tool_calls": 0,
        "acl_denials": 0,
    }


class RequestsProjection(Projection):
    name: ClassVar[str] = "requests"
    tables = (rm_requests, rm_request_stats, rm_request_latency)
    raw_types = frozenset({ev.UpstreamCallStarted.TYPE, ev.ToolInvoked.TYPE})

    def reset(self) -> None:
        super().reset()
        self.pending: dict[str, list[tuple[RecordedEvent, Any]]] = defaultdict(list)
        self.deltas: Counter[str] = Counter()  # stream -> deltas in this page
        self.last_delta: dict[str, int] = {}  # stream -> last delta position
        self.page_events: Sequence[RecordedEvent] = ()

    def handlers(self) -> dict[str, Handler]:
        folded: dict[str, Handler] = {
            t: self._buffer
            for t in (
                ev.RequestReceived.TYPE,
                ev.UpstreamCallStarted.TYPE,
                ev.ToolInvoked.TYPE,
                ev.AclDecided.TYPE,
                *STATUS_BY_TYPE,
            )
        }
        return folded

    def page(self, events: Sequence[RecordedEvent]) -> None:
        # Deltas are most of the log: count them per stream in bulk, never decode them.
        delta = ev.StreamDelta.TYPE
        self.deltas.update(r.stream for r in events if r.type == delta)
        self.last_delta.update({r.stream: r.position for r in events if r.type == delta})
        self.page_events = events

    def _buffer(self, rec: RecordedEvent, event: Any) -> None:
        request_id = request_id_of(rec, event)
        if request_id:
            self.pending[request_id].append((rec, event))

    def dirty(self) -> bool:
        return bool(self.pending) or bool(self.deltas) or super().dirty()

    def flush(self, db: Db, generation: int) -> None:
        delta_ids = {stream[len(REQUEST_PREFIX) :]: stream for stream in self.deltas}
        touched = self.pending.keys() | delta_ids.keys()
        if not touched:
            return super().flush(db, generation)
        fresh = {
            rid
            for rid, items in self.pending.items()
            if items[0][0].type == ev.RequestReceived.TYPE
        }
        rows = _load(db, generation, [r for r in touched if r not in fresh])
        stats: dict[tuple[str, ...], list[int]] = {}
        latency: dict[tuple[str | int, ...], int] = defaultdict(int)
        for request_id in touched:
            row = rows.get(request_id)
            for rec, event in self.pending.get(request_id, ()):
                if row is None:
                    row = _new_row(request_id, rec)
                self._fold(row, rec, event, stats, latency)
            stream = delta_ids.get(request_id)
            if stream is not None:
                if row is None:  # an orphan: no request.received, start at its first delta
                    row = _new_row(request_id, self._first_delta(stream))
                row["deltas"] += self.deltas[stream]
                row["last_position"] = max(row["last_position"], self.last_delta[stream])
            if row is not None:
                rows[request_id] = row
        write_rows(
            db,
            _REPLACE_ROW,
            ({"generation": generation, **row} for row in rows.values()),
        )
        write_rows(
            db,
            upsert(rm_request_stats, add=_STAT_SUMS),
            (
                {
                    "generation": generation,
                    "bucket": k[0],
                    "model": k[1],
                    "target": k[2],
                    "key_id": k[3],
                    "status": k[4],
                    **dict(zip(_STAT_SUMS, sums, strict=True)),
                }
                for k, sums in stats.items()
            ),
        )
        write_rows(
            db,
            upsert(rm_request_latency, add=("count",)),
            (
                {
                    "generation": generation,
                    "bucket": k[0],
                    "model": k[1],
                    "metric": k[2],
                    "le_index": k[3],
                    "count": n,
                }
                for k, n in latency.items()
            ),
        )
        super().flush(db, generation)

    def _first_delta(self, stream: str) -> RecordedEvent:
        return next(
            r for r in self.page_events if r.stream == stream and r.type == ev.StreamDelta.TYPE
        )

    def _fold(
        self,
        row: dict[str, Any],
        rec: RecordedEvent,
        event: Any,
        stats: dict[tuple[str, ...], list[int]],
        latency: dict[tuple[str | int, ...], int],
    ) -> None:
        row["last_position"] = max(row["last_position"], rec.position)
        kind = rec.type
        if kind == ev.RequestReceived.TYPE:
            row.update(
                key_id=event.key_id,
                model=event.model,
                target=event.target,
                stream=event.stream,
                received_at=rec.recorded_at,
                first_position=min(row["first_position"], rec.position),
            )
            if event.target == "agent":  # a served drop-in: a known name
                self.saw_name("model", event.model, rec.position)
        elif kind == ev.UpstreamCallStarted.TYPE:
            row["upstream_calls"] += 1
        elif kind == ev.ToolInvoked.TYPE:
            row["tool_calls"] += 1
        elif kind == ev.AclDecided.TYPE:
            row["acl_denials"] += event.decision == "deny"
        elif row["status"] == "in_flight":  # a terminal event; only the first one counts
            self._finish(row, rec, event, stats, latency)

    def _finish(
        self,
        row: dict[str, Any],
        rec: RecordedEvent,
        event: Any,
        stats: dict[tuple[str, ...], list[int]],
        latency: dict[tuple[str | int, ...], int],
    ) -> None:
        status = STATUS_BY_TYPE[rec.type]
        row["status"] = status
        row["finished_at"] = rec.recorded_at
        row["duration_us"] = getattr(event, "duration_us", 0)
        if status == "completed":
            if not row["model"]:
                row["model"] = event.model
            # Only names that answered become labels: a client inventing model names (refused,
            # or refused by the upstream) never takes a bounded Prometheus label slot.
            self.saw_name("model", row["model"], rec.position)
            row.update(
                ttft_us=event.ttft_us,
                prompt_tokens=event.prompt_tokens,
                completion_tokens=event.completion_tokens,
                finish_reason=event.finish_reason,
            )
        elif status == "failed":
            row.update(error_type=event.error_type, http_status=event.status)
        bucket = minute(rec.recorded_at)
        key = (bucket, row["model"], row["target"], row["key_id"], status)
        sums = stats.get(key)
        if sums is None:
            sums = stats[key] = [0, 0, 0, 0, 0, 0]
        has_ttft = row["ttft_us"] > 0
        sums[0] += 1
        sums[1] += row["duration_us"]
        sums[2] += row["ttft_us"]
        sums[3] += has_ttft
        sums[4] += row["prompt_tokens"]
        sums[5] += row["completion_tokens"]
        if status == "completed":
            base = (bucket, row["model"])
            latency[(*base, "duration", bucket_index(row["duration_us"]))] += 1
            if has_ttft:
                latency[(*base, "ttft", bucket_index(row["ttft_us"]))] += 1


def _load(db: Db, generation: int, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored rows of requests seen before this page, by request id."""
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _LOAD_CHUNK):
        chunk = ids[start : start + _LOAD_CHUNK]
        sql = _LOAD.format(marks=", ".join("?" * len(chunk)))
        for found in db.execute(sql, (generation, *chunk)):
            row = dict(zip(_ROW_COLUMNS, found, strict=True))
            row["stream"] = bool(row["stream"])
            rows[row["request_id"]] = row
    return rows
