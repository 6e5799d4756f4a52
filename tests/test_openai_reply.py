"""A server's reply is checked before it becomes samples: what is not an OpenAI completion reply for the request
made is a one-line error naming what was wrong (after the request's retries), never a traceback, a sample silently
missing, or a record holding a count that is not a count. Through `kateval run --backend openai` against a stand-in
server on loopback, and read_reply alone."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kateval.backends.openai_reply import BadReply, read_reply
from kateval.cli import main
from kateval.store import iter_records

ANSWER = "The answer is \\boxed{204}."


def good(n: int) -> dict:
    return {"choices": [{"index": i, "message": {"content": ANSWER}, "finish_reason": "stop"} for i in range(n)],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}}


@pytest.mark.parametrize("payload, n, why", [
    (b"{not json", 1, "not JSON"),
    (b"<html>502 Bad Gateway</html>", 1, "not JSON"),
    (b"[1, 2]", 1, "not a JSON object"),
    (json.dumps({"error": {"message": "model overloaded"}}).encode(), 1, "model overloaded"),
    (json.dumps(good(1)).encode(), 2, "1 choices where 2 samples"),
    (json.dumps({**good(2), "choices": [{**good(2)["choices"][0], "index": 7}, good(2)["choices"][1]]}).encode(), 2,
     "choice indices"),
    (json.dumps({"choices": [{"index": 0, "text": None}]}).encode(), 1, "text is NoneType"),
    (json.dumps({"choices": [{"index": 0, "message": {"content": 5}}]}).encode(), 1, "message content is int"),
    (json.dumps({"choices": [{"index": 0, "text": "x", "token_ids": ["a"]}]}).encode(), 1, "token_ids"),
    (json.dumps({"choices": [{"index": 0, "text": "x", "token_ids": [True]}]}).encode(), 1, "token_ids"),
])
def test_what_is_no_completion_reply_says_why(payload, n, why):
    with pytest.raises(BadReply, match=why):
        read_reply(payload, n)


def test_choices_come_in_index_order_and_odd_counts_are_unknown_not_stored():
    reply = read_reply(json.dumps({
        "choices": [{"index": 1, "text": "b", "finish_reason": 7}, {"index": 0, "text": "a", "token_ids": [3, 4]}],
        "usage": {"prompt_tokens": "10", "completion_tokens": -3, "prompt_tokens_details": {"cached_tokens": 4}},
    }).encode(), 2)
    assert [c.text for c in reply.choices] == ["a", "b"] and reply.choices[0].token_ids == (3, 4)
    assert reply.choices[1].finish_reason is None
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (None, None, 4)


def serve(replies):
    """A loopback server answering each POST with the next of `replies` (bytes), the last one over and over."""
    queue = list(replies)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            data = queue.pop(0) if len(queue) > 1 else queue[0]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_args(server, out, data_dir, *extra):
    return ["run", "--backend", "openai", "--base-url", f"http://127.0.0.1:{server.server_address[1]}/v1",
            "--model", "no-such-model", "--tasks", "aime24", "--limit", "2", "--n", "1",
            "--out", str(out), "--data-dir", str(data_dir), "--no-progress", *extra]


def test_a_garbled_reply_is_retried_then_graded(tmp_path, data_dir):
    server = serve([b"<html>502</html>", json.dumps(good(1)).encode()])
    try:
        assert main(run_args(server, tmp_path / "run", data_dir, "--backend-option", "max_retries=1")) == 0
    finally:
        server.shutdown()
    verdicts = {r["problem_id"]: r["correct"] for r in iter_records(tmp_path / "run")}
    assert verdicts == {"2024-I-1": True, "2024-I-2": False}   # 2024-I-1's answer is 204


def test_a_server_that_keeps_replying_garbage_is_a_one_line_error(tmp_path, data_dir, capsys):
    server = serve([json.dumps({"choices": []}).encode()])
    try:
        assert main(run_args(server, tmp_path / "run", data_dir, "--backend-option", "max_retries=0")) == 2
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert "the server's reply is not an OpenAI completion: 0 choices where 1 samples were asked for" in err
    assert "Traceback" not in err
