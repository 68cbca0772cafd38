"""The anchor of `shadowdb-bench`: SafeAgentDB 0.3.2 doing what `ours` does.

Run by the harness with its own virtual environment's Python (it installs
`safeagentdb==0.3.2` and `psycopg2-binary` there), once per measured run:

    venv/bin/python run_anchor.py --url postgresql://user@host/db --tenant 2 < agent.sql

It opens a SafeAgentDB sandbox on the tenant's rows of `tasks` (reflect and
clone), runs the agent's statements (read from standard input, separated by
`;`, the very statements `ours` runs), diffs, validates every changed row
against a pydantic `SafeModel` equal to the Rust contract, and commits the
reviewed changeset to production. It prints one line,

    RESULT {"open": s, "agent": s, "diff": s, "validate": s, "commit": s, "peak_kib": k}

with each phase in seconds and the process's resident-set high-water mark
(`VmHWM`, the measure the harness takes for the other systems). Anything else
(an error, a changeset that is not valid) exits non-zero with the reason on
standard error, and the harness reports the anchor as failed. The harness, not
this script, checks production afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from typing import Annotated

from pydantic import Field
from sqlalchemy import create_engine

import safeagentdb
from safeagentdb import SafeModel, ShadowDB

EXPECTED_VERSION = "0.3.2"


class Task(SafeModel):
    """The contract of the benchmark table, as the Rust `Task` states it."""

    __table_name__ = "tasks"

    id: int
    user_id: int
    title: Annotated[str, Field(min_length=1, max_length=200)]
    status: str
    priority: int
    updated_at: dt.datetime


def peak_kib() -> int:
    """The resident-set high-water mark of this process, in KiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def sqlalchemy_url(url: str) -> str:
    """`postgres://...` (as sqlx takes it) in the form SQLAlchemy takes."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="production PostgreSQL URL")
    parser.add_argument("--tenant", type=int, required=True, help="the tenant's user_id")
    args = parser.parse_args()

    if safeagentdb.__version__ != EXPECTED_VERSION:
        print(
            f"safeagentdb {safeagentdb.__version__} is installed, the anchor is {EXPECTED_VERSION}",
            file=sys.stderr,
        )
        return 2

    statements = [s.strip() for s in sys.stdin.read().split(";") if s.strip()]
    engine = create_engine(sqlalchemy_url(args.url))
    # One connection made before the clock starts, as the other systems
    # connect their pool before theirs.
    with engine.connect():
        pass

    phases: dict[str, float] = {}
    t = time.perf_counter()
    sandbox = ShadowDB(engine, tables=["tasks"], tenant_id=args.tenant)
    with sandbox:
        phases["open"] = time.perf_counter() - t

        t = time.perf_counter()
        # The sandbox's execute() takes one statement at a time.
        for statement in statements:
            sandbox.execute(statement)
        phases["agent"] = time.perf_counter() - t

        t = time.perf_counter()
        changeset = sandbox.diff()
        phases["diff"] = time.perf_counter() - t

        t = time.perf_counter()
        valid = changeset.is_valid
        phases["validate"] = time.perf_counter() - t
        if not valid:
            failed = [message for _, ok, message in changeset.validate_all() if not ok]
            print(
                f"the changeset is not valid: {changeset.blocking_errors} {failed[:3]}",
                file=sys.stderr,
            )
            return 3

        t = time.perf_counter()
        written = sandbox.commit_to_production(changeset=changeset)
        phases["commit"] = time.perf_counter() - t

    summary = changeset.summary
    fields = [f'"{name}": {secs!r}' for name, secs in phases.items()]
    fields.append(f'"peak_kib": {peak_kib()}')
    print(
        f"# summary {summary} written {written}",
        file=sys.stderr,
    )
    print("RESULT {" + ", ".join(fields) + "}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
