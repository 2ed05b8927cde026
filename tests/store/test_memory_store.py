"""The in-memory reference backend against the conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentspec.store.base import Store
from agentspec.store.memory import MemoryStore

from .conformance import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        store = MemoryStore()
        await store.setup()
        yield store
        await store.close()
