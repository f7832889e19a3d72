"""The workspace schema, one migration per version.

Each step is idempotent (`if_not_exists`, column checks), so a crash half-way through
is repaired by running it again; `Store` runs the steps above the file's `user_version`
and sets it after each. To change the schema, add `_migrate_vN`, list it in
`MIGRATIONS` and raise `SCHEMA_VERSION`; never edit an earlier step. A view that changes
is made in full by the new step, from a constant of its own (`CANDIDATE_STATE_V13`), and
earlier steps keep theirs (`CANDIDATE_STATE_V17` is the view now).
"""

from __future__ import annotations

import sqlite_utils

SCHEMA_VERSION = 18


def _migrate_v1(db: sqlite_utils.Database) -> None:
    db["tasks"].create(
        {"name": str, "recipe": str, "recipe_sha256": str, "created_at": float},
        pk="name",
        if_not_exists=True,
    )
    db["seeds"].create(
        {"id": int, "task": str, "fields": str, "source": str, "content_sha256": str,
         "created_at": float},
        pk="id",
        if_not_exists=True,
    )
    db["seeds"].create_index(["task", "content_sha256"], unique=True, if_not_exists=True)
    db["runs"].create(
        {"id": int, "kind": str, "task": str, "model": str, "model_path": str,
         "model_sha256": str, "params": str, "rng_seed": int, "target": int,
         "status": str, "produced": int, "parse_failures": int, "prompt_tokens": int,
         "completion_tokens": int, "generation_ms": float, "started_at": float,
         "finished_at": float, "pid": int, "host": str, "error": str},
        pk="id",
        if_not_exists=True,
    )
    # What every generated sample records, draft or refinement.
    sample = {"run_id": int, "seed": int, "raw_text": str, "fields": str, "parse_error": str,
              "validation": str, "valid": int, "finish_reason": str, "prompt_tokens": int,
              "completion_tokens": int, "ms": float, "created_at": float}
    db["candidates"].create(
        {"id": int, "task": str, "shot_ids": str, **sample}, pk="id", if_not_exists=True
    )
    db["candidates"].create_index(["task"], if_not_exists=True)
    db["refinements"].create(
        {"id": int, "candidate_id": int, **sample}, pk="id", if_not_exists=True
    )
    db["refinements"].create_index(["candidate_id"], if_not_exists=True)
    # Append-only audit trail of review decisions; `decisions` is kept in step with it
    # in the same transaction and holds the current state per candidate.
    db["events"].create(
        {"id": int, "group_id": int, "candidate_id": int, "action": str, "reviewer": str,
         "reason": str, "before": str, "after": str, "target_group": int,
         "created_at": float},
        pk="id",
        if_not_exists=True,
    )
    db["events"].create_index(["reviewer", "id"], if_not_exists=True)
    db["events"].create_index(["group_id"], if_not_exists=True)
    db["events"].create_index(["candidate_id"], if_not_exists=True)
    db["decisions"].create(
        {"candidate_id": int, "status": str, "version": str, "final_fields": str,
         "reviewer": str, "reason": str, "event_id": int, "updated_at": float},
        pk="candidate_id",
        if_not_exists=True,
    )
    db["decisions"].create_index(["status"], if_not_exists=True)
    db["exports"].create(
        {"id": int, "task": str, "path": str, "profile": str, "filters": str,
         "count": int, "sha256": str, "created_at": float},
        pk="id",
        if_not_exists=True,
    )


def _migrate_v2(db: sqlite_utils.Database) -> None:
    # One vector per embedded text: kind is seed, draft, refined or final (an edit).
    db["embeddings"].create(
        {"kind": str, "ref_id": int, "model": str, "text_sha256": str, "dim": int,
         "vector": bytes, "created_at": float},
        pk=("kind", "ref_id", "model"),
        if_not_exists=True,
    )
    db["clusters"].create(
        {"task": str, "candidate_id": int, "cluster": int, "distance": float},
        pk=("task", "candidate_id"),
        if_not_exists=True,
    )
    db["clusters"].create_index(["task", "cluster"], if_not_exists=True)
    db["cluster_info"].create(
        {"task": str, "cluster": int, "label": str, "representative_id": int, "size": int,
         "model": str, "created_at": float},
        pk=("task", "cluster"),
        if_not_exists=True,
    )


