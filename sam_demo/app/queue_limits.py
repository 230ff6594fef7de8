"""A cap on how many of one session's events may wait in Gradio's queue, so that one client cannot fill it.

Gradio 6.17 bounds the queue as a whole (`queue(max_size=...)`), not per session, and `trigger_mode` only keeps
the page's own buttons from firing again while their event is pending: a program calling the API can join the
queue as often as it likes, and the other users then get "queue full". So the queue's `push` (its one entry
point, called for every `/queue/join`) is wrapped here: a session (a browser tab, or one `gradio_client.Client`)
with `limit` events already waiting is refused with the same "queue full" answer Gradio gives when the whole queue
is full. `push` is not public API: the Gradio version is pinned in requirements.txt and a test covers this.
"""

from __future__ import annotations

import asyncio

import gradio as gr


def limit_waiting_events_per_session(demo: gr.Blocks, limit: int) -> None:
    """Refuse a session's new event while `limit` of its events wait in `demo`'s queue (call after `queue()`)."""
    queue = demo._queue
    push = queue.push
    lock = asyncio.Lock()  # count and join as one step, or simultaneous requests of a session would all pass

    async def push_within_limit(body, request, username):
        async with lock:
            waiting = sum(
                event.session_hash == body.session_hash
                for events in queue.event_queue_per_concurrency_id.values()
                for event in events.queue
            )
            if body.session_hash is not None and waiting >= limit:
                message = f"{waiting} requests of this session are already waiting; try again when one is done."
                return False, message, "queue_full"
            return await push(body, request, username)

    queue.push = push_within_limit
