import json
import os
from pathlib import Path

import pytest

from bare_tui.core.datasets.export import PROFILES, export
from bare_tui.core.reviewing import review
from bare_tui.errors import BareError


def lines(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_accepted_chat_export_with_manifest(drafted, gsm8k, tmp_path: Path):
    review.decide(drafted, [1], "accept", "ann")
    review.decide(drafted, [3], "accept_draft", "ann")
    out = tmp_path / "train.jsonl"
    result = export(drafted, gsm8k, out)
    assert result.written == 2
    [first, second] = lines(out)
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][1]["content"] == "Anna has 2 pens and buys 3. How many?"
    assert second["messages"][1]["content"] == "Ann has 2 pens and buys 3. How many?"
    manifest = json.loads((tmp_path / "train.manifest.json").read_text())
    assert manifest["count"] == 2 and manifest["task"] == "gsm8k"
    assert manifest["versions"] == {"refined": 1, "draft": 1}
    assert manifest["candidate_ids"] == [1, 3]
    assert {m["kind"] for m in manifest["models"]} == {"draft", "refine"}
    assert manifest["filters"] == {"status": "accepted", "include_invalid": False,
                                   "include_unverified": False, "include_flagged": False,
                                   "since_last": False}
    assert drafted.scalar("SELECT count FROM exports") == 2


def test_every_profile_shape(drafted, gsm8k, tmp_path: Path):
    shapes = {}
    for profile in PROFILES:
        out = tmp_path / f"{profile}.jsonl"
        result = export(drafted, gsm8k, out, profile=profile, status="any")
        if profile in ("dpo", "dpo-chat", "kto", "kto-chat"):
            # nothing is decided yet: no preference, and an empty file that says so
            assert lines(out) == [] and result.rows == 0
            assert "wrote 0 " in result.summary()[0]
            continue
        shapes[profile] = lines(out)[0]
    assert shapes["fields"] == {"question": "Anna has 2 pens and buys 3. How many?",
                                "answer": "2 + 3 = 5\n#### 5"}
    assert set(shapes["alpaca"]) == {"instruction", "input", "output", "system"}
    assert shapes["alpaca"]["output"] == "2 + 3 = 5\n#### 5"
    assert [t["from"] for t in shapes["sharegpt"]["conversations"]] == ["human", "gpt"]


def test_invalid_items_are_skipped_unless_asked(drafted, gsm8k, tmp_path: Path):
    out = tmp_path / "all.jsonl"
    assert export(drafted, gsm8k, out, status="any").skipped_invalid == 1
    assert len(lines(out)) == 2
    assert export(drafted, gsm8k, out, status="any", include_invalid=True,
                  force=True).written == 3


def test_edited_text_is_exported(drafted, gsm8k, tmp_path: Path):
    review.decide(drafted, [2], "edit", "ann", fields={"question": "Fixed?", "answer": "#### 3"})
    review.decide(drafted, [2], "accept", "ann")
    out = tmp_path / "e.jsonl"
    export(drafted, gsm8k, out, profile="fields")
    assert lines(out) == [{"question": "Fixed?", "answer": "#### 3"}]


def test_unwritable_paths_are_one_line_and_leave_old_file(drafted, gsm8k, tmp_path: Path):
    with pytest.raises(BareError, match="does not exist"):
        export(drafted, gsm8k, tmp_path / "missing" / "out.jsonl")
    # /sys refuses new files even to root; a read-only folder does for other users.
    locked = Path("/sys") if os.geteuid() == 0 else tmp_path / "locked"
    if locked != Path("/sys"):
        locked.mkdir()
        locked.chmod(0o500)
    with pytest.raises(BareError, match="cannot write .*Permission denied"):
        export(drafted, gsm8k, locked / "out.jsonl", status="any")
    assert not (locked / "out.jsonl").exists()


def test_failed_export_keeps_the_previous_file(drafted, gsm8k, tmp_path: Path, monkeypatch):
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bare_tui.core.datasets.export_files.os.replace", broken_replace)
    with pytest.raises(BareError, match="No space left"):
        export(drafted, gsm8k, out, status="any", force=True)
    assert out.read_text() == "previous\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl")]


def test_chat_profile_needs_export_templates(store, tmp_path: Path):
    from bare_tui.core.inputs import recipes

    task = recipes.parse_recipe(
        'name = "t"\nthing = "x"\ndescription = "d"\n[[fields]]\nname = "a"\n')
    with pytest.raises(BareError, match=r"needs an \[export\] section"):
        export(store, task, tmp_path / "x.jsonl", profile="chat")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_export_files_follow_the_umask(drafted, gsm8k, tmp_path: Path, umask, mode):
    review.decide(drafted, [1], "accept", "ann")
    previous = os.umask(umask)
    try:
        result = export(drafted, gsm8k, tmp_path / "train.jsonl")
    finally:
        os.umask(previous)
    assert result.path.stat().st_mode & 0o777 == mode
    assert result.manifest_path.stat().st_mode & 0o777 == mode