def _migrate_v3(db: sqlite_utils.Database) -> None:
    # Candidate slots a running draft job has claimed but not yet filled: targets stay
    # exact when several jobs draft one task at once.
    if "reserved" not in db["runs"].columns_dict:
        db["runs"].add_column("reserved", int, not_null_default=0)
    # Every draft sample issued for a task gets the next index, never reused: its random
    # stream comes from the master seed and that index (pipeline.sample_rng).
    if "drafts_issued" not in db["tasks"].columns_dict:
        db["tasks"].add_column("drafts_issued", int, not_null_default=0)
        db.execute("UPDATE tasks SET drafts_issued ="
                   " (SELECT count(*) FROM candidates c WHERE c.task = tasks.name)")
    if "sample_index" not in db["candidates"].columns_dict:
        db["candidates"].add_column("sample_index", int)
    # 1 when an unparsed draft's raw text was refined (only when asked for).
    if "from_raw" not in db["refinements"].columns_dict:
        db["refinements"].add_column("from_raw", int, not_null_default=0)


def _migrate_v4(db: sqlite_utils.Database) -> None:
    # Every version of a task's recipe, by content: a run records the one it used, and
    # storing a changed recipe keeps the old text.
    db["recipes"].create(
        {"task": str, "sha256": str, "recipe": str, "created_at": float},
        pk=("task", "sha256"),
        if_not_exists=True,
    )
    db.execute("INSERT OR IGNORE INTO recipes (task, sha256, recipe, created_at)"
               " SELECT name, recipe_sha256, recipe, created_at FROM tasks")
    if "recipe_sha256" not in db["runs"].columns_dict:
        db["runs"].add_column("recipe_sha256", str)
    # Which session (one TUI, one CLI command) made a decision: undo in the TUI asks
    # before it reverts a step another session made under the same reviewer name.
    if "session" not in db["events"].columns_dict:
        db["events"].add_column("session", str)




# What a candidate says now, decided in this one place (core/workspace/current.py reads it). The
# final text is the curator's edit; else the draft when the curator accepted the draft,
# when no refinement parsed, or (while undecided) when the best refinement fails its
# checks and the draft passes them ("draft proposed"); else the best refinement. Of a
# candidate's refinements (retries keep every attempt) the best is the latest that
# parsed and passes its checks, else the latest that parsed; alternatives asked for in
# review count only once picked, and a picked one is the best and the latest.
CANDIDATE_STATE_V11 = """
    CREATE VIEW candidate_state AS
    SELECT s.*,
        CASE s.final_version WHEN 'edited' THEN s.edited_fields WHEN 'draft' THEN s.draft_fields
             ELSE s.parsed_fields END AS final_fields,
        CASE s.final_version WHEN 'edited' THEN NULL WHEN 'draft' THEN s.draft_valid
             ELSE s.parsed_valid END AS final_valid,
        CASE s.final_version WHEN 'edited' THEN NULL WHEN 'draft' THEN s.draft_validation
             ELSE s.parsed_validation END AS final_validation
    FROM (
        SELECT c.id AS candidate_id, c.task AS task, c.seed AS seed, c.shot_ids AS shot_ids,
            c.origin AS origin, d.refinement_id AS picked_id, d.merge AS merge,
            coalesce(d.status, 'pending') AS status, d.version AS decided_version,
            d.reason AS reason, d.reviewer AS reviewer,
            coalesce(d.version = 'edited', 0) AS edited, d.final_fields AS edited_fields,
            c.fields AS draft_fields, c.raw_text AS draft_raw, c.valid AS draft_valid,
            c.validation AS draft_validation,
            latest.id AS latest_id, latest.fields AS latest_fields,
            latest.raw_text AS latest_raw, latest.valid AS latest_valid,
            latest.validation AS latest_validation,
            best.id AS parsed_id, best.fields AS parsed_fields, best.valid AS parsed_valid,
            best.validation AS parsed_validation,
            coalesce(best.valid = 0 AND c.valid = 1, 0) AS refinement_failed,
            CASE WHEN best.id IS NULL OR (best.valid = 0 AND c.valid = 1) THEN 'draft'
                 ELSE 'refined' END AS proposed_version,
            CASE WHEN d.version = 'edited' THEN 'edited'
                 WHEN d.version = 'draft' OR best.id IS NULL THEN 'draft'
                 WHEN d.version IS NULL AND best.valid = 0 AND c.valid = 1 THEN 'draft'
                 ELSE 'refined' END AS final_version
        FROM candidates c
        LEFT JOIN decisions d ON d.candidate_id = c.id
        LEFT JOIN refinements latest ON latest.id = coalesce(d.refinement_id,
            (SELECT max(r.id) FROM refinements r WHERE r.candidate_id = c.id
             AND r.alternative IS NULL))
        LEFT JOIN refinements best ON best.id = coalesce(d.refinement_id,
            (SELECT r.id FROM refinements r WHERE r.candidate_id = c.id
             AND r.alternative IS NULL AND r.fields IS NOT NULL
             ORDER BY r.valid DESC, r.id DESC LIMIT 1))
    ) s
"""


