"""Opening a second connection in a process must not drop the locks of its first: when
it did (a header check closed a descriptor of the file), another process closing its
connection took the workspace for unused and reset its write-ahead log under the first,
whose writes then failed with "disk I/O error" or were lost."""

import subprocess
import sys
import time

from bare_tui.core.inputs import recipes
from bare_tui.core.workspace.store import Store

WRITER = """
import sys, threading, time
from bare_tui.core.workspace.store import Store
db = sys.argv[1]
ui = Store(db)
def beat():  # a thread's own connection, opened and closed again and again
    while True:
        with Store(db) as store:
            store.scalar("SELECT count(*) FROM tasks")
        time.sleep(0.05)
threading.Thread(target=beat, daemon=True).start()
for step in range(60):
    with ui.transaction():
        ui.conn.execute("UPDATE tasks SET created_at = ?", (step,))
    time.sleep(0.05)
print("wrote", step)
"""


def test_other_processes_opening_and_closing_lose_no_write(tmp_path):
    db = tmp_path / "w.db"
    with Store(db) as store:
        recipes.resolve(store, "gsm8k")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = set()
    while writer.poll() is None:
        with Store(db) as store:  # another process: open, read, close
            seen.add(store.scalar("SELECT created_at FROM tasks"))
        time.sleep(0.02)
    out, err = writer.communicate()
    assert writer.returncode == 0, err
    assert out.strip() == "wrote 59"
    with Store(db) as store:
        assert store.scalar("SELECT created_at FROM tasks") == 59
    assert len(seen) > 10  # this process saw the writes as they came
