#!/usr/bin/env python3
"""CPU seconds spent by a command (its whole process tree) and by the shared backends
(MariaDB, Redis, RabbitMQ, the MongoDB stand-in) inside a window the command marks itself.

Used for docs/scaling.md: `just bench-saga` prints one line with `wall N s` when its timed
phase ends; the timed phase is then [line time - N s, line time]. Sampling /proc every 50 ms
keeps the error of each window edge at one sample. The backends are shared with anything
else running on the machine, so their figure is an upper bound for this command.

    ~/.cache/shopmesh/venv/bin/python scripts/cpu-window.py -- cargo nextest run -p shop-system-tests --run-ignored only \
        --no-capture saga_throughput

The same window's deltas of the servers' own operation counters (MariaDB `SHOW GLOBAL
STATUS`, Redis `INFO commandstats`, the Mongo `serverStatus` opcounters when pymongo is
importable: the project's venv has it) are printed too, sampled every 0.5 s: also server-wide, so also upper bounds.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

BACKENDS = {"mariadbd": "MariaDB", "mysqld": "MariaDB", "redis-server": "Redis",
            "beam.smp": "RabbitMQ", "secantusd-py": "SecantusDB (Python)"}
TICK = os.sysconf("SC_CLK_TCK")
WALL = re.compile(r"wall ([0-9.]+) s")


def cpu_ticks(pid):
    """utime + stime of one process, 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def processes():
    """pid → (comm, ppid) for every live process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
                comm = text[text.index("(") + 1:text.rindex(")")]
                ppid = int(text.rsplit(")", 1)[1].split()[1])
                out[int(entry)] = (comm, ppid)
            except (OSError, ValueError):
                pass
    return out


MYSQL_VARS = ("Com_begin", "Com_commit", "Com_rollback", "Com_select", "Com_insert",
              "Com_update", "Com_delete", "Questions")


def counters():
    """The servers' operation counters now; a server that does not answer is left out."""
    out = {}
    try:
        names = ",".join(f"'{name}'" for name in MYSQL_VARS)
        text = subprocess.run(
            ["mariadb", "-uroot", "-h127.0.0.1", "-N", "-e",
             f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})"],
            capture_output=True, text=True, timeout=5).stdout
        for line in text.splitlines():
            name, value = line.split("\t")
            out[f"mysql {name}"] = int(value)
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    try:
        text = subprocess.run(["redis-cli", "info", "commandstats"], capture_output=True,
                              text=True, timeout=5).stdout
        for m in re.finditer(r"cmdstat_(\w+):calls=(\d+)", text):
            out[f"redis {m.group(1)}"] = int(m.group(2))
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import pymongo  # only in the project's venv
        client = pymongo.MongoClient(
            "mongodb://127.0.0.1:27017/?directConnection=true", serverSelectionTimeoutMS=2000)
        for name, value in client.admin.command("serverStatus")["opcounters"].items():
            out[f"mongo {name}"] = int(value)
        client.close()
    except Exception:  # noqa: BLE001 - an absent driver or server only drops these figures
        pass
    return out


def tree(root, procs):
    kids = {root}
    grew = True
    while grew:
        grew = False
        for pid, (_, ppid) in procs.items():
            if ppid in kids and pid not in kids:
                kids.add(pid)
                grew = True
    return kids


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.exit("usage: cpu-window.py -- COMMAND...")
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    samples = []  # (t, {label: ticks}); the command's tree keeps the max seen per pid
    seen = {}
    marks = []  # (t, wall seconds)

    def read_output():
        for line in child.stdout:
            sys.stdout.write(line)
            m = WALL.search(line)
            if m:
                marks.append((time.monotonic(), float(m.group(1))))

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    snapshots = []  # (t, counters)

    def sample_counters():
        while child.poll() is None:
            snapshots.append((time.monotonic(), counters()))
            time.sleep(0.5)

    threading.Thread(target=sample_counters, daemon=True).start()
    while child.poll() is None:
        procs = processes()
        now = time.monotonic()
        for pid in tree(child.pid, procs):
            seen[pid] = max(seen.get(pid, 0), cpu_ticks(pid))
        row = {"command": sum(seen.values())}
        for pid, (comm, _) in procs.items():
            if comm in BACKENDS:
                row[BACKENDS[comm]] = row.get(BACKENDS[comm], 0) + cpu_ticks(pid)
        samples.append((now, row))
        time.sleep(0.05)
    reader.join()
    if not marks:
        sys.exit("no `wall N s` line: nothing to measure")
    end, wall = marks[-1]
    start = end - wall
    first = min(samples, key=lambda s: abs(s[0] - start))
    last = min(samples, key=lambda s: abs(s[0] - end))
    span = last[0] - first[0]
    print(f"window {span:.2f} s (asked {wall:.2f} s), samples {len(samples)}")
    for label in last[1]:
        cpu = (last[1][label] - first[1].get(label, 0)) / TICK
        print(f"cpu {label}: {cpu:.2f} s ({cpu / span * 100:.0f}% of one core)")
    if snapshots:
        before = min(snapshots, key=lambda s: abs(s[0] - start))
        after = min(snapshots, key=lambda s: abs(s[0] - end))
        print(f"counters over {after[0] - before[0]:.2f} s:")
        deltas = {k: v - before[1].get(k, 0) for k, v in after[1].items()}
        print(json.dumps({k: v for k, v in deltas.items() if v}, indent=1))
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
