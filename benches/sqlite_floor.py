#!/usr/bin/env python3
"""SQLite's own cost of a first cycle's writes at 100k tasks, without expediter.

What a first cycle over 2,000 users x 50 never-seen tasks writes — 100k task rows and 100k
assignments, 4,000 rows a transaction, WAL, synchronous=NORMAL, foreign keys on — done by
`INSERT ... SELECT` from a temporary table inside SQLite: no HTTP, no JSON, no binding layer.
That is the floor under `cargo bench --bench cycle -- b`'s first cycle for a given schema.
Each variant is a schema (or a way of loading it); runs are interleaved and the median and
range of CPU seconds (user + system) are printed.

    python3 benches/sqlite_floor.py            # every variant, 5 rounds
    python3 benches/sqlite_floor.py 9 current tasks-only

Python's own sqlite3 module is used, so the SQLite version is the system's, not the one
bundled with expediter; compare variants with each other, within one run.
"""

import os
import statistics
import sqlite3
import sys
import tempfile
import time

TASKS = 100_000
BATCH = 4_000

TASKS_TABLE = """
CREATE TABLE tasks (task_id TEXT PRIMARY KEY NOT NULL, instance_id TEXT,
  labels TEXT NOT NULL DEFAULT '[]', status TEXT, initiator_id TEXT, initiator_name TEXT,
  start_time INTEGER, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  finished_at INTEGER, fingerprint INTEGER) STRICT;
"""
FIRST_SEEN = "CREATE INDEX tasks_pending_by_first_seen ON tasks(first_seen) WHERE finished_at IS NULL;"
ASSIGNMENTS = """
CREATE TABLE assignments (task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
  user_id TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  finished_at INTEGER, missing_since INTEGER, PRIMARY KEY (task_id, user_id)) STRICT, WITHOUT ROWID;
"""
PENDING = "CREATE INDEX assignments_pending ON assignments(user_id, task_id) WHERE finished_at IS NULL;"

INSERT_TASKS = """INSERT OR IGNORE INTO tasks (task_id, instance_id, labels, status, initiator_id,
  initiator_name, start_time, fingerprint, first_seen, last_seen)
  SELECT task_id, instance_id, labels, status, initiator_id, initiator_name, start_time, fp, ?1, ?1
  FROM src WHERE rowid > ?2 AND rowid <= ?3"""
INSERT_ASSIGNMENTS = """INSERT INTO assignments (task_id, user_id, first_seen, last_seen)
  SELECT task_id, user_id, ?1, ?1 FROM src WHERE rowid > ?2 AND rowid <= ?3
  ON CONFLICT DO UPDATE SET finished_at = NULL WHERE assignments.finished_at IS NOT NULL"""

