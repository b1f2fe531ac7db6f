"""CI budgets keyed by metric: a breach is one line saying which variant broke which limit, by how much.

`--max-drift wer=0.5` bounds a task metric's drift against the reference (in the metric's own unit: WER
points for ASR; TTS adds mcd=, roundtrip_wer=); `wer@eval-hard=1.0` bounds it on a further quality set
(`bench --also-data zoo:eval-hard`). Which names exist is the task's to say: an unknown one
is an error before anything is measured. Latency and speedup budgets are the same for every task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speechopt.errors import SpeechoptError


@dataclass
class Budgets:
    max_drift: dict[str, float] = field(default_factory=dict)  # metric name -> largest allowed drift
    max_latency_ms: float | None = None  # batch-1 p50
    min_speedup: float | None = None  # batch-1 p50 speedup over the reference

    def any(self) -> bool:
        return bool(self.max_drift) or self.max_latency_ms is not None or self.min_speedup is not None

    @classmethod
    def from_options(cls, max_drift=None, max_wer_drift: float | None = None, max_latency_ms: float | None = None,
                     min_speedup: float | None = None) -> "Budgets":
        """From `metric=value` strings (or a {metric: value} mapping); `max_wer_drift` is `wer=` by its old name."""
        drift = parse_drift(max_drift)
        if max_wer_drift is not None:
            if "wer" in drift and drift["wer"] != max_wer_drift:
                raise SpeechoptError("--max-wer-drift and --max-drift wer= disagree: give one of them")
            drift["wer"] = float(max_wer_drift)
        return cls(drift, max_latency_ms, min_speedup)

    def check_metrics(self, known: dict, sets=()) -> None:
        """Refuse a drift budget on a metric the task does not measure (`known`: name -> Metric), or on a
        further quality set (`METRIC@SET`) that the bench does not measure (`sets`: their labels)."""
        for name in sorted(self.max_drift):
            metric, _, where = name.partition("@")
            if metric not in known:
                raise SpeechoptError(f"no metric named {metric!r} to budget; this task measures "
                                     f"{', '.join(sorted(known))}")
            if where and where not in sets:
                given = f"--also-data gives {', '.join(sets)}" if sets else "give the set with --also-data"
                raise SpeechoptError(f"budget {name}: no quality set named {where!r} ({given})")


def parse_drift(items) -> dict[str, float]:
    if not items:
        return {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            name, sep, value = str(item).partition("=")
            if not sep or not name.strip():
                raise SpeechoptError(f"--max-drift takes METRIC=VALUE (e.g. wer=0.5), got {item!r}")
            pairs.append((name.strip(), value))
    out = {}
    for name, value in pairs:
        try:
            out[str(name)] = float(value)
        except (TypeError, ValueError):
            raise SpeechoptError(f"budget for {name}: {value!r} is not a number") from None
    return out


def check_budgets(rows: list[dict], budgets: Budgets, metrics: dict) -> list[str]:
    """Breach lines for every non-reference row (the latency budget applies to the reference too).

    `metrics` is the task's {name: Metric}; a row's drift of metric m is `row["drift"][m]`, in m's unit."""
    breaches = []
    for r in rows:
        label = f"{r['name']} on {r['backend']}"
        if budgets.max_latency_ms is not None and r["latency_ms"]["p50"] > budgets.max_latency_ms:
            breaches.append(f"{label}: latency p50 {r['latency_ms']['p50']:.2f} ms > budget {budgets.max_latency_ms:g} ms")
        if r["reference"]:
            continue
        for name, limit in budgets.max_drift.items():
            value = (r.get("drift") or {}).get(name)
            base, at, where = name.partition("@")
            metric = metrics[base]
            what = metric.label + at + where  # "WER@eval-hard"
            if value is None:
                breaches.append(f"{label}: {what} drift was not measured (budget {limit:g} {metric.unit})")
            elif value > limit:
                breaches.append(f"{label}: {what} drift {value:+.2f} {metric.unit} > budget {limit:g}")
        if budgets.min_speedup is not None and (r["speedup"] or 0.0) < budgets.min_speedup:
            breaches.append(f"{label}: speedup {r['speedup']:.2f}x < budget {budgets.min_speedup:g}x")
    return breaches
