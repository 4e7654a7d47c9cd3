"""kalend's WSGI application: Radicale's, on kalend's storage.

Radicale's dispatcher keeps doing authentication, rights and path checks; the
RFC 6638 parts (scheduling) extend this class in files named after the HTTP
method they change, as Radicale's own ``app/`` does.
"""

from __future__ import annotations

from radicale import config as radicale_config
from radicale.app import Application as RadicaleApplication

from kalend.storage_plugin import Storage


class Application(RadicaleApplication):
    """The WSGI callable served by ``kalend serve``."""

    def __init__(self, configuration: "radicale_config.Configuration") -> None:
        super().__init__(configuration)
        if not isinstance(self._storage, Storage):
            raise TypeError("kalend needs [storage] type = kalend.storage_plugin")

    @property
    def storage(self) -> Storage:
        storage = self._storage
        assert isinstance(storage, Storage)
        return storage
