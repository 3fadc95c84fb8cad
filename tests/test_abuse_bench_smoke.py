"""bench/abuse_bench.py --tiny runs end to end against a real server and its JSON makes sense.
Benchmarks are not tests (bench/README.md): no speed is asserted here."""

from __future__ import annotations

import json

from test_bench_smoke import run_bench


def test_the_tiny_abuse_benchmark_runs_and_reports_both_runs(tmp_path):
    out = tmp_path / "abuse.json"
    done = run_bench("abuse_bench.py", "--tiny", "--out", str(out))
    assert f"results written to {out}" in done.stdout
    report = json.loads(out.read_text())
    alone, attacked = report["alone"], report["attacked"]
    for run in (alone, attacked):
        assert run["participants"] == 5 and run["deliveries"] > 0 and run["p99_ms"] > 0
        assert run["server_alive"] and run["server_peak_rss_mb"] > 0
    assert alone["deliveries"] == alone["lines_sent"] * 5  # everyone, the sender too (its echo), once
    assert {"flooder", "never-reader", "slowloris", "storm"} <= set(attacked)
    assert attacked["storm"]["opened"] > 0
    assert set(report["goals"]) == {
        "p99_attacked_at_most_2x_alone", "p99_attacked_under_50_ms", "nothing_lost_or_reordered",
        "memory_at_most_64_mib_above_baseline",
    }  # fmt: skip
