"""Collect the ``RESULT {json}`` lines the benchmarks print and show them as a table.

bash bench/run.sh                       # runs everything, then this
.venv/bin/python bench/report.py results.jsonl [--markdown]
"""

import argparse
import json
import sys


def rows(results):
    for r in results:
        bench = r["bench"]
        if bench in ("sdk_trigger", "rest_trigger"):
            target = r.get("target_runs_per_s")
            figure = f"{r['runs_per_s']:.0f} runs/s"
            detail = f"{r['runs']} runs in {r['seconds']:.2f} s"
            if "calls_seconds" in r:
                detail += f" (calls returned after {r['calls_seconds']:.2f} s)"
            if "cpu_ms_per_run" in r:
                detail += f"; CPU {r['cpu_ms_per_run']:.2f} ms/run"
            if "queries_per_run" in r:
                detail += f"; {r['queries_per_run']:g} SQL statements/run"
            if bench == "rest_trigger":
                detail += (
                    f"; request p50 {r['request_p50_ms']:.0f} ms, p99 {r['request_p99_ms']:.0f} ms"
                    f"; server CPU {r['server_cpu_ms_per_request']:.1f} ms/req"
                    f"; new PG connections {r['pg_sessions_per_request']:.2f}/req"
                )
            verdict = "" if target is None else ("met" if r["runs_per_s"] >= target else "MISSED")
            target_text = "" if target is None else f">= {target} runs/s"
        elif bench != "pickup_latency":  # the experiments: their fields as they are
            skip = {"bench", "mode"}
            detail = ", ".join(f"{k}={v}" for k, v in r.items() if k not in skip)
            yield [bench, r.get("mode", ""), "", "", "", detail]
            continue
        else:
            target = r["target_p50_ms"]
            figure = f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
            detail = (
                f"n={r['n']}; p90 {r['p90_ms']:.1f}, max {r['max_ms']:.1f} ms"
                f"; trigger call p50 {r['trigger_call_p50_ms']:.1f} ms"
                f"; to COMPLETED p50 {r['trigger_to_completed_p50_ms']:.1f} ms"
            )
            verdict = "met" if r["p50_ms"] < target else "MISSED"
            target_text = f"p50 < {target} ms"
        yield [bench, r["mode"], figure, target_text, verdict, detail]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default="-")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    stream = sys.stdin if args.path == "-" else open(args.path)
    results = []
    for line in stream:
        line = line.strip()
        if line.startswith("RESULT "):
            line = line[len("RESULT ") :]
        if line.startswith("{"):
            results.append(json.loads(line))
    header = ["benchmark", "mode", "figure", "target", "", "detail"]
    table = [header, *rows(results)]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in table[1:]:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


if __name__ == "__main__":
    main()
