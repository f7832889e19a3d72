"""Verifiers that run an item's content: arithmetic on the real seeds and on planted
faults, a locked-down SQLite, JSON and Python, hostile content, and a plugin installed
from a package."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bare_tui.core.inputs import recipes, verifiers
from bare_tui.core.inputs.verifiers.arithmetic import ANNOTATION, Arithmetic, final_answer
from bare_tui.core.inputs.verifiers.json_value import JSON
from bare_tui.core.inputs.verifiers.python_syntax import Python
from bare_tui.core.inputs.verifiers.sql import SQLite
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, ROOT

SEEDS = [json.loads(line) for line in GSM8K_SEEDS.read_text().splitlines()]


def test_the_seeds_pass_arithmetic_but_two_real_slips_of_gsm8k():
    """Checked on the 200 seeds: 198 verify or hold no arithmetic to check, and the two
    that fail really are wrong (unannotated steps of GSM8K's own train split)."""
    arithmetic = Arithmetic({})
    assert len(SEEDS) == 200
    results = [arithmetic.problems(s["answer"], s) for s in SEEDS]
    failed = {i: found for i, found in enumerate(results) if found}
    assert failed == {167: ["192*100 is 19200, not 1920"], 198: ["6/3 is 2, not .5"]}
    assert 190 <= results.count([]) <= 198  # verified
    unchecked = [i for i, found in enumerate(results) if found is None]
    assert all("<<" not in SEEDS[i]["answer"] for i in unchecked)  # algebra, in words
    # with plain equations unchecked (annotations only), every seed passes
    annotations_only = Arithmetic({"check_plain": False})
    assert not any(annotations_only.problems(s["answer"], s) for s in SEEDS)


def result(annotation: re.Match) -> float:
    return float(annotation.group(1).rpartition("=")[2].replace(",", ""))


def mutants(rng: random.Random) -> list[tuple[str, str]]:
    """(kind, answer) copies of annotated seeds with one planted fault each."""
    out = []
    for seed in SEEDS:
        answer = seed["answer"]
        found = list(ANNOTATION.finditer(answer))
        final = final_answer(answer)
        if not found or final is None:
            continue
        # a changed result: one annotation's stated result (and the number after it) is off
        pick = rng.choice(found)
        expression, _, stated = pick.group(1).rpartition("=")
        wrong = str(int(float(stated.replace(",", ""))) + rng.randint(1, 9))
        out.append(("changed result", answer[:pick.start()] + f"<<{expression}={wrong}>>"
                    + answer[pick.end():]))
        # a wrong final answer: a number the solution never reaches
        solution = answer[:answer.rfind("####")]
        value = float(final.replace(",", ""))
        off = next(v for v in (value + d for d in (7, 13, 29, 101, 1009))
                   if f"{v:g}" not in solution.replace(",", ""))
        out.append(("wrong final answer", answer[:answer.rfind("####")] + f"#### {off:g}"))
        # a dropped annotation: the last step's computation and its result are gone (where
        # that changes the last result, and no plain equation after it gives one)
        last, before = found[-1], found[-2] if len(found) > 1 else None
        after = re.match(r"\$?[\d,.]+", answer[last.end():])
        cut = last.end() + (after.end() if after else 0)
        dropped = answer[:last.start()] + answer[cut:]
        if before is not None and result(before) != result(last) and not re.search(
                r"=\s*\$?\s*\.?\d", dropped[before.end():]):
            out.append(("dropped annotation", dropped))
    return out


def test_planted_faults_fail_arithmetic(capsys):
    """A changed result and a final answer the solution never reaches are always
    caught; a dropped step is caught unless its result is still written elsewhere (the
    final answer may be any result, or a number the solution writes)."""
    arithmetic = Arithmetic({})
    planted = mutants(random.Random(1))
    kinds = {kind: [arithmetic.problems(text, {}) for k, text in planted if k == kind]
             for kind in ("changed result", "wrong final answer", "dropped annotation")}
    made = {kind: len(found) for kind, found in kinds.items()}
    assert all(count >= 20 for count in made.values()), made
    caught = {kind: sum(bool(problems) for problems in found) for kind, found in kinds.items()}
    with capsys.disabled():
        print("\n  planted faults caught: " + ", ".join(
            f"{kind} {caught[kind]}/{made[kind]}" for kind in made))
    assert sum(caught.values()) >= 50
    assert caught["changed result"] == made["changed result"]
    assert caught["wrong final answer"] == made["wrong final answer"]
    assert caught["dropped annotation"] >= 0.75 * made["dropped annotation"]


@pytest.mark.parametrize("expression", [
    "9**9**9", "(" * 5000 + "1" + ")" * 5000, "1" * 10_000, "2**-2000", "10**30*10**30",
    "1/0", "__import__('os').system('true')", "[1]*10", "1 if 1 else 2", "5 % 0",
])
def test_hostile_expressions_are_problems_at_once(expression: str, capsys):
    started = time.perf_counter()
    problems = Arithmetic({}).problems(f"It is <<{expression}=1>>1.\n#### 1", {})
    seconds = time.perf_counter() - started
    assert problems and problems[0].startswith("annotation 1"), problems
    with capsys.disabled():  # shown, not judged: timings do not decide a test
        print(f"\n  {expression[:20]!r}: {problems[0][:70]} ({seconds * 1000:.2f} ms)", end="")


@pytest.mark.parametrize("text", [
    " " * 100_000 + "\n#### 5", "1+" * 50_000 + "1 = 2\n#### 2", "#### " + "9" * 100_000 + "x",
    "<<1+1=2>>2 " + "= 3 " * 30_000 + "\n#### 2", "(" * 100_000 + "1 = 1\n#### 1",
])
def test_huge_hostile_answers_are_read_in_one_pass(text: str, capsys):
    started = time.perf_counter()
    found = Arithmetic({}).problems(text, {})
    seconds = time.perf_counter() - started
    assert found is None or isinstance(found, list)  # an answer, not a hang or a crash
    with capsys.disabled():  # shown, not judged
        print(f"\n  {len(text):,} hostile characters: {seconds * 1000:.0f} ms", end="")


def test_arithmetic_options_are_checked():
    with pytest.raises(BareError, match="tolerance must be a number"):
        Arithmetic({"tolerance": "close"})
    with pytest.raises(BareError, match="has no option 'tolerence'"):
        Arithmetic({"tolerence": 0.1})
    assert Arithmetic({"require_annotations": True}).problems("It is 4.\n#### 4", {}) == [
        "no calculator annotation <<expr=result>> to check"]
    assert Arithmetic({}).problems("It is 4.\n#### 4", {}) is None  # not checkable
    # plain equations, as generated answers write them, are checked
    assert Arithmetic({}).problems("0.90 x 200 = 180 cents.\n#### 180", {}) == []
    assert Arithmetic({}).problems("0.90 x 200 = 18 cents.\n#### 18", {}) == [
        "0.90 x 200 is 180, not 18"]
    assert Arithmetic({}).problems("Ten thirds are <<10/3=3.33>>3.33.\n#### 3.33", {}) == []
    assert Arithmetic({"tolerance": 0}).problems("<<10/3=3.33>>\n#### 3.33", {})
    assert Arithmetic({}).problems("2 + 2 = 4", {}) == ["no final '#### <number>' line"]
    assert Arithmetic({}).problems("it is four", {}) is None


SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT NOT NULL, price REAL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                     placed_at TEXT);
CREATE TABLE order_items (order_id INTEGER REFERENCES orders(id),
                          product_id INTEGER REFERENCES products(id), quantity INTEGER);