def _migrate_v5(db: sqlite_utils.Database) -> None:
    # The `candidate_state` view came here. A view holds no data, so only the latest
    # step that changes it makes it, in full (v11); earlier ones drop the old one.
    db.execute("DROP VIEW IF EXISTS candidate_state")


def _migrate_v6(db: sqlite_utils.Database) -> None:
    pass  # the view changed (the best of several attempts, "draft proposed"): see v11


def _migrate_v7(db: sqlite_utils.Database) -> None:
    # Candidates imported from a dataset (core/datasets/dataset_import.py): where each came from,
    # and its fields' hash, so that importing a file twice adds nothing.
    for column in ("origin", "content_sha256"):
        if column not in db["candidates"].columns_dict:
            db["candidates"].add_column(column, str)
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS idx_candidates_imported ON candidates"
               " (task, content_sha256) WHERE content_sha256 IS NOT NULL")
    # Claiming a slot counts a task's filled slots: an index keeps that off the table.
    db["candidates"].create_index(["task", "sample_index"], if_not_exists=True)
    db.execute("DROP VIEW IF EXISTS candidate_state")  # it changed (the origin): see v11


def _migrate_v8(db: sqlite_utils.Database) -> None:
    # What each export holds, split by split (so `export --since-last` leaves out what
    # an earlier export of the task wrote), its format and its manifest.
    for column in ("format", "manifest", "splits"):
        if column not in db["exports"].columns_dict:
            db["exports"].add_column(column, str)
    db["export_items"].create(
        {"export_id": int, "candidate_id": int, "split": str},
        pk=("export_id", "candidate_id"),
        if_not_exists=True,
    )
    db["export_items"].create_index(["candidate_id"], if_not_exists=True)


def _migrate_v9(db: sqlite_utils.Database) -> None:
    # The IR judge (core/measures/judge.py): one row per trial, with its lineup (seed ids, null
    # for the judged item), the judge's seed and raw reply, the place it picked.
    db["judgments"].create(
        {"id": int, "run_id": int, "candidate_id": int, "version": str, "trial": int,
         "lineup": str, "position": int, "seed": int, "reply": str, "picked": int,
         "detected": int, "created_at": float},
        pk="id",
        if_not_exists=True,
    )
    db["judgments"].create_index(["candidate_id", "run_id"], if_not_exists=True)
    db["judgments"].create_index(["run_id"], if_not_exists=True)


def _migrate_v10(db: sqlite_utils.Database) -> None:
    # `compare` (core/measures/compare.py): its arms' tasks and runs, and the report it made.
    db["comparisons"].create(
        {"id": int, "task": str, "n": int, "params": str, "tasks": str, "runs": str,
         "report": str, "report_md": str, "created_at": float, "finished_at": float},
        pk="id",
        if_not_exists=True,
    )
    db["comparisons"].create_index(["task"], if_not_exists=True)


