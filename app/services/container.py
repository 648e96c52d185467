"""The services one process holds, built by ``app.main``; routes get them by name (api.deps)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.ports.discovery import DropinScanner
from app.ports.log_export import LogExport
from app.ports.upstream import Upstream
from app.services.agents import AgentRegistry
from app.services.chat import ChatService
from app.services.keys import KeyService
from app.services.responses import ResponsesService
from app.services.tools import ToolManager
from app.settings import Settings
from domain.ports import EventStore

if TYPE_CHECKING:
    from app.services.audit import AuditService
    from app.services.chain import ChainVerifier
    from app.services.projections import ProjectionService


@dataclass(slots=True)
class Services:
    """Everything the routes need, built once per process in the lifespan."""

    settings: Settings
    store: EventStore
    keys: KeyService = field(default_factory=KeyService)
    tools: ToolManager = field(default_factory=ToolManager)
    upstream: Upstream | None = None  # the upstream Chat Completions client
    agents: AgentRegistry = field(default_factory=AgentRegistry)  # served drop-ins
    chat: ChatService | None = None  # POST /v1/chat/completions
    responses: ResponsesService | None = None  # /v1/responses, on top of ``chat``
    discovery: DropinScanner | None = None  # drop-in scans (startup, admin, watch)
    projections: ProjectionService | None = None  # read models and their runner
    chain: ChainVerifier | None = None  # the chain's verification status (GET /admin/chain)
    audit: AuditService | None = None  # the Merkle tree, checkpoints, proofs, bundles
    export: LogExport | None = None  # the log's exported JSON Lines (admin stream, bundles)
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # set when the process stops
