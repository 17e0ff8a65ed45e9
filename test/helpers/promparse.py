"""Reads a Prometheus text exposition on stdin with the official Python client's parser (which refuses
what a Prometheus server would not read) and prints its families as JSON: name, type and samples."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = [
    {
        "name": family.name,
        "type": family.type,
        "samples": [
            {"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples
        ],
    }
    for family in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout)
