"""kalend: a CalDAV/CardDAV server for teams.

The import root of the distribution. The three rooms of the design live in
top-level folders of the repository and are installed beneath this package:
``kalend.server`` (HTTP, CLI), ``kalend.storage_plugin`` (SQL storage for
Radicale) and ``kalend.scheduling`` (iTIP, delivery, iMIP).
"""

__version__ = "0.1.0"