"""
ROWS = """
INSERT INTO customers VALUES (1, 'Ada', 'Leeds'), (2, 'Bo', 'York');
INSERT INTO products VALUES (1, 'pen', 1.5), (2, 'ink', 4.0);
INSERT INTO orders VALUES (1, 1, '2026-01-02');
INSERT INTO order_items VALUES (1, 1, 3), (1, 2, 1);
"""
GOOD = [
    "SELECT c.name, count(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
    " GROUP BY c.id",
    "SELECT p.title, sum(oi.quantity * p.price) FROM order_items oi JOIN products p"
    " ON p.id = oi.product_id GROUP BY p.id;",
    "WITH big AS (SELECT * FROM products WHERE price > 2) SELECT title FROM big",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10)"
    " SELECT x FROM n",
]
BAD = {
    "SELECT * FROM invoices": "no such table: invoices",
    "SELECT c.email FROM customers c": "no such column: c.email",
    "SELEC name FROM customers": "syntax error",
    "DELETE FROM orders": "not a read",
    "UPDATE products SET price = 0": "not a read",
    "INSERT INTO customers VALUES (3, 'x', 'y')": "not a read",
    "DROP TABLE orders": "not a read",
    "ATTACH DATABASE '/tmp/bare-tui-attach.db' AS other": "not a read",
    "PRAGMA writable_schema = 1": "not a read",
    "PRAGMA table_info(orders)": "not a read",
    "SELECT load_extension('libevil')": "not a read",
    "VACUUM INTO '/tmp/bare-tui-vacuum.db'": "not a read",
    "SELECT 1; DELETE FROM orders": "more than one statement",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n":
        "step budget",
}


def test_sqlite_accepts_queries_that_run_and_refuses_the_rest(tmp_path, capsys):
    verifier = SQLite({"schema": SCHEMA, "rows": ROWS})
    for query in GOOD:
        assert verifier.problems(query, {}) == [], query
    for query, problem in BAD.items():
        started = time.perf_counter()
        found = verifier.problems(query, {})
        seconds = time.perf_counter() - started
        assert len(found) == 1 and problem in found[0], (query, found)
        if "step budget" in problem:
            with capsys.disabled():
                print(f"\n  a recursive CTE that never ends: stopped in {seconds * 1000:.0f} ms")
    assert not Path("/tmp/bare-tui-attach.db").exists()
    assert not Path("/tmp/bare-tui-vacuum.db").exists()
    # given rows, a query must return one; without rows, compiling and running is enough
    assert verifier.problems("SELECT * FROM customers WHERE city = 'Paris'", {}) == [
        "the query returns no row on the recipe's rows"]
    assert SQLite({"schema": SCHEMA}).problems("SELECT * FROM customers", {}) == []


def test_sqlite_options_are_checked_when_the_recipe_is_built():
    with pytest.raises(BareError, match="needs `schema`"):
        SQLite({})
    with pytest.raises(BareError, match="do not build"):
        SQLite({"schema": "CREATE TABLE (oops"})
    with pytest.raises(BareError, match="do not build"):  # a recipe cannot attach files
        SQLite({"schema": "ATTACH DATABASE '/tmp/bare-tui-x.db' AS x"})
    with pytest.raises(BareError, match="at least 1000"):
        SQLite({"schema": SCHEMA, "steps": 10})


def test_json_and_python_parse_bounded_and_never_run(tmp_path):
    assert JSON({}).problems('{"a": [1, 2]}', {}) == []
    assert JSON({"required": ["a", "b"]}).problems('{"a": 1}', {}) == ["missing key 'b'"]
    assert JSON({"required": ["a"]}).problems("[1]", {})[0].startswith("not a JSON object")
    assert JSON({}).problems("{'a': 1}", {})[0].startswith("not JSON")
    assert "nested deeper" in JSON({}).problems("[" * 100_000 + "]" * 100_000, {})[0]
    assert "nested deeper" in JSON({"max_depth": 3}).problems("[[[[1]]]]", {})[0]
    assert "characters of JSON" in JSON({}).problems(" " * 1_000_001, {})[0]
    marker = tmp_path / "ran"
    assert Python({}).problems(f"open({str(marker)!r}, 'w').write('x')\n", {}) == []
    assert not marker.exists()  # parsed, never run
    assert Python({}).problems("def f(:\n", {})[0].startswith("not Python")
    assert Python({}).problems("(" * 5000 + ")" * 5000, {})[0].startswith("not Python")


RECIPE = """
name = "sql"
thing = "question about a shop's database, with its SQLite query"
description = "Questions about the shop's orders, each with the query that answers it."

