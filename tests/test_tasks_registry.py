"""Task cards, the hub path's row mapping, and `kateval tasks`."""
from kateval.cli import main
from kateval.tasks import available_cards, base, load_task, make_adapter


def test_aime_hub_rows_map_to_contest_ids(monkeypatch):
    def fake_hub(hub_id, config, split, revision):
        rows = [{"problem_idx": i, "problem": f"{hub_id} {i}", "answer": str(i)} for i in (1, 15)]
        return rows, base.DataSource("hub", hub_id, revision, "fp")

    monkeypatch.setattr("kateval.tasks.aime.load_hub_rows", fake_hub)
    adapter = make_adapter(available_cards()["aime24"])
    rows, source = adapter.rows_from_hub()
    assert [r["id"] for r in rows] == ["2024-I-1", "2024-I-15", "2024-II-1", "2024-II-15"]
    assert source.location == "MathArena/aime_2024_I,MathArena/aime_2024_II"
    whole_year = make_adapter(available_cards()["aime25"])
    assert whole_year._normalize_hub_row(0, {"problem_idx": 16, "problem": "p", "answer": 7}, None)["id"] == "2025-II-1"


def test_local_aime_ids_and_prompt(data_dir):
    task = load_task("aime26", data_dir)
    assert len(task.problems) == 30 and task.problems[15].problem_id == "2026-II-1"
    prompt = task.adapter.prompt(task.problems[0], "chat")
    assert prompt.messages[0]["content"].endswith("put your final answer within \\boxed{}.")
    assert task.problems[0].fields["problem"] in prompt.messages[0]["content"]


def test_tasks_command_lists_sizes(data_dir, capsys):
    assert main(["tasks", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "aime24" in out and " 30 " in out
