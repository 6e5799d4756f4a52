"""A simulated cluster of continuous-batching engines, for bench_scale.py: how long a run takes on R replicas when
requests are pulled from one queue (kateval.scale.dispatch, the real code) against splitting them up front.

Engine model: a replica decodes up to `slots` sequences at once (vLLM's max_num_seqs); every running sequence
gains one token per step whatever the batch size (decoding is memory-bound), so a sequence of L tokens admitted at
step t finishes at t + L. A request of n samples is n sequences; its output comes back when all n are done (vLLM's
final-only output), and only then does the driver count its samples as returned. Requests a replica was given
wait in its engine queue for a free slot. KV-cache limits and prefill are left out.
"""
from __future__ import annotations

import heapq
import itertools
import math
import random
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from kateval.scale.dispatch import WorkQueue, per_sample
from kateval.types import Completion, Prompt, Request

PROMPT = Prompt(text="simulated")


@dataclass
class Workload:
    lengths: list[list[int]]   # per problem, the token count of each of its samples
    spread: float = 0.0        # the log-length standard deviation among one problem's samples

    @property
    def tokens(self) -> int:
        return sum(map(sum, self.lengths))

    def ideal_steps(self, replicas: int, slots: int) -> float:
        """No schedule beats every slot of every replica busy until the end, nor the longest sample."""
        return max(self.tokens / (replicas * slots), max(max(lengths) for lengths in self.lengths))


def workload_from_outputs(outputs: Sequence[Sequence[int]], n: int, seed: int = 0) -> Workload:
    """Each problem's n sample lengths, from the real outputs of that problem (`outputs[p]`: their token counts,
    several models): a problem's typical length is the geometric mean of its outputs, and samples spread around it
    log-normally by the within-problem spread those outputs show (how far two models' lengths on one problem lie
    apart), so both the long tail across problems and the likeness of a problem's own samples come from the data."""
    logs = [[math.log(max(1, length)) for length in lengths] for lengths in outputs]
    pairs = [values for values in logs if len(values) >= 2]
    spread = math.sqrt(sum((a - b) ** 2 for a, b, *_ in pairs) / (2 * len(pairs))) if pairs else 0.0
    draw = random.Random(seed)
    return Workload([[max(1, round(math.exp(statistics.fmean(values) + draw.gauss(0.0, spread)))) for _ in range(n)]
                     for values in logs], spread)


@dataclass
class _Engine:
    slots: int
    running: int = 0
    waiting: deque = field(default_factory=deque)   # (request, length) of sequences not yet admitted


class _Cluster:
    def __init__(self, workload: Workload, replicas: int, slots: int):
        self.workload = workload
        self.engines = [_Engine(slots) for _ in range(replicas)]
        self.events: list[tuple[int, int, int, Request]] = []   # (finish step, tie-break, replica, request)
        self.left: dict[int, int] = {}                          # id(request) -> its sequences still running
        self._order = itertools.count()
        self.now = 0

    def submit(self, replica: int, request: Request) -> None:
        lengths = self.workload.lengths[int(request.problem_id)]
        self.left[id(request)] = len(request.sample_indices)
        self.engines[replica].waiting.extend((request, lengths[index]) for index in request.sample_indices)
        self._admit(replica)

    def _admit(self, replica: int) -> None:
        engine = self.engines[replica]
        while engine.waiting and engine.running < engine.slots:
            request, length = engine.waiting.popleft()
            engine.running += 1
            heapq.heappush(self.events, (self.now + length, next(self._order), replica, request))

    def next_finished(self) -> tuple[int, Request] | None:
        """Advance to the next finished sequence that ends its request: (replica, request); None when all are done."""
        while self.events:
            self.now, _, replica, request = heapq.heappop(self.events)
            self.engines[replica].running -= 1
            self._admit(replica)
            self.left[id(request)] -= 1
            if self.left[id(request)] == 0:
                return replica, request
        return None


def requests_of(workload: Workload) -> list[Request]:
    """One request per problem, all its samples (what a run hands the backend)."""
    return [Request("sim", str(index), PROMPT, seed=0, sample_indices=tuple(range(len(lengths))))
            for index, lengths in enumerate(workload.lengths)]


def split_up_front(workload: Workload, replicas: int, slots: int, order: str) -> int:
    """Steps until the last replica finishes when each gets a fixed, equal count of the run's requests, all at
    once: `contiguous` chunks of the list (splitting a file by hand) or every R-th request (`strided`)."""
    cluster = _Cluster(workload, replicas, slots)
    requests = requests_of(workload)
    for position, request in enumerate(requests):
        cluster.submit(position * replicas // len(requests) if order == "contiguous" else position % replicas,
                       request)
    while cluster.next_finished():
        pass
    return cluster.now


def pull(workload: Workload, replicas: int, slots: int, capacity: int) -> int:
    """Steps until done when replicas pull single samples (kateval.scale.dispatch.per_sample) from one queue
    through kateval's WorkQueue (its order included), `capacity` samples in flight each."""
    work = WorkQueue(per_sample(requests_of(workload)))
    cluster = _Cluster(workload, replicas, slots)
    for replica, taken in work.deal(dict.fromkeys(range(replicas), capacity)).items():
        for request in taken:
            cluster.submit(replica, request)
    while (finished := cluster.next_finished()) is not None:
        replica, request = finished
        length = workload.lengths[int(request.problem_id)][request.sample_indices[0]]
        work.finish(replica, [Completion("sim", request.problem_id, request.sample_indices[0], "", None, "stop",
                                         completion_tokens=length)])
        for taken in work.take(replica, capacity):
            cluster.submit(replica, taken)
    assert work.done
    return cluster.now


def greedy(workload: Workload, replicas: int, slots: int, longest_first: bool) -> int:
    """Steps until done when every free slot anywhere takes the next sample of one fixed order: the run's own
    order (first in, first out: pulling without kateval's ordering), or longest first with the lengths known
    beforehand, which no real scheduler can do (the reference for what ordering could gain)."""
    cluster = _Cluster(workload, replicas, slots)
    samples = [(length, problem, index) for problem, lengths in enumerate(workload.lengths)
               for index, length in enumerate(lengths)]
    if longest_first:
        samples.sort(reverse=True)
    queue = deque(Request("sim", str(problem), PROMPT, seed=0, sample_indices=(index,))
                  for _, problem, index in samples)
    for _ in range(slots):
        for replica in range(replicas):
            if queue:
                cluster.submit(replica, queue.popleft())
    while (finished := cluster.next_finished()) is not None:
        if queue:
            cluster.submit(finished[0], queue.popleft())
    return cluster.now