[[fields]]
name = "question"
verify = ["python"]

[[fields]]
name = "query"

[[verify]]
name = "sqlite"
field = "query"
schema = '''CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL);'''
rows = "INSERT INTO orders VALUES (1, 9.5);"
"""


def test_a_recipe_names_verifiers_per_field_and_in_tables():
    recipe = recipes.parse_recipe(RECIPE)
    assert [use.label for use in recipe.verifiers] == ["python(question)", "sqlite(query)"]
    built = verifiers.Verifiers(recipe.verifiers)
    outcomes = built.run({"question": "x = 1", "query": "SELECT total FROM orders"})
    assert [(o.verifier, o.ok) for o in outcomes] == [("python(question)", True),
                                                    ("sqlite(query)", True)]
    outcomes = built.run({"question": "what?", "query": "SELECT total FROM invoices"})
    assert [o.ok for o in outcomes] == [False, False]
    assert recipes.parse_recipe(recipes.builtin_source("gsm8k")).verifiers == (
        verifiers.Use("arithmetic", "answer"),)
    with pytest.raises(BareError, match="unknown verifier 'arithmatic'"):
        verifiers.Verifiers([verifiers.Use("arithmatic", "answer")])
    with pytest.raises(BareError, match=r"sqlite\(query\): needs `schema`"):
        verifiers.Verifiers([verifiers.Use("sqlite", "query")])
    with pytest.raises(BareError, match="is not a field of the recipe"):
        recipes.parse_recipe(RECIPE.replace('field = "query"', 'field = "sql"'))


PLUGIN_PROBE = """
from bare_tui.core.inputs import recipes, verifiers
recipe = recipes.parse_recipe('''
name = "words"
thing = "word"
description = "Words."
[[fields]]
name = "word"
verify = ["palindrome"]
''')
built = verifiers.Verifiers(recipe.verifiers)
for word in ("Racecar", "bicycle"):
    print(word, [(o.verifier, o.version, o.problems) for o in built.run({"word": word})])
