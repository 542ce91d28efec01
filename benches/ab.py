#!/usr/bin/env python3
"""A/B runner for the profiling experiments in BENCHMARKS.md (not part of run.sh).

    benches/ab.py RUNS 'name=command' 'name@disk=command' ...

Runs every command RUNS times, alternating the order, each in a fresh empty directory that
replaces `{od}` in the command: under /dev/shm, or under target/bench-tmp for names containing
`@disk` (those outputs are kept until the end, see bench.py on ext4's recently_deleted). Prints
the median wall time, the median CPU time (user+sys) and the median context switches per name.
Start the server with `benches/run.sh --serve` first.
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    tools = [a.split("=", 1) for a in sys.argv[2:]]
    res = {n: [] for n, _ in tools}
    keep = os.path.join(REPO, "target", "bench-tmp", f"ab-{os.getpid()}")
    try:
        for r in range(runs):
            k = r % len(tools)
            for n, c in tools[k:] + tools[:k]:
                od = (os.path.join(keep, f"{r}-{len(res[n])}-{abs(hash(n))}") if "@disk" in n
                      else f"/dev/shm/ab-{os.getpid()}")
                shutil.rmtree(od, ignore_errors=True)
                os.makedirs(od)
                t = time.perf_counter()
                p = subprocess.Popen(c.replace("{od}", od), shell=True,
                                     stdout=subprocess.DEVNULL)
                _, st, ru = os.wait4(p.pid, 0)
                wall = time.perf_counter() - t
                if st != 0:
                    sys.exit(f"{n}: exit status {st}")
                res[n].append((wall, ru.ru_utime + ru.ru_stime, ru.ru_nvcsw + ru.ru_nivcsw))
                if "@disk" not in n:
                    shutil.rmtree(od, ignore_errors=True)
                os.sync()
    finally:
        shutil.rmtree(keep, ignore_errors=True)
        shutil.rmtree(f"/dev/shm/ab-{os.getpid()}", ignore_errors=True)
    for n, v in res.items():
        print(f"{n:28s} wall {statistics.median(x[0] for x in v) * 1e3:8.1f} ms "
              f"[{min(x[0] for x in v) * 1e3:.0f}-{max(x[0] for x in v) * 1e3:.0f}]  "
              f"cpu {statistics.median(x[1] for x in v) * 1e3:8.1f} ms  "
              f"ctx switches {statistics.median(x[2] for x in v):.0f}")
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
