#!/usr/bin/python3
"""The repository stands alone: nothing in it names a directory beside it
(no file holds the path of the specs' directory beside the checkout, so
`git grep` for it finds nothing), and every relative link of the README
and of docs/ points at a file of the repository.

Prints "standalone: N passed, N failed" last.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}", file=sys.stderr)


def tracked_files():
    """The repository's files: git's list in a checkout, else every file."""
    p = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True)
    if p.returncode == 0:
        return [f for f in p.stdout.decode().split("\0") if f]
    return [os.path.relpath(os.path.join(d, f), ROOT) for d, _, fs in os.walk(ROOT) for f in fs]


files = tracked_files()
outside = "../" + "shared"  # spelled in two so that this file does not name it
named = []
for f in files:
    path = os.path.join(ROOT, f)
    if not os.path.isfile(path) or f.startswith("tests/data/"):
        continue
    with open(path, "rb") as fh:
        if outside.encode() in fh.read():
            named.append(f)
check(not named, f"files that name {outside}: {named}")

link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
docs = ["README.md"] + [f for f in files if f.startswith("docs/") and f.endswith(".md")]
check(len(docs) >= 5, f"the README and the documents of docs/: {docs}")
for doc in docs:
    with open(os.path.join(ROOT, doc), encoding="utf-8") as fh:
        text = fh.read()
    for target in link.findall(text):
        if re.match(r"[a-z]+:", target):  # a URL: outside by design
            continue
        where = os.path.normpath(os.path.join(ROOT, os.path.dirname(doc), target))
        check(where.startswith(ROOT + os.sep) and os.path.exists(where), f"{doc} links to {target}, not in the repository")

print(f"standalone: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
