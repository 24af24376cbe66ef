"""The core's own figures: the floor and readiness (one database round trip)."""

from __future__ import annotations

from bench.scenarios import Scenario, Timed

APPS: list[str] = []

FLOOR = Scenario("floor: GET /health", path="/health", note="no database, no auth: the framework floor")
"""Measured by the harness first and last in every run; every ratio is against it."""

SCENARIOS: list[Scenario | Timed] = [
    Scenario("GET /health/ready", path="/health/ready", note="one SELECT 1 on the database per request"),
]
