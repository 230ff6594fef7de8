"""The app's settings of Gradio's queue that Gradio has no option for: a cap on how many of one session's events
may wait (so that one client cannot fill the queue), and a first estimate of the encoder's time.

Gradio 6.17 bounds the queue as a whole (`queue(max_size=...)`), not per session, and `trigger_mode` only keeps
the page's own buttons from firing again while their event is pending: a program calling the API can join the
queue as often as it likes, and the other users then get "queue full". So the queue's `push` (its one entry
point, called for every `/queue/join`) is wrapped here: a session (a browser tab, or one `gradio_client.Client`)
with `limit` events already waiting is refused with the same "queue full" answer Gradio gives when the whole queue
is full.

Gradio tells a waiting request how long it will wait only from runs of the same function it has timed itself, so
after a start the users waiting behind the first upload saw their place in the queue and no time.
`expect_encoder_time` gives the encoder queue's functions the encoder's measured time as their first run.

`push` and `process_time_per_fn` are not public API: the Gradio version is pinned in requirements.txt and tests
cover both.
"""

from __future__ import annotations

import asyncio

import gradio as gr

ENCODER_QUEUE = "encoder"  # the concurrency id of every event that may run the vision encoder


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


def expect_encoder_time(demo: gr.Blocks, seconds: float) -> None:
    """Let `demo`'s queue estimate waits in the encoder's queue from `seconds` per run, for each of its functions
    Gradio has not timed yet (its own timings then average in)."""
    times = demo._queue.process_time_per_fn
    for fn in demo.fns.values():
        if fn.concurrency_id == ENCODER_QUEUE and fn not in times:
            times[fn].add(seconds)