"""


def test_a_verifier_from_an_installed_package_is_named_by_a_recipe_and_runs(tmp_path):
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(ROOT / "tests/plugin_verifier")],
        capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-c", PLUGIN_PROBE], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "Racecar [('palindrome(word)', '0.1', ())]",
        "bicycle [('palindrome(word)', '0.1', (\"'bicycle' is not a palindrome\",))]"]
    listed = subprocess.run([sys.executable, "-m", "bare_tui", "verifiers"], env={
        **env, "COLUMNS": "200"}, capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "palindrome" in listed.stdout and "bare_tui_palindrome" in listed.stdout
    # without the package, the recipe's verifier is unknown, in one line
    missing = subprocess.run([sys.executable, "-c", PLUGIN_PROBE], capture_output=True,
                             text=True, env={**env, "PYTHONPATH": ""}, cwd=tmp_path)
    assert missing.returncode != 0
    assert "unknown verifier 'palindrome'" in missing.stderr


def test_verify_runs_the_recipes_verifiers_again_and_says_what_it_found(tmp_path):
    from conftest import run_cli

    db = ["--db", str(tmp_path / "w.db")]
    imported = run_cli("candidates", "import", str(GSM8K_SEEDS), "--task", "gsm8k", *db)
    assert imported.returncode == 0, imported.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "w.db") as conn:  # verified on the way in
        assert conn.execute("SELECT count(*), sum(verified = 1), sum(verified = 0),"
                            " sum(verified IS NULL) FROM candidates").fetchone() == (
            200, 193, 2, 5)
        conn.execute("UPDATE candidates SET verified = NULL, verification = NULL")
    result = run_cli("verify", *db)
    assert result.returncode == 0, result.stderr
    assert ("verified 200 versions with arithmetic(answer): 193 verified, 2 failed, 5 with "
            "nothing to check") in " ".join(result.stderr.split())
    assert "yield: verified items: 193 of 200" in result.stderr
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("SELECT count(*) FROM candidates WHERE verified = 0").fetchone() == (2,)
    plain = tmp_path / "plain.toml"
    plain.write_text(recipes.builtin_source("gsm8k").replace('verify = ["arithmetic"]', "")
                     .replace('name = "gsm8k"', 'name = "plain"'))
    refused = run_cli("verify", "--task", str(plain), *db)
    assert refused.returncode == 1 and "names no verifier" in refused.stderr


def test_export_leaves_out_what_fails_a_verifier_and_its_card_says_so(tmp_path):
    from bare_tui.core.datasets.export import export
    from bare_tui.core.generation import pipeline
    from bare_tui.core.inputs.seeds import import_seeds
    from bare_tui.core.reviewing import review
    from bare_tui.core.workspace.store import Store
    from conftest import GOOD_DRAFT, ScriptedBackend

    wrong = GOOD_DRAFT.replace("2 + 3 = 5", "2 + 3 = <<2+3=6>>6").replace("#### 5", "#### 6")
    with Store(tmp_path / "w.db") as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        pipeline.draft(store, task, ScriptedBackend([GOOD_DRAFT, wrong]), 2)
        review.decide(store, [1, 2], "accept", "ann")
        result = export(store, task, tmp_path / "out.jsonl")
        assert (result.written, result.skipped_unverified) == (1, 1)
        assert "left out: 1 failing a verifier" in result.summary()[0]
        card = result.card_path.read_text()
        assert ("Verifiers: `arithmetic(answer)`; 1 item whose final text fails a verifier "
                "were left out.") in card
        assert json.loads(result.manifest_path.read_text())["skipped"]["unverified"] == 1
        both = export(store, task, tmp_path / "all.jsonl", include_unverified=True)
        assert both.written == 2 and "were included (--include-unverified)" in (
            both.card_path.read_text())
        plain = recipes.parse_recipe(recipes.builtin_source("gsm8k").replace(
            'verify = ["arithmetic"]', "").replace('name = "gsm8k"', 'name = "plain"'))
        import_seeds(store, plain, GSM8K_SEEDS)
        pipeline.draft(store, plain, ScriptedBackend([wrong]), 1)
        review.decide(store, [3], "accept", "ann")
        unchecked = export(store, plain, tmp_path / "plain.jsonl")
        assert unchecked.written == 1
        assert "No verifier ran: the recipe names none" in unchecked.card_path.read_text()


def test_the_review_list_marks_and_filters_by_verification(tmp_path):
    from bare_tui.core.generation import pipeline
    from bare_tui.core.inputs.seeds import import_seeds
    from bare_tui.core.reviewing import review_list
    from bare_tui.core.workspace.store import Store
    from conftest import GOOD_DRAFT, ScriptedBackend

    wrong = GOOD_DRAFT.replace("2 + 3 = 5", "2 + 3 = 6").replace("#### 5", "#### 6")
    words = GOOD_DRAFT.replace("2 + 3 = 5", "two and three")  # nothing to check
    with Store(tmp_path / "w.db") as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        pipeline.draft(store, task, ScriptedBackend([GOOD_DRAFT, wrong, words]), 3)
        assert review_list.candidate_ids(store, "gsm8k", "verified") == [1]
        assert review_list.candidate_ids(store, "gsm8k", "failed verification") == [2]
        rows = review_list.summaries(store, [1, 2, 3])
        assert [rows[i].verified for i in (1, 2, 3)] == [True, False, None]


def test_an_edit_is_verified_as_it_is_saved_and_undo_restores_the_state(tmp_path):
    from bare_tui.core.generation import pipeline
    from bare_tui.core.inputs import verifying
    from bare_tui.core.inputs.seeds import import_seeds
    from bare_tui.core.reviewing import review
    from bare_tui.core.workspace import current, yields
    from bare_tui.core.workspace.store import Store
    from conftest import GOOD_DRAFT, ScriptedBackend

    with Store(tmp_path / "w.db") as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        pipeline.draft(store, task, ScriptedBackend([GOOD_DRAFT]), 1)
        assert current.current(store, 1).final_verified is True
        broken = {"question": "Ann has 2 pens and buys 3. How many?",
                  "answer": "2 + 3 = 6\n#### 6"}
        verdict = verifying.verify(task, broken).as_state()
        review.decide(store, [1], "edit", "ann",
                      change=review.Change(fields=broken, verdict=verdict))
        shown = current.current(store, 1)
        assert shown.final_version == "edited" and shown.final_verified is False
        assert shown.verification_problems == ["arithmetic(answer): 2 + 3 is 5, not 6"]
        assert yields.measure(store, task.name).verified == 0
        review.decide(store, [1], "accept", "ann")  # an accepted edit keeps its result
        assert current.current(store, 1).final_verified is False
        review.undo(store, "ann")
        review.undo(store, "ann")
        assert current.current(store, 1).final_verified is True  # the draft's, again
        assert yields.measure(store, task.name).verified == 1
