"""Issued API keys: a registry rebuilt from the ``keys`` stream, and the one place keys are checked.

Only a key's sha256 enters the log. Keys issued or revoked by another process on the same log
(the CLI while the server runs) take effect after a catch-up read of the stream, done on an
unknown key and at most about once a second otherwise.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

import msgspec

from app.ids import uuid7
from domain.events import KeyIssued, KeyRevoked
from domain.policy import Principal
from domain.ports import ANY, EventStore, NewEvent
from domain.upcasting import decode

KEYS_STREAM = "keys"
SECRET_PREFIX = "lg-"
REFRESH_INTERVAL_S = 1.0

MASTER = Principal(
    key_id="master", name="master", admin=True, agents=("*",), tools=("*",), models=("*",)
)


class KeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An issued key as shown to admins: never its secret, never its hash."""

    id: str
    name: str
    agents: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    admin: bool = False
    auditor: bool = False
    created_at: str = ""
    revoked: bool = False
    revoked_at: str = ""

    def principal(self) -> Principal:
        return Principal(
            self.id,
            self.name,
            self.admin,
            self.agents,
            self.tools,
            self.models,
            auditor=self.auditor,
        )


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyService:
    """The key registry of one process. ``load`` it from the store before use."""

    def __init__(self, master_key: str | None = None) -> None:
        self._master_hash = hash_secret(master_key) if master_key else None
        self._store: EventStore | None = None
        self._keys: dict[str, KeyInfo] = {}  # id -> info, in issue order
        self._by_hash: dict[str, str] = {}  # sha256 hex -> id
        self._hash_of: dict[str, str] = {}  # id -> sha256 hex
        self._version = 0
        self._refreshed_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def store(self) -> EventStore:
        if self._store is None:
            raise RuntimeError("KeyService used before load(store)")
        return self._store

    async def load(self, store: EventStore) -> None:
        """Rebuild the registry from the ``keys`` stream."""
        self._store = store
        self._keys.clear()
        self._by_hash.clear()
        self._hash_of.clear()
        self._version = 0
        await self.refresh()

    async def refresh(self) -> None:
        """Apply the ``keys`` events appended (by anyone) since the last one seen."""
        async with self._lock:
            while True:
                page = await self.store.read_stream(KEYS_STREAM, after_version=self._version)
                for recorded in page:
                    self._apply(
                        decode(recorded.type, recorded.schema_version, recorded.data),
                        recorded.recorded_at,
                    )
                    self._version = recorded.version
                if len(page) < 1000:
                    break
            self._refreshed_at = time.monotonic()

    def _apply(self, event: object, recorded_at: str) -> None:
        if isinstance(event, KeyIssued):
            self._keys[event.key_id] = KeyInfo(
                id=event.key_id,
                name=event.name,
                agents=tuple(event.agents),
                tools=tuple(event.tools),
                models=tuple(event.models),
                admin=event.admin,
                auditor=event.auditor,
                created_at=recorded_at,
            )
            self._by_hash[event.key_hash] = event.key_id
            self._hash_of[event.key_id] = event.key_hash
        elif isinstance(event, KeyRevoked) and event.key_id in self._keys:
            info = self._keys[event.key_id]
            self._keys[event.key_id] = msgspec.structs.replace(
                info, revoked=True, revoked_at=recorded_at
            )

    def authenticate(self, bearer: str | None) -> Principal | None:
        """The principal of a Bearer token, or None for a missing, unknown or revoked key."""
        if not bearer:
            return None
        digest = hash_secret(bearer)
        if self._master_hash is not None and hmac.compare_digest(digest, self._master_hash):
            return MASTER
        key_id = self._by_hash.get(digest)
        if key_id is None:
            return None
        info = self._keys[key_id]
        if not hmac.compare_digest(self._hash_of[key_id], digest) or info.revoked:
            return None
        return info.principal()

    def _is_known(self, bearer: str) -> bool:
        digest = hash_secret(bearer)
        return digest == self._master_hash or digest in self._by_hash

    async def ensure_fresh(self, bearer: str | None) -> None:
        """Catch up with the log if ``bearer`` is unknown or the last catch-up is ~1 s old."""
        if self._store is None:
            return
        stale = time.monotonic() - self._refreshed_at >= REFRESH_INTERVAL_S
        if stale or (bearer and not self._is_known(bearer)):
            started = time.monotonic()
            if self._lock.locked():
                # Someone is already catching up: wait for theirs rather than start another.
                async with self._lock:
                    pass
                if self._refreshed_at >= started:
                    return
            await self.refresh()

    async def issue(
        self,
        name: str,
        agents: Sequence[str] = (),
        tools: Sequence[str] = (),
        models: Sequence[str] = (),
        admin: bool = False,
        *,
        auditor: bool = False,
    ) -> tuple[str, KeyInfo]:
        """Issue a key; return its secret (shown once, never stored) and its info.

        An auditor key reads the log, requests, replays and ``/audit/*``: it can hold no
        agents, tools or models and cannot also be an admin key.
        """
        if auditor and (admin or agents or tools or models):
            raise ValueError(
                "an auditor key only reads: it takes no agents, tools or models and is not admin"
            )
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(8)
        event = KeyIssued(
            key_id=key_id,
            name=name,
            key_hash=hash_secret(secret),
            agents=list(agents),
            tools=list(tools),
            models=list(models),
            admin=admin,
            auditor=auditor,
        )
        await self.store.append(KEYS_STREAM, [NewEvent.of(event, uuid7())], ANY)
        await self.refresh()
        return secret, self._keys[key_id]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; False if it is unknown or already revoked."""
        await self.refresh()
        info = self._keys.get(key_id)
        if info is None or info.revoked:
            return False
        event = KeyRevoked(key_id=key_id)
        await self.store.append(KEYS_STREAM, [NewEvent.of(event, uuid7())], ANY)
        await self.refresh()
        return True

    def get(self, key_id: str) -> KeyInfo | None:
        return self._keys.get(key_id)

    def list(self) -> builtins.list[KeyInfo]:
        """Every issued key, revoked ones included, in issue order."""
        return list(self._keys.values())
