"""Benchmark: bytes the cockpit writes to its terminal per second, idle and while prices stream,
at 80x24 and 160x50: what a slow SSH link has to carry.

Run from the repo root:  python -m benchmarks.terminal_bytes [--seconds N] [--json OUT]

What runs: the real command line, `.venv/bin/cockpit --demo` (the seeded synthetic market, the
paper venue, a journal and an empty config directory in a temporary folder), as its own process
on a pseudo-terminal (`pty.fork`): the child sets the terminal size (TIOCSWINSZ) and execs the
cockpit, with TERM=xterm-256color and COLORTERM=truecolor (a modern terminal, or tmux with RGB:
24-bit colour codes, the longest Textual sends). Every byte the cockpit writes arrives on the
pty's master side, where this script reads it. The script answers Textual's one start-up query
the way a modern terminal does (DECRQM ?2026: synchronized output supported), so every screen
update comes wrapped in `ESC[?2026h ... ESC[?2026l` and updates can be counted exactly.

What is counted: after the first paint and --warmup seconds (the start-up notices and the first
model fit settle), every byte read for --seconds seconds. Reported per run: bytes/s (mean over
the window), the busiest 1-second bucket, screen updates per second (synchronized-output
frames), bytes per update, and the mean in kbit/s against two slow links (56 kbit/s and
1 Mbit/s). Conditions, chosen by environment variables the config reads (README: Configuration):
    idle       COCKPIT_MARKET_SYNTHETIC_FROZEN=true: prices still arrive every second, unchanged
               (so the clock and the proposal's expiry countdown move, nothing else)
    streaming  the demo's own rate: one step a second, BTC and ETH (2 prices/s)
    fast       COCKPIT_MARKET_SYNTHETIC_INTERVAL_SECONDS=0.05: twenty steps a second (40 prices/s)
The demo market is seeded, so each run sees the same prices; a new demo account starts holding
BTC and ETH with one rebalance proposal pending, which is what is on screen.

Goal (issue "Cockpit UX and hardening", Smooth over SSH): redraws throttled to at most 10 a
second per widget, and only what changed; the figure should sit well inside a 56 kbit/s link.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import platform
import pty
import select
import signal
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COCKPIT = REPO / ".venv" / "bin" / "cockpit"
SIZES = ((80, 24), (160, 50))
CONDITIONS = {
    "idle": {"COCKPIT_MARKET_SYNTHETIC_FROZEN": "true"},
    "streaming": {},
    "fast": {"COCKPIT_MARKET_SYNTHETIC_INTERVAL_SECONDS": "0.05"},
}
PRICES_PER_SECOND = {"idle": "2 (unchanged)", "streaming": "2", "fast": "40"}
LINKS_KBIT = (56, 1000)
SYNC_QUERY = b"\x1b[?2026$p"
SYNC_SUPPORTED = b"\x1b[?2026;2$y"  # DECRPM: mode 2026 known, currently reset
FRAME_START = b"\x1b[?2026h"
QUIT_WAIT_SECONDS = 15.0


def _spawn(size: tuple[int, int], env: dict[str, str]) -> tuple[int, int]:
    """Starts `cockpit --demo` on a new pty of `size` (columns, rows); returns (pid, master fd)."""
    columns, rows = size
    pid, master = pty.fork()
    if pid == 0:  # the child: its stdin/stdout/stderr are the pty's slave side
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            os.execve(str(COCKPIT), [str(COCKPIT), "--demo"], env)
        finally:
            os._exit(127)
    return pid, master


def _read(master: int, timeout: float) -> bytes:
    ready, _, _ = select.select([master], [], [], timeout)
    if not ready:
        return b""
    try:
        return os.read(master, 65536)
    except OSError:  # EIO: the child closed the terminal
        return b""


def _stop(pid: int, master: int) -> str:
    """Quits the cockpit with `q` (nothing is in flight in the demo); SIGTERM, then SIGKILL, to
    this one child if it does not go. Returns how it stopped."""
    how = "q"
    try:
        os.write(master, b"q")
    except OSError:
        pass
    deadline = time.monotonic() + QUIT_WAIT_SECONDS
    for signal_number in (None, signal.SIGTERM, signal.SIGKILL):
        if signal_number is not None:
            how = signal_number.name
            os.kill(pid, signal_number)
            deadline = time.monotonic() + QUIT_WAIT_SECONDS
        while time.monotonic() < deadline:
            _read(master, 0.1)  # keep the pty drained so the child can write its last frame
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                os.close(master)
                return how
    os.close(master)
    return "not stopped"


def measure(size: tuple[int, int], condition: str, seconds: float, warmup: float) -> dict:
    """Runs one cockpit on a pty; returns the bytes it wrote per second over `seconds` after
    `warmup`, with the busiest second, updates per second and the links compared."""
    with tempfile.TemporaryDirectory(prefix="cockpit-bytes-") as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COCKPIT_")},
            "TERM": "xterm-256color", "COLORTERM": "truecolor",
            "COCKPIT_JOURNAL": str(Path(tmp) / "journal.sqlite"),
            "XDG_CONFIG_HOME": str(Path(tmp) / "config"),  # no user themes or config here
            **CONDITIONS[condition],
        }
        pid, master = _spawn(size, env)
        started = time.monotonic()
        seen = bytearray()
        while time.monotonic() - started < 30 and b"Positions" not in seen:
            chunk = _read(master, 0.2)
            if SYNC_QUERY in chunk:
                os.write(master, SYNC_SUPPORTED)
            seen += chunk
        first_paint = time.monotonic() - started
        until = time.monotonic() + warmup
        while time.monotonic() < until:
            seen += _read(master, 0.2)
        window = bytearray()
        buckets = [0] * max(1, int(seconds))
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            chunk = _read(master, 0.05)
            if chunk:
                window += chunk
                buckets[min(int(time.monotonic() - t0), len(buckets) - 1)] += len(chunk)
        stopped = _stop(pid, master)
    per_second = len(window) / seconds
    frames = window.count(FRAME_START)
    return {
        "size": f"{size[0]}x{size[1]}", "condition": condition, "prices_per_second": PRICES_PER_SECOND[condition],
        "seconds": seconds, "warmup_seconds": warmup, "first_paint_seconds": round(first_paint, 2),
        "dashboard_seen": b"Positions" in seen and b"SYNTHETIC" in seen,
        "bytes": len(window), "bytes_per_second": round(per_second, 1), "busiest_second_bytes": max(buckets),
        "updates_per_second": round(frames / seconds, 2),
        "bytes_per_update": round(len(window) / frames, 1) if frames else None,
        "kbit_per_second": round(per_second * 8 / 1000, 2),
        "share_of_link": {f"{k} kbit/s": round(per_second * 8 / 1000 / k, 4) for k in LINKS_KBIT},
        "stopped_by": stopped,
    }


def table(runs: list[dict]) -> str:
    """Returns the runs as an aligned text table."""
    head = ("size", "condition", "prices/s", "bytes/s", "busiest s", "updates/s", "bytes/update", "kbit/s",
            "of 56k", "of 1M")
    rows = [head]
    for r in runs:
        share = r["share_of_link"]
        rows.append((r["size"], r["condition"], r["prices_per_second"], f"{r['bytes_per_second']:,.0f}",
                     f"{r['busiest_second_bytes']:,}", f"{r['updates_per_second']:.1f}",
                     f"{r['bytes_per_update']:,.0f}" if r["bytes_per_update"] else "-", f"{r['kbit_per_second']:.1f}",
                     f"{share['56 kbit/s']:.0%}", f"{share['1000 kbit/s']:.1%}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per run (default 30)")
    parser.add_argument("--warmup", type=float, default=10.0,
                        help="seconds after the first paint before counting (default 10)")
    parser.add_argument("--json", default="benchmarks/results/terminal_bytes.json")
    parser.add_argument("--sizes", default="80x24,160x50", help="columns x rows, comma separated")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"of {', '.join(CONDITIONS)}")
    args = parser.parse_args(argv)
    if not COCKPIT.exists():
        parser.error(f"{COCKPIT} not found: install the package into .venv first")
    try:
        sizes = [tuple(int(n) for n in s.lower().split("x")) for s in args.sizes.split(",")]
        conditions = [c for c in args.conditions.split(",") if c]
    except ValueError:
        parser.error(f"--sizes: expected e.g. 80x24,160x50, got {args.sizes!r}")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or args.seconds < 1:
        parser.error(f"--conditions: unknown {unknown}" if unknown else "--seconds must be at least 1")
    runs = []
    for size in sizes:
        for condition in conditions:
            run = measure(size, condition, args.seconds, args.warmup)
            print(f"  {run['size']} {condition}: {run['bytes_per_second']:,.0f} bytes/s", file=sys.stderr)
            runs.append(run)
    print(f"bytes written to the terminal, `cockpit --demo` on a pty, {args.seconds:g} s after a "
          f"{args.warmup:g} s warm-up (truecolor):")
    print(table(runs))
    missing = [f"{r['size']} {r['condition']}" for r in runs if not r["dashboard_seen"]]
    if missing:
        print(f"WARNING: no dashboard seen in {', '.join(missing)}: those figures are not the dashboard's")
    import textual

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "textual": textual.__version__,
        "machine": platform.platform(), "cpu_count": os.cpu_count(), "term": "xterm-256color, COLORTERM=truecolor",
        "runs": runs,
    }, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