def _migrate_v11(db: sqlite_utils.Database) -> None:
    # Review: the alternative picked as a candidate's refinement, and an edit made by
    # hunks (core/reviewing/merging.py) with its choices.
    for column, kind in (("refinement_id", int), ("merge", str)):
        if column not in db["decisions"].columns_dict:
            db["decisions"].add_column(column, kind)
    # Alternatives asked for in review: "refined" (another refinement of the draft) or
    # "draft" (another draft from the same shots); null for the pipeline's own.
    if "alternative" not in db["refinements"].columns_dict:
        db["refinements"].add_column("alternative", str)
    # Who is reviewing now, one row per open review window: its lease on the pending
    # item on its screen (core/reviewing/leases.py), renewed while shown, gone when it expires.
    db["reviewing"].create(
        {"session": str, "reviewer": str, "task": str, "candidate_id": int, "pid": int,
         "host": str, "seen_at": float},
        pk="session",
        if_not_exists=True,
    )
    db["reviewing"].create_index(["candidate_id"], if_not_exists=True)
    # The view as it is since this step, in full: the picked alternative and the merge.
    db.execute("DROP VIEW IF EXISTS candidate_state")
    db.execute(CANDIDATE_STATE_V11)


def _migrate_v12(db: sqlite_utils.Database) -> None:
    # Which running job is refining a draft (core/generation/pipeline.py): jobs refining one task at
    # once each take other drafts. A claim counts while its run is running.
    db["refine_claims"].create({"candidate_id": int, "run_id": int, "claimed_at": float},
                               pk="candidate_id", if_not_exists=True)


# A version's step on the quality ladder (DESIGN §7), for proposing: 0 not parsed, 1 fails
# its checks, 2 usable but fails a verifier, 3 usable (no verifier ran, or nothing to
# check), 4 verified. A refinement below its draft is never proposed over it.
def _rank(x: str) -> str:
    return (f"(CASE WHEN {x}.fields IS NULL THEN 0 WHEN {x}.valid = 0 THEN 1"
            f" WHEN {x}.verified = 0 THEN 2 WHEN {x}.verified = 1 THEN 4 ELSE 3 END)")


CANDIDATE_STATE_V13 = f"""
    CREATE VIEW candidate_state AS
    SELECT s.*,
        CASE s.final_version WHEN 'edited' THEN s.edited_fields WHEN 'draft' THEN s.draft_fields
             ELSE s.parsed_fields END AS final_fields,
        CASE s.final_version WHEN 'edited' THEN NULL WHEN 'draft' THEN s.draft_valid
             ELSE s.parsed_valid END AS final_valid,
        CASE s.final_version WHEN 'edited' THEN NULL WHEN 'draft' THEN s.draft_validation
             ELSE s.parsed_validation END AS final_validation,
        CASE s.final_version WHEN 'edited' THEN s.edited_verified
             WHEN 'draft' THEN s.draft_verified ELSE s.parsed_verified END AS final_verified,
        CASE s.final_version WHEN 'edited' THEN s.edited_verification
             WHEN 'draft' THEN s.draft_verification
             ELSE s.parsed_verification END AS final_verification
    FROM (
        SELECT c.id AS candidate_id, c.task AS task, c.seed AS seed, c.shot_ids AS shot_ids,
            c.origin AS origin, d.refinement_id AS picked_id, d.merge AS merge,
            coalesce(d.status, 'pending') AS status, d.version AS decided_version,
            d.reason AS reason, d.reviewer AS reviewer,
            coalesce(d.version = 'edited', 0) AS edited, d.final_fields AS edited_fields,
            d.verified AS edited_verified, d.verification AS edited_verification,
            c.fields AS draft_fields, c.raw_text AS draft_raw, c.valid AS draft_valid,
            c.validation AS draft_validation, c.verified AS draft_verified,
            c.verification AS draft_verification,
            latest.id AS latest_id, latest.fields AS latest_fields,
            latest.raw_text AS latest_raw, latest.valid AS latest_valid,
            latest.validation AS latest_validation,
            best.id AS parsed_id, best.fields AS parsed_fields, best.valid AS parsed_valid,
            best.validation AS parsed_validation, best.verified AS parsed_verified,
            best.verification AS parsed_verification,
            coalesce({_rank("best")} < {_rank("c")}, 0) AS refinement_failed,
            coalesce(c.verified = 1 AND best.verified = 0, 0) AS refinement_broke_verified,
            CASE WHEN best.id IS NULL OR {_rank("best")} < {_rank("c")} THEN 'draft'
                 ELSE 'refined' END AS proposed_version,
            CASE WHEN d.version = 'edited' THEN 'edited'
                 WHEN d.version = 'draft' OR best.id IS NULL THEN 'draft'
                 WHEN d.version IS NULL AND {_rank("best")} < {_rank("c")} THEN 'draft'
                 ELSE 'refined' END AS final_version
        FROM candidates c
        LEFT JOIN decisions d ON d.candidate_id = c.id
        LEFT JOIN refinements latest ON latest.id = coalesce(d.refinement_id,
            (SELECT max(r.id) FROM refinements r WHERE r.candidate_id = c.id
             AND r.alternative IS NULL))
        LEFT JOIN refinements best ON best.id = coalesce(d.refinement_id,
            (SELECT r.id FROM refinements r WHERE r.candidate_id = c.id
             AND r.alternative IS NULL AND r.fields IS NOT NULL
             ORDER BY {_rank("r")} DESC, r.id DESC LIMIT 1))
    ) s
"""


