"""Sharing one generate() call's requests among replicas by work, not by count.

Each replica holds at most `capacity` samples in flight (about what its engine batches at once). Whenever it
returns samples it takes the next requests from the one shared queue, so a replica that drew short outputs just
takes more, and no replica idles while the queue holds work. A lost replica's unfinished samples go back to the
front of the queue for the others. A completion is accepted once, and only from the replica holding its sample,
so nothing is stored twice.

A sample is known by (task, problem_id, sample_index). One call may ask for that sample more than once (a sweep's
cells differ in mode or budget, not in that key); a replica is then never given a second request for a sample it
still holds, so what it returns always names exactly one request, whatever else a request carries.

Pure bookkeeping (no processes, no clocks): the replicated backend drives it with real replicas, the scaling
benchmark with simulated ones.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence

from kateval.types import Completion, Request

SampleKey = tuple[str, str, int]
LOOKAHEAD = 1024   # requests a replica looks past when the next ones ask for samples it holds


def request_keys(request: Request) -> list[SampleKey]:
    return [(request.task, request.problem_id, index) for index in request.sample_indices]


def completion_key(completion: Completion) -> SampleKey:
    return (completion.task, completion.problem_id, completion.sample_index)


class WorkQueue:
    def __init__(self, requests: Sequence[Request]):
        self._queue: deque[Request] = deque(r for r in requests if r.sample_indices)
        self._held: dict[int, dict[SampleKey, Request]] = {}   # replica -> sample key -> the request holding it
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
        passed: list[Request] = []   # asks for a sample the replica holds: stays queued, in order
        while self._queue and len(passed) < LOOKAHEAD:
            request = self._queue[0]
            if held and len(held) + len(request.sample_indices) > capacity:
                break
            self._queue.popleft()
            keys = request_keys(request)
            if any(key in held for key in keys):
                passed.append(request)
                continue
            held.update(dict.fromkeys(keys, request))
            taken.append(request)
        self._queue.extendleft(reversed(passed))
        return taken

    def finish(self, replica: int, completions: Sequence[Completion]) -> list[Completion]:
        """The completions that answer samples `replica` holds; any other (a repeat, a stale round) is dropped."""
        held = self._held.get(replica, {})
        return [completion for completion in completions if held.pop(completion_key(completion), None) is not None]

    def lose(self, replica: int) -> int:
        """Put the unfinished samples of a lost replica back at the front of the queue; returns how many."""
        held = self._held.pop(replica, {})
        unfinished: dict[int, Request] = {id(request): request for request in held.values()}
        returned = []
        for request in unfinished.values():
            indices = tuple(index for index, key in zip(request.sample_indices, request_keys(request))
                            if held.get(key) is request)
            # The same request with fewer samples: the engine then seeds each alone as it was seeded within the n.
            returned.append(dataclasses.replace(request, sample_indices=indices))
        self._queue.extendleft(reversed(returned))
        self.requeued_samples += len(held)
        return len(held)
