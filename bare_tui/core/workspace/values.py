"""How values go into the workspace's columns and come out: JSON text for what is not a
number or a string, a list of ids as one bound value, the time as Unix seconds."""

from __future__ import annotations

import json
import time
from typing import Any


def now() -> float:
    return time.time()


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# `x IN (SELECT value FROM json_each(?))` with `ids_param(ids)`: a list of ids of any
# length as one bound value (SQLite allows 32,766 variables in a statement, in some
# builds 999), and one statement text for every length.
IN_IDS = "IN (SELECT value FROM json_each(?))"


def ids_param(ids: Any) -> str:
    return json.dumps([int(i) for i in ids])
