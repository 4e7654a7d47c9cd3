"""kalend's SQL storage plugin for Radicale (SQLite and PostgreSQL).

Radicale loads ``[storage] type = kalend.storage_plugin`` by importing this
module and taking its ``Storage`` class.
"""

from kalend.storage_plugin.storage import Storage

__all__ = ["Storage"]
