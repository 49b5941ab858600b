"""Prints, from a callgrind dump made with --dump-instr=yes, the instructions
that a Go echo server runs per round trip, by function, and the 64-byte lines
of code they come from. Used by callgrind.sh.

A round trip is one run of the function that handles a connection's event:
the most executed instruction of main.(*conn).handle (ours, base) or
main.(*server).serve (rawepoll). An instruction counts as the round trip's if
it ran at least half as often: what every round trip runs, without the start
up, the accepts, and the scheduler's occasional work.

Usage: python3 callgrind.py DUMP BINARY
"""

import bisect
import collections
import re
import subprocess
import sys

HANDLERS = re.compile(r"^main\.\((\*conn\)\.handle|\*server\)\.serve)$")


def counts(path):
    """Executions per instruction address. The cost line after a calls= line
    is the call's inclusive cost, not the instruction's own: skipped."""
    n = collections.Counter()
    skip = False
    with open(path) as f:
        for line in f:
            if line.startswith("calls="):
                skip = True
            elif line.startswith("0x"):
                if skip:
                    skip = False
                    continue
                addr, ir = line.split()[:2]
                n[int(addr, 16)] += int(ir)
    return n


def symbols(binary):
    """Text symbols of binary as (start, size, name), by address."""
    out = subprocess.run(["go", "tool", "nm", "-size", "-sort", "address", binary],
                         capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[2] in ("T", "t"):
            syms.append((int(f[0], 16), int(f[1]), " ".join(f[3:])))
    return syms


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    n = counts(sys.argv[1])
    syms = symbols(sys.argv[2])
    starts = [s[0] for s in syms]

    def name(addr):
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < syms[i][0] + syms[i][1]:
            return syms[i][2]
        return "?"

    names = {a: name(a) for a in n}
    handled = [c for a, c in n.items() if HANDLERS.match(names[a])]
    if not handled:
        sys.exit("callgrind.py: no handler ran: no round trips to count")
    rt = max(handled)
    per = collections.defaultdict(lambda: [0, set()])
    for a, c in n.items():
        if c >= rt / 2:
            per[names[a]][0] += c
            per[names[a]][1].add(a // 64)
    print(f"{rt} round trips counted; per round trip:")
    print()
    print("| function | instructions | lines of code |")
    print("| --- | ---: | ---: |")
    groups = collections.Counter()
    for fn, (c, lines) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        print(f"| {fn} | {c / rt:.0f} | {len(lines)} |")
        group = "runtime and syscall" if fn.startswith(("runtime.", "syscall.", "internal/")) \
            else "selectors" if "seed08bc25bd/selectors." in fn else "server and x/sys"
        groups[group, "i"] += c / rt
        groups[group, "l"] += len(lines)
    print()
    for group in ("selectors", "server and x/sys", "runtime and syscall"):
        print(f"{group}: {groups[group, 'i']:.0f} instructions, {groups[group, 'l']} lines")
    total = sum(c for c in n.values())
    print(f"every instruction counted, scheduler and all: {total / rt:.0f} per round trip")


if __name__ == "__main__":
    main()
