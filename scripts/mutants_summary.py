#!/usr/bin/env python3
"""Per-module mutation scores from cargo-mutants outcomes.

    python3 scripts/mutants_summary.py DIR [DIR ...]

Each DIR holds a `mutants.out/outcomes.json` (or is one). For every source file
it prints caught, missed, timeout and unviable counts and the score
caught / (caught + missed + timeout) over viable mutants, then the total. Later
directories override earlier ones for the same mutant (a re-run after a fix).
"""
import json
import os
import sys
from collections import defaultdict


def outcomes(path):
    if os.path.isdir(path):
        for cand in (os.path.join(path, "mutants.out", "outcomes.json"), os.path.join(path, "outcomes.json")):
            if os.path.exists(cand):
                path = cand
                break
    with open(path) as f:
        data = json.load(f)
    for o in data.get("outcomes", []):
        scen = o.get("scenario")
        if not isinstance(scen, dict) or "Mutant" not in scen:
            continue  # the baseline
        m = scen["Mutant"]
        span = m.get("span", {}).get("start", {})
        key = (m["file"], span.get("line"), span.get("column"), m.get("replacement"), m.get("name", ""))
        yield key, m["file"], o.get("summary", "")


def main(dirs):
    if not dirs:
        print(__doc__)
        return 2
    latest = {}
    for d in dirs:
        for key, file, summary in outcomes(d):
            latest[key] = (file, summary)
    table = defaultdict(lambda: defaultdict(int))
    for file, summary in latest.values():
        kind = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout", "Unviable": "unviable"}.get(summary, summary)
        table[file][kind] += 1
    total = defaultdict(int)
    print(f"{'file':40} {'caught':>6} {'missed':>6} {'timeout':>7} {'unviable':>8} {'score':>6}")
    for file in sorted(table):
        row = table[file]
        for k, v in row.items():
            total[k] += v
        viable = row["caught"] + row["missed"] + row["timeout"]
        score = f"{100 * row['caught'] / viable:5.1f}%" if viable else "   -"
        print(f"{file:40} {row['caught']:6} {row['missed']:6} {row['timeout']:7} {row['unviable']:8} {score:>6}")
    viable = total["caught"] + total["missed"] + total["timeout"]
    score = f"{100 * total['caught'] / viable:5.1f}%" if viable else "   -"
    print(f"{'total':40} {total['caught']:6} {total['missed']:6} {total['timeout']:7} {total['unviable']:8} {score:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
