"""The threaded HTTP server that ``kalend serve`` runs.

Radicale's request handler (its environ fix-ups and logging) is reused; the
server loop is kalend's own, because Radicale's ``serve`` constructs Radicale's
application itself and cannot be handed kalend's.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import socketserver
import threading
import wsgiref.simple_server
from collections.abc import Callable

from radicale import config as radicale_config

from kalend.scheduling.imip_sender import start_background as start_imip_worker
from kalend.server.app import Application
from kalend.server.http_handler import ConnectionRegistry, PersistentRequestHandler
from kalend.server.maintenance import start_background
from kalend.storage_plugin.settings import data_folder

logger = logging.getLogger("kalend.server")


class ThreadedWSGIServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    """One thread per connection, kept for the client's next requests
    (``http_handler``); requests are independent transactions.

    Request threads are joined on shutdown (``block_on_close``), so a request
    in flight at Ctrl-C finishes and commits instead of being cut off; kept
    connections waiting for a next request are closed first (``close_idle``).

    ``[server] max_connections`` caps the open connections, as in Radicale's
    own server: at the cap, a kept connection waiting for its next request is
    closed to make room, and when none is idle, new connections wait in the
    listen queue until a request finishes.
    """

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], family: int, timeout: float,
                 max_connections: int = 0) -> None:
        self.address_family = family
        self.request_timeout = timeout if timeout > 0 else None
        self.connections = ConnectionRegistry()
        self._slots = (threading.BoundedSemaphore(max_connections)
                       if max_connections > 0 else None)
        super().__init__(address, PersistentRequestHandler)

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        # The slot is released by close_request, which socketserver calls
        # when the connection's thread ends (or when starting it fails).
        if self._slots is not None and not self._take_slot():
            request.close()         # stopping: the connection never got a slot
            return
        super().process_request(request, client_address)

    def _take_slot(self) -> bool:
        """Wait for a free connection slot, closing idle kept connections to
        make one; False when the server stops meanwhile."""
        assert self._slots is not None
        while not self._slots.acquire(timeout=0.05):
            if self.connections.stopping:
                return False
            self.connections.close_one_idle()
        return True

    def close_request(self, request) -> None:  # type: ignore[override]
        try:
            super().close_request(request)
        finally:
            if self._slots is not None:
                self._slots.release()

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

    def get_request(self):  # type: ignore[override]
        request, address = super().get_request()
        if self.request_timeout is not None:
            request.settimeout(self.request_timeout)
        return request, address

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        logger.exception("error while serving %s", client_address)


def _bind(hosts: list[tuple[str, int]], timeout: float,
          max_connections: int) -> list[ThreadedWSGIServer]:
    servers = []
    for host, port in hosts:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        family, _, _, _, address = infos[0]
        servers.append(ThreadedWSGIServer((address[0], address[1]), family, timeout,
                                          max_connections))
    return servers


def url_of(server: ThreadedWSGIServer) -> str:
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    return f"http://{shown}:{port}/"


def prepare_data_folder(configuration: radicale_config.Configuration) -> str:
    """Create the data folder and an empty htpasswd file on first start.

    Radicale refuses to start without the htpasswd file; an empty one means
    "no users yet", which ``kalend user add`` fills.
    """
    folder = data_folder(configuration)
    os.makedirs(folder, exist_ok=True)
    htpasswd = configuration.get("auth", "htpasswd_filename")
    if configuration.get("auth", "type") == "htpasswd" and not os.path.exists(htpasswd):
        os.makedirs(os.path.dirname(os.path.abspath(htpasswd)), exist_ok=True)
        open(htpasswd, "a").close()
    return folder


def serve(configuration: radicale_config.Configuration,
          hosts: list[tuple[str, int]] | None = None,
          on_ready: Callable[[list[str]], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set), then stop cleanly:
    stop accepting, let running requests finish, close the database pool."""
    prepare_data_folder(configuration)
    configuration = configuration.copy()
    configuration.update({"server": {"_internal_server": "True"}}, "kalend serve",
                         privileged=True)
    application = Application(configuration)
    if threading.current_thread() is threading.main_thread():
        # `kalend serve` owns the process: the modules, the configuration and
        # the compiled statements live as long as it does; moved out of the
        # collector's reach, a full collection during a request scans only
        # what requests allocate. (Not when embedded in another program's
        # thread, e.g. the tests: freezing its objects would keep its
        # garbage, and the database connections that garbage holds, forever.)
        gc.collect()
        gc.freeze()
    servers = _bind(hosts or configuration.get("server", "hosts"),
                    configuration.get("server", "timeout"),
                    configuration.get("server", "max_connections"))
    for server in servers:
        server.set_app(application)
    stop = stop or threading.Event()
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                                name=f"kalend-http-{i}", daemon=True)
               for i, s in enumerate(servers)]
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    maintenance = start_background(application.storage, stop)
    imip_worker = start_imip_worker(application.storage, configuration, stop)
    try:
        for thread in threads:
            thread.start()
        if on_ready is not None:
            on_ready([url_of(s) for s in servers])
        stop.wait()
        logger.info("stopping: finishing requests in flight")
    finally:
        for server in servers:
            # Idle connections first: from here on, a waiting connection and
            # one that finishes its request are closed, so an accept loop
            # waiting for a free slot (max_connections) gets one at once.
            server.connections.close_idle()
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=10)
        maintenance.join(timeout=10)
        if imip_worker is not None:
            imip_worker.join(timeout=10)
        application.storage.engine.dispose()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