def _migrate_v13(db: sqlite_utils.Database) -> None:
    # Verifiers (core/inputs/verifiers/): each version's result, 1 verified, 0 failed,
    # NULL when no verifier ran or none had anything to check, with the outcomes as JSON;
    # a decision keeps its edit's. The view ranks versions on the whole quality ladder
    # (verified above usable) and takes an edit's result when the edit is final.
    for table in ("candidates", "refinements", "decisions"):
        for column, kind in (("verified", int), ("verification", str)):
            if column not in db[table].columns_dict:
                db[table].add_column(column, kind)
    db.execute("DROP VIEW IF EXISTS candidate_state")
    db.execute(CANDIDATE_STATE_V13)


def _migrate_v14(db: sqlite_utils.Database) -> None:
    # Decontamination (core/measures/decontam.py): a candidate's overlap with an item of
    # an evaluation set, per set and method, with the item's text and the evidence.
    db["contamination"].create(
        {"candidate_id": int, "task": str, "eval_set": str, "method": str, "item": int,
         "matched": str, "score": float, "evidence": str, "created_at": float},
        pk=("candidate_id", "eval_set", "method"),
        if_not_exists=True,
    )
    db["contamination"].create_index(["task", "eval_set"], if_not_exists=True)


# Since v15: a drifted refinement (core/inputs/drift.py) is proposed after every one that
# did not drift, and never over its draft unless the curator picked it; an edit's checks
# are the decision's (NULL for an edit saved before edits were checked).
CANDIDATE_STATE_V15 = f"""
    CREATE VIEW candidate_state AS
    SELECT s.*,
        CASE s.final_version WHEN 'edited' THEN s.edited_fields WHEN 'draft' THEN s.draft_fields
             ELSE s.parsed_fields END AS final_fields,
        CASE s.final_version WHEN 'edited' THEN s.edited_valid WHEN 'draft' THEN s.draft_valid
             ELSE s.parsed_valid END AS final_valid,
        CASE s.final_version WHEN 'edited' THEN s.edited_validation
             WHEN 'draft' THEN s.draft_validation
             ELSE s.parsed_validation END AS final_validation,
        CASE s.final_version WHEN 'edited' THEN s.edited_verified
             WHEN 'draft' THEN s.draft_verified ELSE s.parsed_verified END AS final_verified,
        CASE s.final_version WHEN 'edited' THEN s.edited_verification
             WHEN 'draft' THEN s.draft_verification
             ELSE s.parsed_verification END AS final_verification
    FROM (
        SELECT c.id AS candidate_id, c.task AS task, c.seed AS seed, c.shot_ids AS shot_ids,
            c.origin AS origin, d.refinement_id AS picked_id, d.merge AS merge,
            coalesce(d.status, 'pending') AS status, d.version AS decided_version,
            d.reason AS reason, d.reviewer AS reviewer,
            coalesce(d.version = 'edited', 0) AS edited, d.final_fields AS edited_fields,
            d.verified AS edited_verified, d.verification AS edited_verification,
            d.valid AS edited_valid, d.validation AS edited_validation,
            c.fields AS draft_fields, c.raw_text AS draft_raw, c.valid AS draft_valid,
            c.validation AS draft_validation, c.verified AS draft_verified,
            c.verification AS draft_verification,
            latest.id AS latest_id, latest.fields AS latest_fields,
            latest.raw_text AS latest_raw, latest.valid AS latest_valid,
            latest.validation AS latest_validation,
            best.id AS parsed_id, best.fields AS parsed_fields, best.valid AS parsed_valid,
            best.validation AS parsed_validation, best.verified AS parsed_verified,
            best.verification AS parsed_verification,
            best.drift AS drift, best.draft_similarity AS draft_similarity,
            best.draft_overlap AS draft_overlap,
            coalesce(d.refinement_id IS NULL AND best.drifted = 1, 0) AS refinement_drifted,
            coalesce({_rank("best")} < {_rank("c")}, 0) AS refinement_failed,
            coalesce(c.verified = 1 AND best.verified = 0, 0) AS refinement_broke_verified,
            CASE WHEN best.id IS NULL OR {_rank("best")} < {_rank("c")}
                      OR (d.refinement_id IS NULL AND best.drifted = 1) THEN 'draft'
                 ELSE 'refined' END AS proposed_version,
            CASE WHEN d.version = 'edited' THEN 'edited'
                 WHEN d.version = 'draft' OR best.id IS NULL THEN 'draft'
                 WHEN d.version IS NULL AND ({_rank("best")} < {_rank("c")}
                      OR (d.refinement_id IS NULL AND best.drifted = 1)) THEN 'draft'
                 ELSE 'refined' END AS final_version
        FROM candidates c
        LEFT JOIN decisions d ON d.candidate_id = c.id
        LEFT JOIN refinements latest ON latest.id = coalesce(d.refinement_id,
            (SELECT max(r.id) FROM refinements r WHERE r.candidate_id = c.id
             AND r.alternative IS NULL))
        LEFT JOIN refinements best ON best.id = coalesce(d.refinement_id,
            (SELECT r.id FROM refinements r WHERE r.candidate_id = c.id
             AND r.alternative IS NULL AND r.fields IS NOT NULL
             ORDER BY coalesce(r.drifted, 0), {_rank("r")} DESC, r.id DESC LIMIT 1))
    ) s
"""


