"""Sharing one generate() call's requests among replicas by work, not by count.

Each replica holds at most `capacity` samples in flight (about what its engine batches at once). Whenever it
returns samples it takes the next ones from the one shared queue, so a replica that drew short outputs just takes
more, and no replica idles while the queue holds work. A lost replica's unfinished samples go back to the queue for
the others. A completion is accepted once, and only from the replica holding its sample: nothing is stored twice.

Which samples go first: the run ends when its last long sample ends, so long work should start early. Lengths are
not known in advance, but samples of one problem have similar lengths (the official LiveCodeBench outputs of two
models on the same problem correlate at 0.78 in log length). So the queue first deals one sample of every problem
in turn (breadth first: a problem's first finished sample measures it), and after that serves problems whose
finished samples were longest first; problems with nothing finished yet (the long ones, early on) keep their turn.
The order changes only when samples are generated, never what is generated.

A sample is known by (task, problem_id, sample_index). One call may ask for that sample more than once (a sweep's
cells differ in mode or budget, not in that key); a replica is then never given a second request for a sample it
still holds, so what it returns always names exactly one request, whatever else a request carries.

Pure bookkeeping (no processes, no clocks): the replicated backend drives it with real replicas, the scaling
benchmark with simulated ones.
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections import deque
from collections.abc import Sequence

from kateval.types import Completion, Request

SampleKey = tuple[str, str, int]
ProblemKey = tuple[str, str]
LOOKAHEAD = 1024   # requests a replica looks past when the next ones ask for samples it holds


def request_keys(request: Request) -> list[SampleKey]:
    return [(request.task, request.problem_id, index) for index in request.sample_indices]


def completion_key(completion: Completion) -> SampleKey:
    return (completion.task, completion.problem_id, completion.sample_index)


def per_sample(requests: Sequence[Request]) -> list[Request]:
    """Each sample its own request. A replica then counts exactly the sequences its engine still runs (an n-sample
    request would hold n slots until its longest sample ends), and the engine seeds each sample as within its n
    (backends/base.py sample_groups), so the token ids do not change. The prompt is computed once per engine and
    then comes from its prefix cache."""
    return [dataclasses.replace(request, sample_indices=(index,)) if len(request.sample_indices) > 1 else request
            for request in requests for index in request.sample_indices]


class WorkQueue:
    def __init__(self, requests: Sequence[Request]):
        self._buckets: dict[ProblemKey, deque[Request]] = {}    # each problem's queued requests, in order
        for request in requests:
            if request.sample_indices:
                self._buckets.setdefault((request.task, request.problem_id), deque()).append(request)
        self._unmeasured: deque[ProblemKey] = deque(self._buckets)   # no finished sample yet: served in turn
        self._longest: list[tuple[float, int, ProblemKey]] = []      # heap: (-mean finished length, tie, problem)
        self._lengths: dict[ProblemKey, tuple[int, int]] = {}        # finished tokens, finished samples
        self._ties = itertools.count()
        self._held: dict[int, dict[SampleKey, Request]] = {}   # replica -> sample key -> the request holding it
        self.queued_samples = sum(len(r.sample_indices) for bucket in self._buckets.values() for r in bucket)
        self.requeued_samples = 0

    @property
    def done(self) -> bool:
        return not self.queued_samples and not any(self._held.values())

    def in_flight(self, replica: int) -> int:
        return len(self._held.get(replica, ()))

    def deal(self, capacities: dict[int, int]) -> dict[int, list[Request]]:
        """Requests for several replicas at once (a call's start), one request to each in turn: when the queue is
        shorter than their joint capacity, every replica still gets an even share instead of the first few all."""
        dealt: dict[int, list[Request]] = {replica: [] for replica in capacities}
        while True:
            progress = False
            for replica, capacity in capacities.items():
                taken = self.take(replica, capacity, most=1)
                dealt[replica] += taken
                progress = progress or bool(taken)
            if not progress:
                return dealt

    def take(self, replica: int, capacity: int, most: int | None = None) -> list[Request]:
        """The next requests (at most `most`) for `replica`, keeping it at most `capacity` samples in flight; a
        request larger than that is given whole to a replica that holds nothing."""
        held = self._held.setdefault(replica, {})
        taken: list[Request] = []
        passed: list[Request] = []   # asks for a sample the replica holds: goes back, in order
        while len(passed) < LOOKAHEAD and (most is None or len(taken) < most):
            request = self._pop()
            if request is None:
                break
            if held and len(held) + len(request.sample_indices) > capacity:
                passed.append(request)
                break
            keys = request_keys(request)
            if any(key in held for key in keys):
                passed.append(request)
                continue
            held.update(dict.fromkeys(keys, request))
            taken.append(request)
        for request in reversed(passed):
            self._push_front(request)
        return taken

    def finish(self, replica: int, completions: Sequence[Completion]) -> list[Completion]:
        """The completions that answer samples `replica` holds; any other (a repeat, a stale round) is dropped."""
        held = self._held.get(replica, {})
        accepted = [completion for completion in completions if held.pop(completion_key(completion), None) is not None]
        for completion in accepted:
            tokens = len(completion.token_ids) if completion.token_ids is not None else completion.completion_tokens
            if tokens is not None:
                self._measure((completion.task, completion.problem_id), tokens)
        return accepted

    def lose(self, replica: int) -> int:
        """Put the unfinished samples of a lost replica back in the queue, ahead of their problems' others;
        returns how many."""
        held = self._held.pop(replica, {})
        unfinished: dict[int, Request] = {id(request): request for request in held.values()}
        for request in reversed(list(unfinished.values())):
            indices = tuple(index for index, key in zip(request.sample_indices, request_keys(request))
                            if held.get(key) is request)
            # The same request with fewer samples: the engine then seeds each alone as it was seeded within the n.
            self._push_front(dataclasses.replace(request, sample_indices=indices))
        self.requeued_samples += len(held)
        return len(held)

    # ------------------------------------------------------------------ the order (see the module's doc)
    def _pop(self) -> Request | None:
        while self._unmeasured:
            problem = self._unmeasured.popleft()
            bucket = self._buckets[problem]
            if bucket and problem not in self._lengths:
                if len(bucket) > 1:
                    self._unmeasured.append(problem)   # its next sample waits for every other problem's turn
                return self._take_from(bucket)
        while self._longest:
            negative_mean, _, problem = self._longest[0]
            bucket = self._buckets[problem]
            if not bucket or -negative_mean != self._mean(problem):
                heapq.heappop(self._longest)   # drained, or an older measure of the problem
                continue
            return self._take_from(bucket)
        return None

    def _take_from(self, bucket: deque[Request]) -> Request:
        request = bucket.popleft()
        self.queued_samples -= len(request.sample_indices)
        return request

    def _push_front(self, request: Request) -> None:
        problem = (request.task, request.problem_id)
        self._buckets.setdefault(problem, deque()).appendleft(request)
        self.queued_samples += len(request.sample_indices)
        if problem in self._lengths:
            heapq.heappush(self._longest, (-self._mean(problem), next(self._ties), problem))
        else:
            self._unmeasured.appendleft(problem)

    def _measure(self, problem: ProblemKey, tokens: int) -> None:
        total, count = self._lengths.get(problem, (0, 0))
        self._lengths[problem] = (total + tokens, count + 1)
        if self._buckets.get(problem):
            heapq.heappush(self._longest, (-self._mean(problem), next(self._ties), problem))

    def _mean(self, problem: ProblemKey) -> float:
        total, count = self._lengths[problem]
        return total / count
