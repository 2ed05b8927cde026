"""Several SQLite stores migrated concurrently in one process (Alembic's proxies are global)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentspec.store.base import RunRecord, WriteBatch
from agentspec.store.sql import SQLStore


async def test_concurrent_setup_of_several_databases(tmp_path: Path) -> None:
    stores = [SQLStore(f"sqlite:///{tmp_path / f'db{i}.sqlite'}") for i in range(6)]
    try:
        await asyncio.gather(*(store.setup() for store in stores))
        for i, store in enumerate(stores):
            await store.write(WriteBatch(runs=[RunRecord(f"run_{i}", "a", "p", "h")]))
            record = await store.get_run(f"run_{i}")
            assert record is not None and record.agent == "a"
    finally:
        for store in stores:
            await store.close()
