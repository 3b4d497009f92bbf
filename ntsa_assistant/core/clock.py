"""The one clock every rule reads: real time, or ``ASSISTANT_NOW`` for demos and tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

NAIROBI = ZoneInfo("Africa/Nairobi")


class Clock:
    """Tells the time in Africa/Nairobi; a fixed instant replaces it when given."""

    def __init__(self, fixed: datetime | None = None) -> None:
        if fixed is not None and fixed.tzinfo is None:
            fixed = fixed.replace(tzinfo=NAIROBI)
        self._fixed = fixed

    def now(self) -> datetime:
        """The current instant, aware, in Nairobi time."""
        instant = self._fixed if self._fixed is not None else datetime.now(UTC)
        return instant.astimezone(NAIROBI)

    def today(self) -> date:
        return self.now().date()

    @property
    def is_fixed(self) -> bool:
        return self._fixed is not None
