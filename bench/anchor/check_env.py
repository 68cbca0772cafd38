"""Whether this Python holds exactly the anchor's pinned packages.

    python check_env.py requirements.txt

Prints `ok Python 3.x.y, safeagentdb 0.3.2, ...` and exits 0 when every
`name==version` line of the file is installed at that version; otherwise
prints what differs and exits 1. Imports nothing it checks, so it runs in an
empty environment too.
"""

from __future__ import annotations

import importlib.metadata as metadata
import platform
import sys


def main() -> int:
    wanted: list[tuple[str, str]] = []
    with open(sys.argv[1], encoding="utf-8") as requirements:
        for line in requirements:
            requirement = line.split("#")[0].strip()
            if requirement:
                name, _, version = requirement.partition("==")
                wanted.append((name.strip(), version.strip()))

    found: list[str] = [f"Python {platform.python_version()}"]
    wrong: list[str] = []
    for name, version in wanted:
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "absent"
        if have != version:
            wrong.append(f"{name} {have} (want {version})")
        found.append(f"{name} {have}")

    if wrong:
        print("; ".join(wrong))
        return 1
    print("ok " + ", ".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
