"""Where Radicale 3.9's item model needs a correction for kalend.

Kept in one place, each with the reason, applied once when the application
module is imported.

* A calendar object whose component is VFREEBUSY (a published free-busy
  block, RFC 5545 §3.6.4) makes Radicale's time-range computation fail, so a
  PUT of one is refused with 400. kalend stores such objects and counts their
  FREEBUSY periods in free-busy answers (RFC 4791 §7.10), so their overall
  range is taken as unbounded instead: Radicale's own range prefilter then
  keeps them, and the occurrence index holds their real periods.
"""

from __future__ import annotations

from typing import Any

import radicale.item as radicale_item
from radicale.item import filter as radicale_filter

_original_find_time_range = radicale_item.find_time_range


def _find_time_range(vobject_item: Any, tag: str) -> tuple[int, int]:
    if tag == "VFREEBUSY":
        return radicale_filter.TIMESTAMP_MIN, radicale_filter.TIMESTAMP_MAX
    return _original_find_time_range(vobject_item, tag)


def apply() -> None:
    radicale_item.find_time_range = _find_time_range  # type: ignore[assignment]