def _migrate_v15(db: sqlite_utils.Database) -> None:
    # Drift (core/inputs/drift.py): each refinement's similarity to its draft (embedding
    # cosine, NULL without an embedding model; the share of words the diff keeps) and to
    # its closest shot, whether it drifted (NULL: not measured) and why.
    for column, kind in (("draft_similarity", float), ("draft_overlap", float),
                         ("shot_similarity", float), ("shot_overlap", float),
                         ("shot_id", int), ("drifted", int), ("drift", str)):
        if column not in db["refinements"].columns_dict:
            db["refinements"].add_column(column, kind)
    # An edit's or merge's checks (core/reviewing/review.py, `checked`), kept with it.
    for column, kind in (("valid", int), ("validation", str)):
        if column not in db["decisions"].columns_dict:
            db["decisions"].add_column(column, kind)
    db.execute("DROP VIEW IF EXISTS candidate_state")
    db.execute(CANDIDATE_STATE_V15)


def _migrate_v16(db: sqlite_utils.Database) -> None:
    # The IR judge's protocol with every trial, and calibration trials that judge a real
    # item of the judge's pool (its `seeds` row) instead of a candidate.
    for column, kind in (("protocol", str), ("real_id", int)):
        if column not in db["judgments"].columns_dict:
            db["judgments"].add_column(column, kind)


# V15 with a reject's tags beside its reason.
CANDIDATE_STATE_V17 = CANDIDATE_STATE_V15.replace(
    "d.reason AS reason, d.reviewer AS reviewer,",
    "d.reason AS reason, d.tags AS tags, d.reviewer AS reviewer,")


