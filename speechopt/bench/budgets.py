"""CI budgets: a breach is one line saying which variant broke which limit, by how much."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Budgets:
    max_wer_drift: float | None = None  # absolute WER points (0.5 = half a point)
    max_latency_ms: float | None = None  # batch-1 p50
    min_speedup: float | None = None  # batch-1 p50 speedup over the reference

    def any(self) -> bool:
        return any(v is not None for v in (self.max_wer_drift, self.max_latency_ms, self.min_speedup))


def check_budgets(rows: list[dict], budgets: Budgets) -> list[str]:
    """Breach lines for every non-reference row (the latency budget applies to the reference too)."""
    breaches = []
    for r in rows:
        label = f"{r['name']} on {r['backend']}"
        if budgets.max_latency_ms is not None and r["latency_ms"]["p50"] > budgets.max_latency_ms:
            breaches.append(f"{label}: latency p50 {r['latency_ms']['p50']:.2f} ms > budget {budgets.max_latency_ms:g} ms")
        if r["reference"]:
            continue
        drift_points = r["wer_drift"] * 100.0
        if budgets.max_wer_drift is not None and drift_points > budgets.max_wer_drift:
            breaches.append(f"{label}: WER drift {drift_points:+.2f} points > budget {budgets.max_wer_drift:g}")
        if budgets.min_speedup is not None and (r["speedup"] or 0.0) < budgets.min_speedup:
            breaches.append(f"{label}: speedup {r['speedup']:.2f}x < budget {budgets.min_speedup:g}x")
    return breaches
