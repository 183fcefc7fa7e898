#!/usr/bin/env python3
"""Per-module mutation scores from cargo-mutants outcomes.

    python3 scripts/mutants_summary.py DIR [DIR ...]

Each DIR is an output directory of `scripts/mutants.sh` (`--out DIR`, with or
without `--fast`) or a `mutants.out` itself. Its outcomes are read in the order
they were produced: `fast/` before `full/` (the whole suite's verdict on what
the fast stage missed), and in each `mutants.out.old` (a run resumed with
`--iterate`) before `mutants.out`, and `rerun*/` (missed mutants re-tested after
new tests; several in name order) last; a later verdict on the same mutant replaces
an earlier one, as does a later DIR (a re-run after a fix). The full and rerun
stages only re-judge mutants the fast stage tested (cargo-mutants adds its
struct-field deletions to every filtered run; they are not counted).

For every source file it prints caught, missed, timeout and unviable counts and
the score caught / (caught + missed + timeout): timeouts count as not caught,
except a timeout whose log shows a failed test before the time ran out (the
suite did report the mutant; one test then hung on it): those count as caught,
and the column "fail+to" says how many of the caught ones they are.
Mutants listed in a resumed run's previously_caught.txt without an outcome of
their own count as caught (cargo-mutants lists unviable ones there too, so a
resumed run can overstate the caught count by its earlier unviable mutants).
"""
import glob
import json
import os
import sys
from collections import defaultdict


def outcome_files(path):
    """The outcomes.json files under an output directory, oldest verdicts first."""
    if os.path.isfile(path):
        return [(path, "")]
    found = []
    reruns = sorted(os.path.basename(d) for d in glob.glob(os.path.join(path, "rerun*")) if os.path.isdir(d))
    for stage in ("fast", "full", *reruns, ""):
        for f in sorted(
            glob.glob(os.path.join(path, stage, "outcomes-*.json")),
            key=lambda f: int(f.rsplit("-", 1)[1].split(".")[0]),
        ):
            found.append((f, stage))
        for out in ("mutants.out.old", "mutants.out", ""):
            cand = os.path.join(path, stage, out, "outcomes.json")
            if stage and os.path.exists(cand):
                found.append((cand, stage))
    if os.path.exists(os.path.join(path, "outcomes.json")):
        found.append((os.path.join(path, "outcomes.json"), ""))
    return found


def outcomes(path):
    """(name, file, summary, restate) for every verdict; `restate` marks the
    full and rerun stages, which only re-test mutants an earlier stage tested."""
    for f, stage in outcome_files(path):
        restate = stage == "full" or stage.startswith("rerun")
        # A run resumed with --iterate lists what earlier runs caught (or found
        # unviable) in previously_caught.txt; an earlier outcomes.json may have
        # been rotated away, so those count as caught unless an outcome says else.
        prev = os.path.join(os.path.dirname(f), "previously_caught.txt")
        if os.path.exists(prev):
            with open(prev) as p:
                for line in p:
                    name = line.strip()
                    if name:
                        yield name, name.split(":", 1)[0], "PreviouslyCaught", restate
        for name, file, summary in read(f):
            yield name, file, summary, restate


def read(path):
    with open(path) as f:
        data = json.load(f)
    for o in data.get("outcomes", []):
        scen = o.get("scenario")
        if not isinstance(scen, dict) or "Mutant" not in scen:
            continue  # the baseline
        m = scen["Mutant"]
        summary = o.get("summary", "")
        if summary == "Timeout" and o.get("log_path"):
            log = os.path.join(os.path.dirname(path), o["log_path"])
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    if any(line.startswith("test ") and line.rstrip().endswith("... FAILED") for line in f):
                        summary = "FailedThenTimeout"
        yield m["name"], m["file"], summary


def main(dirs):
    if not dirs:
        print(__doc__)
        return 2
    latest = {}
    for d in dirs:
        for key, file, summary, restate in outcomes(d):
            if summary == "PreviouslyCaught" and key in latest:
                continue
            # cargo-mutants adds some mutants to every filtered run (struct
            # field deletions ignore --re): a later stage does not add mutants
            # the first one did not test, so a sample stays the sample.
            if restate and key not in latest:
                continue
            latest[key] = (file, "CaughtMutant" if summary == "PreviouslyCaught" else summary)
    table = defaultdict(lambda: defaultdict(int))
    for file, summary in latest.values():
        kind = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout", "Unviable": "unviable"}.get(summary, summary)
        if kind == "FailedThenTimeout":
            table[file]["caught"] += 1
            kind = "fail+to"
        table[file][kind] += 1
    total = defaultdict(int)
    print(f"{'file':40} {'caught':>6} {'fail+to':>7} {'missed':>6} {'timeout':>7} {'unviable':>8} {'score':>6}")
    for file in sorted(table):
        row = table[file]
        for k, v in row.items():
            total[k] += v
        viable = row["caught"] + row["missed"] + row["timeout"]
        score = f"{100 * row['caught'] / viable:5.1f}%" if viable else "   -"
        print(f"{file:40} {row['caught']:6} {row['fail+to']:7} {row['missed']:6} {row['timeout']:7} {row['unviable']:8} {score:>6}")
    viable = total["caught"] + total["missed"] + total["timeout"]
    score = f"{100 * total['caught'] / viable:5.1f}%" if viable else "   -"
    print(f"{'total':40} {total['caught']:6} {total['fail+to']:7} {total['missed']:6} {total['timeout']:7} {total['unviable']:8} {score:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
