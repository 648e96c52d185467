"""KeyService: issue, authenticate, revoke, rebuild from the log, catch up with other writers."""

from __future__ import annotations

from app.services.keys import KEYS_STREAM, MASTER, KeyService, hash_secret
from domain.events import KeyIssued
from domain.policy import Principal
from domain.ports import EventStore
from domain.upcasting import decode


async def test_issue_authenticate_revoke(store: EventStore) -> None:
    keys = KeyService(master_key="lg-master")
    await keys.load(store)
    secret, info = await keys.issue("ci", agents=["helper"], tools=["search_*"], models=[])
    assert secret.startswith("lg-") and len(secret) > 40
    assert keys.authenticate(secret) == Principal(
        key_id=info.id, name="ci", agents=("helper",), tools=("search_*",), models=()
    )
    assert keys.authenticate("lg-master") == MASTER
    assert keys.authenticate(secret + "x") is None
    assert keys.authenticate(None) is None
    assert keys.authenticate("") is None
    assert await keys.revoke(info.id) is True
    assert await keys.revoke(info.id) is False
    assert await keys.revoke("key_unknown") is False
    assert keys.authenticate(secret) is None
    assert [(k.id, k.revoked) for k in keys.list()] == [(info.id, True)]


async def test_the_log_holds_only_the_hash(store: EventStore) -> None:
    keys = KeyService()
    await keys.load(store)
    secret, info = await keys.issue("ops", admin=True)
    [recorded] = await store.read_stream(KEYS_STREAM)
    assert secret.encode() not in recorded.data + recorded.meta
    event = decode(recorded.type, recorded.schema_version, recorded.data)
    assert isinstance(event, KeyIssued)
    assert (event.key_id, event.key_hash, event.admin) == (info.id, hash_secret(secret), True)


async def test_the_registry_rebuilt_from_the_log_equals_the_one_before(store: EventStore) -> None:
    keys = KeyService()
    await keys.load(store)
    a, _ = await keys.issue("a", tools=["*"])
    b, b_info = await keys.issue("b", agents=["x*"], models=["gpt-*"])
    c, _ = await keys.issue("c", admin=True)
    await keys.revoke(b_info.id)
    restarted = KeyService()
    await restarted.load(store)
    assert restarted.list() == keys.list()
    for secret in (a, b, c):
        assert restarted.authenticate(secret) == keys.authenticate(secret)


async def test_keys_written_by_another_process_take_effect(store: EventStore) -> None:
    server, cli = KeyService(), KeyService()
    await server.load(store)
    await cli.load(store)
    secret, info = await cli.issue("late")
    assert server.authenticate(secret) is None  # not seen yet
    await server.ensure_fresh(secret)  # an unknown key triggers a catch-up
    principal = server.authenticate(secret)
    assert principal is not None and principal.key_id == info.id
    await cli.revoke(info.id)
    await server.ensure_fresh(secret)  # known key: catch-up only when ~1 s old
    server._refreshed_at -= 2  # as if a second went by, without sleeping
    await server.ensure_fresh(secret)
    assert server.authenticate(secret) is None
