"""The tail every bench shares (`speechopt bench`, `speechopt run`): terminal table, report files, breaches."""

from __future__ import annotations

from pathlib import Path


def publish(report: dict, json_path: Path | None = None, md_path: Path | None = None,
            html_path: Path | None = None) -> list[str]:
    """Print the terminal table and warnings, write the requested reports; returns the budget breaches."""
    from speechopt.bench.harness import summary_rows
    from speechopt.bench.report import print_table, write_reports

    rows = summary_rows(report)
    breaches = report.get("breaches")
    print_table(rows, report)
    write_reports(report, rows, breaches, json_path, md_path, html_path)
    return breaches or []
