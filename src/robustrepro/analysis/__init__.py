"""What paper modules build their tables and figures with: aggregates over seeds, the figure style.

Imports no paper, so paper modules (above) and the report (above them) can both use it.
"""