# name: (schema before loading, statements per batch, schema after loading, page size)
VARIANTS = {
    # The schema as migrations/ leave it.
    "current": (TASKS_TABLE + FIRST_SEEN + ASSIGNMENTS + PENDING, [INSERT_TASKS, INSERT_ASSIGNMENTS], "", None),
    # The same with 16 KiB pages (what a new database gets).
    "16k-pages": (TASKS_TABLE + FIRST_SEEN + ASSIGNMENTS + PENDING, [INSERT_TASKS, INSERT_ASSIGNMENTS], "", 16384),
    # Secondary indexes built after the load instead of kept up during it.
    "index-after-load": (TASKS_TABLE + ASSIGNMENTS, [INSERT_TASKS, INSERT_ASSIGNMENTS], FIRST_SEEN + PENDING, None),
    # Assignments keyed by user (the pending index folded into the key), plus an index by task.
    "assignments-by-user": (
        TASKS_TABLE + FIRST_SEEN
        + """CREATE TABLE assignments (task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
  user_id TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  finished_at INTEGER, missing_since INTEGER, PRIMARY KEY (user_id, task_id)) STRICT, WITHOUT ROWID;
  CREATE INDEX assignments_by_task ON assignments(task_id);""",
        [INSERT_TASKS, INSERT_ASSIGNMENTS],
        "",
        None,
    ),
    # Integer keys: tasks and users numbered, assignments holding the numbers.
    "integer-keys": (
        """CREATE TABLE tasks (task_no INTEGER PRIMARY KEY, task_id TEXT NOT NULL UNIQUE, instance_id TEXT,
  labels TEXT NOT NULL DEFAULT '[]', status TEXT, initiator_id TEXT, initiator_name TEXT,
  start_time INTEGER, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  finished_at INTEGER, fingerprint INTEGER) STRICT;"""
        + FIRST_SEEN
        + """CREATE TABLE assignments (task_no INTEGER NOT NULL REFERENCES tasks(task_no) ON DELETE CASCADE,
  user_no INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  finished_at INTEGER, missing_since INTEGER, PRIMARY KEY (task_no, user_no)) STRICT, WITHOUT ROWID;
  CREATE INDEX assignments_pending ON assignments(user_no, task_no) WHERE finished_at IS NULL;""",
        [
            INSERT_TASKS,
            """INSERT INTO assignments (task_no, user_no, first_seen, last_seen)
  SELECT t.task_no, s.user_no, ?1, ?1 FROM src s JOIN tasks t ON t.task_id = s.task_id
  WHERE s.rowid > ?2 AND s.rowid <= ?3
  ON CONFLICT DO UPDATE SET finished_at = NULL WHERE assignments.finished_at IS NOT NULL""",
        ],
        "",
        None,
    ),
    # Tasks alone, no assignments at all: what the rest costs.
    "tasks-only": (TASKS_TABLE + FIRST_SEEN, [INSERT_TASKS], "", None),
}


def run(variant: str, directory: str) -> float:
    schema, statements, after, page_size = VARIANTS[variant]
    db = os.path.join(directory, f"{variant}.sqlite")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    c = sqlite3.connect(db, isolation_level=None)
    if page_size:
        c.execute(f"PRAGMA page_size={page_size}")
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute("PRAGMA foreign_keys=ON")
    c.executescript(schema)
    now = int(time.time() * 1000)
    # 2,000 users x 50 tasks, each task with two labels, an initiator and a start time, as the
    # benchmark's simulated Feishu lists them.
    c.execute(
        """CREATE TEMP TABLE src AS WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
        SELECT printf('t%05d-%02d', i / 50, i % 50) AS task_id, printf('wf-t%05d-%02d', i / 50, i % 50) AS instance_id,
          json_array(json_array('2052', '报销审批 ' || i), json_array('1033', 'Expense approval ' || i)) AS labels,
          'in_process' AS status, 'ou_' || (i % 97) AS initiator_id, 'Initiator ' || (i % 97) AS initiator_name,
          ?1 - i AS start_time, i * 7919 AS fp, printf('u%05d', i / 50) AS user_id, i / 50 AS user_no FROM n""",
        (now, TASKS - 1),
    )
    start = os.times()
    for low in range(0, TASKS, BATCH):
        c.execute("BEGIN")
        for statement in statements:
            c.execute(statement, (now, low, low + BATCH))
        c.execute("COMMIT")
    c.executescript(after)
    end = os.times()
    c.close()
    return (end.user - start.user) + (end.system - start.system)


def main() -> None:
    args = sys.argv[1:]
    rounds = int(args.pop(0)) if args and args[0].isdigit() else 5
    variants = args or list(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    seconds = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(rounds):
            for v in variants:
                seconds[v].append(run(v, directory))
    print(f"SQLite {sqlite3.sqlite_version}, {TASKS} tasks, {rounds} rounds, CPU seconds (user + system)")
    print("| variant | median | range |\n|---|---|---|")
    for v in variants:
        s = seconds[v]
        print(f"| {v} | {statistics.median(s):.2f} s | {min(s):.2f}–{max(s):.2f} s |")


if __name__ == "__main__":
    main()