def _migrate_v17(db: sqlite_utils.Database) -> None:
    # A reject's tags from the recipe's set (core/reviewing/review.py) and the version
    # they were given to (draft, refined or edited), so failures count per stage.
    for column in ("tags", "tagged"):
        if column not in db["decisions"].columns_dict:
            db["decisions"].add_column(column, str)
    db.execute("DROP VIEW IF EXISTS candidate_state")
    db.execute(CANDIDATE_STATE_V17)


# Every text of a candidate a search looks in: its draft, its edit and its refinements,
# a line apart (a search is one line, so it cannot match across two of them).
_SEARCH_BODY = """coalesce(c.raw_text, '') || char(10)
    || coalesce((SELECT d.final_fields FROM decisions d WHERE d.candidate_id = c.id), '')
    || char(10) || coalesce((SELECT group_concat(r.raw_text, char(10)) FROM refinements r
                             WHERE r.candidate_id = c.id), '')"""


def _search_again(candidate: str) -> str:
    """A trigger's body that writes the search row of a candidate again (`candidate`: its
    id, as new.x or old.x)."""
    return f"""
        DELETE FROM search_text WHERE rowid = {candidate};
        INSERT INTO search_text (rowid, body) SELECT c.id, {_SEARCH_BODY}
            FROM candidates c WHERE c.id = {candidate};"""


def _migrate_v18(db: sqlite_utils.Database) -> None:
    # Search (core/reviewing/review_list.py): an FTS5 trigram index of every candidate's
    # texts, its row id the candidate's, kept by triggers, so that finding a substring
    # (`body LIKE '%...%'`) reads the index instead of every text of the task. Without
    # positions (detail none): a seventh of the size and twice as quick to write; LIKE
    # checks each match against the text kept with it.
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS search_text USING fts5(body,"
               " tokenize = 'trigram', detail = none)")
    # Each written again only when a text it holds changed (a decision's upsert rewrites
    # the row at every accept, its edit unchanged).
    triggers = {
        "candidates_searched": ("AFTER INSERT ON candidates",  # no edit nor refinement yet
                                "INSERT INTO search_text (rowid, body)"
                                " VALUES (new.id, coalesce(new.raw_text, ''));"),
        "candidates_searched_again": ("AFTER UPDATE OF raw_text ON candidates"
                                      " WHEN old.raw_text IS NOT new.raw_text",
                                      _search_again("new.id")),
        "candidates_unsearched": ("AFTER DELETE ON candidates",
                                  "DELETE FROM search_text WHERE rowid = old.id;"),
    }
    for table, column in (("refinements", "raw_text"), ("decisions", "final_fields")):
        triggers[f"{table}_searched"] = (f"AFTER INSERT ON {table}"
                                         f" WHEN new.{column} IS NOT NULL",
                                         _search_again("new.candidate_id"))
        triggers[f"{table}_searched_again"] = (f"AFTER UPDATE OF {column} ON {table}"
                                               f" WHEN old.{column} IS NOT new.{column}",
                                               _search_again("new.candidate_id"))
        triggers[f"{table}_unsearched"] = (f"AFTER DELETE ON {table}"
                                           f" WHEN old.{column} IS NOT NULL",
                                           _search_again("old.candidate_id"))
    for name, (when, body) in triggers.items():
        db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {when} BEGIN {body} END")
    db.execute("DELETE FROM search_text")  # (a step broken off half-way is run again)
    db.execute(f"INSERT INTO search_text (rowid, body) SELECT c.id, {_SEARCH_BODY}"
               " FROM candidates c")


MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2, 3: _migrate_v3, 4: _migrate_v4,
              5: _migrate_v5, 6: _migrate_v6, 7: _migrate_v7, 8: _migrate_v8, 9: _migrate_v9,
              10: _migrate_v10, 11: _migrate_v11, 12: _migrate_v12, 13: _migrate_v13,
              14: _migrate_v14, 15: _migrate_v15, 16: _migrate_v16,
              17: _migrate_v17, 18: _migrate_v18}
