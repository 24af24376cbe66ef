"""The deployment's TimeTracker settings as the engine's values: the work-time policy, the
longest shift, and the zone an employee's local times are read in.
"""

from __future__ import annotations

import datetime as dt

from basis.apps.timetracker import engine
from basis.apps.timetracker.models import Employee
from basis.apps.timetracker.settings import TimetrackerSettings
from basis.settings import Settings


def zone_name(employee_zone: str | None, settings: Settings) -> str:
    return employee_zone or settings.timezone


def policy(settings: Settings) -> engine.Policy:
    return engine.Policy(
        max_shift=dt.timedelta(hours=settings.app(TimetrackerSettings).max_shift_hours),
        missing_out_policy=settings.app(TimetrackerSettings).missing_out_policy,
        late_grace_minutes=settings.app(TimetrackerSettings).late_grace_minutes,
        early_exit_grace_minutes=settings.app(TimetrackerSettings).early_exit_grace_minutes,
        overtime_tolerance_minutes=settings.app(TimetrackerSettings).overtime_tolerance_minutes,
        check_in_window_minutes=settings.app(TimetrackerSettings).check_in_window_minutes,
    )


def max_shift(settings: Settings) -> dt.timedelta:
    return dt.timedelta(hours=settings.app(TimetrackerSettings).max_shift_hours)


def zone_of(employee: Employee, settings: Settings) -> str:
    return zone_name(employee.timezone, settings)
