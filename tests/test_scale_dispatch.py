"""The work queue replicas pull from: capacity, balance by work, a lost replica's samples, no duplicates."""
from __future__ import annotations

import dataclasses

from kateval.scale.dispatch import WorkQueue, per_sample
from kateval.types import Completion, Prompt, Request

PROMPT = Prompt(text="q")


def request(problem: str, indices=(0, 1, 2, 3), task: str = "t") -> Request:
    return Request(task, problem, PROMPT, seed=7, sample_indices=tuple(indices))


def completions(req: Request, indices=None, tokens: int = 1) -> list[Completion]:
    return [Completion(req.task, req.problem_id, i, "x", (1,) * tokens, "stop")
            for i in (req.sample_indices if indices is None else indices)]


def test_take_fills_a_replica_up_to_its_capacity_in_queue_order():
    work = WorkQueue([request(f"p{i}") for i in range(5)])
    assert [r.problem_id for r in work.take(0, capacity=8)] == ["p0", "p1"]
    assert work.take(0, capacity=8) == []             # full until it returns samples
    assert [r.problem_id for r in work.take(1, capacity=8)] == ["p2", "p3"]
    assert work.in_flight(0) == 8 and work.queued_samples == 4


def test_a_request_larger_than_the_capacity_goes_whole_to_an_empty_replica_only():
    work = WorkQueue([request("big", range(10)), request("small", (0,))])
    assert [r.problem_id for r in work.take(0, capacity=4)] == ["big"]
    assert work.take(0, capacity=4) == []


def test_a_replica_that_returns_samples_takes_more_so_short_work_does_not_idle_a_replica():
    requests = [request(f"p{i}", (0,)) for i in range(6)]
    work = WorkQueue(requests)
    first = {replica: work.take(replica, capacity=1) for replica in (0, 1)}
    # replica 0 gets short outputs and comes back three times while replica 1 still works on its first request
    served = {0: [first[0][0].problem_id], 1: [first[1][0].problem_id]}
    for _ in range(3):
        done = next(r for r in requests if r.problem_id == served[0][-1])
        assert work.finish(0, completions(done)) != []
        served[0].append(work.take(0, capacity=1)[0].problem_id)
    assert len(served[0]) == 4 and len(served[1]) == 1
    assert not work.done


def test_finish_accepts_each_sample_once_and_only_from_the_replica_holding_it():
    req = request("p0")
    work = WorkQueue([req])
    work.take(0, capacity=8)
    assert work.finish(1, completions(req)) == []                        # not given to replica 1
    assert len(work.finish(0, completions(req, (0, 1)))) == 2
    assert work.finish(0, completions(req, (0, 1))) == []                # repeats are dropped
    assert len(work.finish(0, completions(req, (2, 3, 3)))) == 2
    assert work.done


def test_a_lost_replica_returns_only_its_unfinished_samples_to_the_front_of_the_queue():
    first, second, third = request("p0"), request("p1"), request("p2", (5,))
    work = WorkQueue([first, second, third])
    work.take(0, capacity=8)                       # p0 and p1
    work.finish(0, completions(first, (0, 2)))
    assert work.lose(0) == 6 and work.requeued_samples == 6
    again = work.take(1, capacity=100)   # p0 was measured by its finished samples: unmeasured problems go first
    assert [(r.problem_id, r.sample_indices) for r in again] == [("p1", (0, 1, 2, 3)), ("p2", (5,)), ("p0", (1, 3))]
    assert again[0].seed == first.seed and again[0].prompt == first.prompt   # the rest of the request unchanged
    assert work.finish(0, completions(first, (1,))) == []                # the lost replica's late samples
    work.finish(1, [c for r in again for c in completions(r)])
    assert work.done


def test_requests_for_one_sample_never_share_a_replica_so_each_completion_names_one_request():
    # A sweep asks for sample (t, p0, 0) in two cells (other modes or budgets, same key).
    auto, forced = request("p0", (0, 1)), dataclasses.replace(request("p0", (0, 1)), mode="on")
    other = request("p1", (0,))
    work = WorkQueue([auto, forced, other])
    assert work.take(0, capacity=8) == [auto, other]          # the forced cell waits, the queue goes on
    assert work.take(1, capacity=8) == [forced]
    answered = work.finish(1, completions(forced))
    assert len(answered) == 2 and work.finish(0, completions(auto)) != []
    again = WorkQueue([auto, forced])
    again.take(0, capacity=8)
    again.finish(0, completions(auto))
    assert again.take(0, capacity=8) == [forced]               # once the first is back, the same replica may


def test_requests_without_samples_are_no_work():
    work = WorkQueue([request("p0", ())])
    assert work.done and work.take(0, capacity=4) == []


def test_a_call_starts_with_an_even_deal_when_the_queue_is_shorter_than_the_replicas_capacity():
    work = WorkQueue([request(f"p{i}") for i in range(7)])
    dealt = work.deal({0: 256, 1: 256, 2: 256})
    assert [len(dealt[r]) for r in (0, 1, 2)] == [3, 2, 2]
    assert [r.problem_id for r in dealt[0]] == ["p0", "p3", "p6"]
    capped = WorkQueue([request(f"p{i}") for i in range(7)]).deal({0: 8, 1: 4})
    assert [len(capped[0]), len(capped[1])] == [2, 1]


def test_every_problem_gets_a_sample_out_before_any_gets_a_second():
    work = WorkQueue(per_sample([request(f"p{i}", (0, 1, 2)) for i in range(3)]))
    taken = work.take(0, capacity=100)
    assert [(r.problem_id, r.sample_indices) for r in taken] == [
        (f"p{i}", (s,)) for s in range(3) for i in range(3)]


def test_problems_whose_samples_ran_longest_are_served_first_and_unmeasured_ones_keep_their_turn():
    requests = per_sample([request(f"p{i}", (0, 1, 2)) for i in range(4)])
    work = WorkQueue(requests)
    first = work.take(0, capacity=4)                      # sample 0 of p0..p3
    lengths = {"p0": 10, "p1": 500, "p2": 40}             # p3's first sample is still running
    for req in first[:3]:
        work.finish(0, completions(req, tokens=lengths[req.problem_id]))
    order = [r.problem_id for r in work.take(1, capacity=100)]
    assert order == ["p3", "p3", "p1", "p1", "p2", "p2", "p0", "p0"]


def test_completions_without_token_ids_are_measured_by_their_count():
    requests = per_sample([request(f"p{i}", (0, 1)) for i in range(2)])
    work = WorkQueue(requests)
    short, long_ = work.take(0, capacity=2)
    work.finish(0, [dataclasses.replace(completions(short)[0], token_ids=None, completion_tokens=5),
                    dataclasses.replace(completions(long_)[0], token_ids=None, completion_tokens=900)])
    assert [r.problem_id for r in work.take(0, capacity=2)] == [long_.problem_id, short.problem_id]


def test_per_sample_keeps_everything_but_the_sample_indices():
    forced = dataclasses.replace(request("p0", (2, 5)), mode="on", thinking_budget=64)
    assert per_sample([forced, request("p1", ())]) == [dataclasses.replace(forced, sample_indices=(2,)),
                                                        dataclasses.replace(forced, sample_indices=(5,))]
