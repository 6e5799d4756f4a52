"""Sharing one generate() call's requests among replicas by work, not by count.

Each replica holds at most `capacity` samples in flight (about what its engine batches at once). Whenever it
returns samples it takes the next requests from the one shared queue, so a replica that drew short outputs just
takes more, and no replica idles while the queue holds work. A lost replica's unfinished samples go back to the
front of the queue for the others. A completion is accepted once, and only from the replica holding its sample,
so nothing is stored twice.

Pure bookkeeping (no processes, no clocks): the replicated backend drives it with real replicas, the scaling
benchmark with simulated ones.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence

from kateval.types import Completion, Request


class WorkQueue:
    def __init__(self, requests: Sequence[Request]):
        keys = [key for request in requests for key in request.sample_keys()]
        if len(keys) != len(set(keys)):
            raise ValueError("two requests of one generate() call ask for the same sample")
        self._queue: deque[Request] = deque(r for r in requests if r.sample_indices)
        self._held: dict[int, dict[tuple, Request]] = {}   # replica -> sample key -> the request it belongs to
        self.requeued_samples = 0

    @property
    def done(self) -> bool:
        return not self._queue and not any(self._held.values())

    @property
    def queued_samples(self) -> int:
        return sum(len(request.sample_indices) for request in self._queue)

    def in_flight(self, replica: int) -> int:
        return len(self._held.get(replica, ()))

    def take(self, replica: int, capacity: int) -> list[Request]:
        """The next requests for `replica`, keeping it at most `capacity` samples in flight; a request larger than
        that is given whole to a replica that holds nothing."""
        held = self._held.setdefault(replica, {})
        taken: list[Request] = []
        while self._queue and (len(held) + len(self._queue[0].sample_indices) <= capacity or not held):
            request = self._queue.popleft()
            held.update(dict.fromkeys(request.sample_keys(), request))
            taken.append(request)
        return taken

    def finish(self, replica: int, completions: Sequence[Completion]) -> list[Completion]:
        """The completions that answer samples `replica` holds; any other (a repeat, a stale round) is dropped."""
        held = self._held.get(replica, {})
        return [completion for completion in completions if held.pop(completion.sample_key(), None) is not None]

    def lose(self, replica: int) -> int:
        """Put the unfinished samples of a lost replica back at the front of the queue; returns how many."""
        held = self._held.pop(replica, {})
        unfinished: dict[int, Request] = {id(request): request for request in held.values()}
        returned = []
        for request in unfinished.values():
            indices = tuple(index for index, key in zip(request.sample_indices, request.sample_keys()) if key in held)
            # The same request with fewer samples: the engine then seeds each alone as it was seeded within the n.
            returned.append(dataclasses.replace(request, sample_indices=indices))
        self._queue.extendleft(reversed(returned))
        self.requeued_samples += len(held)
        return len(held)
