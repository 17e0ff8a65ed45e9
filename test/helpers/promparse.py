"""Reads a Prometheus text exposition on stdin with the official Python client's parser (which refuses
what a Prometheus server would not read) and prints its families as JSON: name, type and samples."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

families = [
    {
        "name": family.name,
        "type": family.type,
        "samples": [
            # NaN and ±Inf are values the format allows (a quantile of no samples); JSON has no words for them.
            {"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)}
            for s in family.samples
        ],
    }
    for family in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout)
