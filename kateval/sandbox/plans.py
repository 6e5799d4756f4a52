"""Check jobs without a round trip per call: the calls a check makes of the program are recorded once against the
data's reference solution (a plan), the program answers all of them in one batch like a call job, and the judge
replays the check on those answers. Standard library only (handed to the judge server as source).

TRUSTED: both channels here run in the judge. RecordChannel runs the reference solution (the data's own code) in
the judge's process; ReplayChannel holds no program at all, only the answers the program gave, strictly decoded.
A replay is the live check exactly when the check asks for the same calls in the same order, which it verifies
call by call: any other call (different arguments, one more call, an attribute, a truth value, an answer that is
an object of the program's rather than plain data) raises Diverged, and the parent runs the job again against the
live program (judge.Channel). The answers a program gives in a batch are those it would give one at a time: the
same calls reach the same process in the same order.
"""
import builtins
import json

from kateval.sandbox import protocol
from kateval.sandbox.judge import CandidateLost, Channel, Diverged, Handle, load_failure, read_answer

ENTRY = 0   # the handle number the entry point gets in a replay


def plan_entry(encoded_args):
    """A call as the plan holds it (and as the replay compares it): its encoded arguments as JSON text."""
    return json.dumps(encoded_args, sort_keys=True)


def holds_any(encoded, texts):
    """Whether `encoded` (an encoded value) or any value inside it is, as plan_entry text, one of `texts`."""
    stack = [encoded]
    while stack:
        value = stack.pop()
        if plan_entry(value) in texts:
            return True
        if type(value) is list:
            stack.extend(value)
        elif type(value) is dict:
            stack.extend(value.values())
    return False


class RecordChannel:
    """The reference solution in place of the program: its entry point, called through a recorder that hands it
    and takes back fresh plain copies (as the live program would) and writes down each call.

    A plan hands the program every call's arguments at once, so it must not hold what the reference answered:
    where a call's arguments hold an earlier answer (a test feeding one result into the next call, or the same
    value by chance), there is no plan and the program answers live, one call at a time."""

    def __init__(self, code):
        self.code, self.calls, self.plannable = code, [], True
        self.answers = set()      # each earlier answer, as plan_entry text
        self.namespace = {"__builtins__": builtins, "__name__": "solution"}

    def loaded(self):
        exec(compile(self.code, "<reference>", "exec"), self.namespace)  # noqa: S102 - the data's own solution

    def names(self, names):
        found = {name: self.namespace[name] for name in names if name in self.namespace}
        if len(names) != 1:   # other program names (objects the setup builds): no plan
            self.plannable = False
        if names and names[0] in found and callable(found[names[0]]):
            found[names[0]] = self._recorder(found[names[0]])
        return found

    def _recorder(self, function):
        def entry_point(*args, **kwargs):
            try:
                encoded = protocol.encode(list(args))
                self.calls.append(plan_entry(encoded))
                self.plannable = self.plannable and not holds_any(encoded, self.answers)
                args = protocol.decode(encoded)
            except (protocol.Unencodable, ValueError):
                self.plannable = False
            self.plannable = self.plannable and not kwargs
            value = function(*args, **kwargs)
            try:
                answer = protocol.encode(value)
                self.answers.add(plan_entry(answer))
                return protocol.decode(answer)
            except (protocol.Unencodable, ValueError):
                self.plannable = False
                return value
        return entry_point

    def summary(self):
        return {"plan": self.calls if self.plannable else None}


class ReplayChannel:
    """The program's batch of answers in place of the program."""

    def __init__(self, plan, answers, load):
        self.plan, self.answers, self.load, self.next = plan, answers, load, 0
        self.decode = protocol.Decoder(numpy=True, handle=self._no_handle)

    def loaded(self):
        return load_failure(self.load)

    def names(self, names):
        if len(names) != 1:
            raise Diverged()
        return {names[0]: Handle(self, ENTRY)}

    encode = staticmethod(Channel.encode)

    def request(self, message):
        """The answer the program gave to this call, provided the plan holds this very call next."""
        if message.get("op") != "call" or message.get("target") != {"h": ENTRY} or message.get("kwargs") \
                or self.next >= len(self.plan) or plan_entry(message.get("args", [])) != self.plan[self.next]:
            raise Diverged()
        answer = self.answers[self.next]
        self.next += 1
        if answer[0] == "lost":
            raise CandidateLost(str(answer[1]))
        raw = answer[1].encode("latin-1")
        return read_answer(raw[:1], raw[1:], self.decode)

    @staticmethod
    def _no_handle(number):
        raise Diverged()

    @staticmethod
    def summary():
        return {}
