"""Parse hourly JSONL log files into typed rows plus quarantined lines (no Dagster here)."""

from modelmon_dagster.ingest.parser import ParsedBatch, parse_label_files, parse_prediction_files

__all__ = ["ParsedBatch", "parse_label_files", "parse_prediction_files"]
