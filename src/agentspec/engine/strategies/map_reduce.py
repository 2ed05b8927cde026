"""The ``map-reduce`` strategy: split the input into chunks, process them concurrently, merge.

1. Split: the input is cut at ``strategy_options.separator`` (default a blank line) and the
   pieces are packed, in order, into chunks of at most ``strategy_options.chunk_size``
   characters (a longer piece is cut at that size). Recorded as ``map.chunks``.
2. Map: each chunk is processed, at most ``strategy_options.concurrency`` at a time, either in
   this run (a react-style sub-loop of the agent's own model and tools, seeing only
   ``Part i of n`` and the chunk) or by ``strategy_options.mapper`` as a child run. Each chunk
   records ``map.chunk.started`` and ``map.chunk.finished`` (status, output, error).
3. Reduce: the partial results are merged by the agent's model (``map.reduce``, then a
   sub-loop with ``strategy_options.reduce_prompt`` or the built-in instructions). A single
   chunk needs no merge: its result is the answer.

A failed chunk fails the run (the other chunks are cancelled, recorded as ``cancelled``)
unless ``strategy_options.continue_on_failure`` is set; then the chunks that succeeded are
merged (and the run fails only if none did).
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.strategies import StrategyContext, register
from agentspec.engine.strategies._common import (
    StrategyError,
    child_run,
    finish,
    sub_loop,
    user_input,
)
from agentspec.exceptions import RunError
from agentspec.models.base import Message

CHUNK_REQUEST = "Part {index} of {count} of the input:\n\n{chunk}"
REDUCE_PROMPT = (
    "The input was processed in {count} parts; their results follow. Combine them into one "
    "final answer to the task."
)


def split_chunks(text: str, chunk_size: int, separator: str) -> list[str]:
    """Cut ``text`` at ``separator`` and pack the pieces into chunks of ``<= chunk_size``
    characters, in order. Empty pieces are dropped; an empty text gives no chunks."""
    pieces = text.split(separator) if separator else [text]
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if not piece.strip():
            continue
        while len(piece) > chunk_size:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(piece[:chunk_size])
            piece = piece[chunk_size:]
        if not piece.strip():
            continue
        if current and len(current) + len(separator) + len(piece) <= chunk_size:
            current = current + separator + piece
        else:
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


async def _map_one(ctx: StrategyContext, index: int, count: int, chunk: str) -> tuple[str, str]:
    """Process one chunk; returns ``(output, child run id or "")``."""
    options = ctx.agent.agent.strategy_options
    request = CHUNK_REQUEST.format(index=index, count=count, chunk=chunk)
    if options.mapper:
        result = await child_run(ctx, options.mapper, request)
        if not result.ok:
            error = RunError(result.error_message or result.error)
            error.code = result.error or "internal_error"
            error.run_id = result.run_id
            raise error
        return result.output, result.run_id
    messages = [Message("user", request)]
    output = await sub_loop(ctx, ctx.system, messages, what=f"chunk {index}")
    return output, ""


@register("map-reduce")
async def map_reduce(ctx: StrategyContext) -> str:
    """Run the ``map-reduce`` strategy (see the module docstring)."""
    spec = ctx.agent.agent
    options = spec.strategy_options
    chunks = split_chunks(user_input(ctx), options.chunk_size, options.separator)
    if not chunks:
        raise StrategyError(f"agent {spec.name!r} (map-reduce): the input is empty")
    count = len(chunks)
    ctx.state.emit(
        ev.MAP_CHUNKS,
        {
            "count": count,
            "chunk_size": options.chunk_size,
            "separator": options.separator,
            "chunks": chunks,
        },
    )
    limit = asyncio.Semaphore(options.concurrency)
    outputs: dict[int, str] = {}
    failures: dict[int, str] = {}
    codes: dict[int, str] = {}
    started: set[int] = set()

    async def one(index: int, chunk: str) -> None:
        async with limit:
            started.add(index)
            ctx.state.emit(ev.MAP_CHUNK_STARTED, {"index": index, "size": len(chunk)})
            data: dict[str, Any] = {"index": index}
            try:
                output, run_id = await _map_one(ctx, index, count, chunk)
            except RunError as exc:
                failures[index] = str(exc)
                codes[index] = exc.code
                data.update(status="failed", output="", error=str(exc))
                if exc.run_id:
                    data["child_run_id"] = exc.run_id
                ctx.state.emit(ev.MAP_CHUNK_FINISHED, data)
                if not options.continue_on_failure:
                    raise
                return
            outputs[index] = output
            data.update(status="completed", output=output, error="")
            if run_id:
                data["child_run_id"] = run_id
            ctx.state.emit(ev.MAP_CHUNK_FINISHED, data)

    tasks = [asyncio.ensure_future(one(i, c)) for i, c in enumerate(chunks, 1)]
    try:
        await asyncio.gather(*tasks)
    except RunError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for index in range(1, count + 1):
            if index in started and index not in outputs and index not in failures:
                ctx.state.emit(
                    ev.MAP_CHUNK_FINISHED,
                    {"index": index, "status": "cancelled", "output": "", "error": "cancelled"},
                )
        first = min(failures)
        error = StrategyError(
            f"agent {spec.name!r} (map-reduce): chunk {first} of {count} failed: {failures[first]}"
        )
        error.code = codes[first]
        raise error from None
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    if not outputs:
        raise StrategyError(
            f"agent {spec.name!r} (map-reduce): all {count} chunks failed; first: "
            f"{failures[min(failures)]}"
        )
    done = sorted(outputs)
    ctx.state.emit(ev.MAP_REDUCE, {"parts": done, "failed": sorted(failures)})
    if count == 1:
        return finish(ctx, outputs[1])
    instructions = (options.reduce_prompt or REDUCE_PROMPT).replace("{count}", str(len(done)))
    body = "\n\n".join(f"[Part {i}]\n{outputs[i]}" for i in done)
    messages = [Message("user", f"{instructions}\n\n{body}")]
    answer = await sub_loop(ctx, ctx.system, messages, what="the merge")
    return finish(ctx, answer)
