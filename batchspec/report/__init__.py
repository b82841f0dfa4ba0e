"""`batchspec report`: totals, cost, savings, error rates and batch latency, in the terminal, as
JSON, or as a self-contained HTML dashboard."""

from batchspec.report.data import build_report
from batchspec.report.html import render_html, write_html
from batchspec.report.text import print_report

__all__ = ["build_report", "print_report", "render_html", "write_html"]
