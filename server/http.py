"""The HTTP server of ``kalend serve``: granian, in front of ``server/front``.

Why granian (README, "The HTTP front"; the measurements are in
bench/results/2026-12-07-fronts.md):

* granian parses HTTP in Rust (hyper) on an event loop, with a deadline on
  the request headers; a connection costs no Python thread until its
  request is complete (with ``front``, which reads the body on the loop).
  It has process workers as well as threads, TLS with client certificates,
  a listen backlog of its own choosing, keep-alive and chunked bodies.
* gunicorn's threaded worker and cheroot give a request thread to a
  connection before its request has arrived: clients sending half a header
  held every thread (gunicorn's documentation asks for a buffering proxy).
* waitress buffers whole requests, as kalend wants, but has neither worker
  processes nor TLS.

Two ways to run it, chosen by ``[server] workers``:

* one (the default): ``serve_in_process``, granian's embedded server on an
  event loop of the calling thread, with the background jobs (iMIP
  sending, maintenance) as threads of the same process. The test suite
  starts its servers this way too: the same front and HTTP parser, without
  a process start each time;
* more: granian's worker processes, each with the front and ``[server]
  max_connections`` request threads; this process supervises them and runs
  the background jobs once, however many workers serve requests.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from granian.constants import HTTPModes, Interfaces, Loops, SSLProtocols
from granian.http import HTTP1Settings
from radicale import config as radicale_config

from kalend.scheduling.imip_sender import start_background as start_imip_worker
from kalend.server import config as kalend_config
from kalend.server.front import Front, FrontLimits
from kalend.server.malloc_arenas import limit_malloc_arenas
from kalend.storage_plugin.settings import data_folder

if TYPE_CHECKING:
    from kalend.server.app import Application

logger = logging.getLogger("kalend.server")

#: granian's bounds for its header deadline, in milliseconds.
_HEADER_TIMEOUT_MS = (1, 60_000)


@dataclass(frozen=True)
class Listener:
    """Where and how the server listens: from ``[server]``."""

    host: str
    port: int
    backlog: int
    header_timeout_ms: int
    tls_certificate: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.tls_certificate else "http"
        return f"{scheme}://{shown}:{self.port}/"


def check_front(configuration: radicale_config.Configuration) -> None:
    """Refuse the [server] values the front cannot honour, naming the key
    and the fix, rather than serving otherwise than the file says."""
    def refuse(message: str) -> None:
        raise kalend_config.ConfigError(f"[server] {message}")

    if configuration.get("server", "timeout") <= 0:
        refuse("timeout = 0 would let a client hold a connection for ever; set the "
               "seconds a client has to send a request (default 30, at most 60 for the "
               "headers)")
    if configuration.get("server", "type") != "builtin":
        refuse(f"type = {configuration.get('server', 'type')}: kalend serves with granian; "
               "remove the line (or set it to builtin)")
    for option in ("protocol", "ciphersuite"):
        if configuration.get("server", option):
            refuse(f"{option} = {configuration.get('server', option)}: kalend's TLS "
                   "accepts TLS 1.2 and 1.3 with its own cipher suites and cannot be "
                   f"narrowed; remove the line (or terminate TLS in a proxy that can)")
    if configuration.get("server", "ssl"):
        for option in ("certificate", "key", "certificate_authority"):
            path = configuration.get("server", option)
            if option == "certificate_authority" and not path:
                continue
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                refuse(f"{option} = {path} is not a readable file, and ssl = True needs "
                       f"it; set {option} to the PEM file (or ssl = False behind a TLS "
                       "proxy)")


def listener(configuration: radicale_config.Configuration,
             address: tuple[str, int]) -> Listener:
    """The listener for ``address``, its host name resolved (port 0: a free
    port, chosen now, so that every worker process listens on the same one)."""
    host, port = address
    *_, sockaddr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM,
                                    socket.IPPROTO_TCP)[0]
    host = str(sockaddr[0])
    if port == 0:
        port = _free_port(host)
    timeout = configuration.get("server", "timeout")
    header_ms = int(min(max(timeout * 1000, _HEADER_TIMEOUT_MS[0]), _HEADER_TIMEOUT_MS[1]))
    tls = configuration.get("server", "ssl")
    return Listener(
        host=host, port=port, backlog=configuration.get("server", "backlog"),
        header_timeout_ms=header_ms,
        tls_certificate=configuration.get("server", "certificate") if tls else None,
        tls_key=configuration.get("server", "key") if tls else None,
        tls_client_ca=(configuration.get("server", "certificate_authority") or None)
        if tls else None)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def front_limits(configuration: radicale_config.Configuration) -> FrontLimits:
    return FrontLimits(
        request_threads=configuration.get("server", "max_connections"),
        body_timeout=float(configuration.get("server", "timeout")),
        max_content_length=configuration.get("server", "max_content_length"),
        multiprocess=configuration.get("server", "workers") > 1)


def build_front(configuration: radicale_config.Configuration
                ) -> tuple[Front, Application]:
    """kalend's application behind its front, in this process."""
    from kalend.server.app import Application

    configuration = configuration.copy()
    configuration.update({"server": {"_internal_server": "True"}}, "kalend serve",
                         privileged=True)
    application = Application(configuration)
    return Front(application, front_limits(configuration)), application


def load_front(config_path: str | None, overrides: dict[str, dict[str, str]]) -> Front:
    """The target of each worker process: it reads the configuration anew
    (a started process shares nothing with its parent)."""
    limit_malloc_arenas()
    configuration = kalend_config.load(config_path)
    if overrides:
        configuration.update(overrides, "kalend serve", privileged=True)
    logging.basicConfig(level=configuration.get("logging", "level").upper(),
                        format="[%(process)d] [%(levelname)s] %(message)s")
    front, application = build_front(configuration)
    atexit.register(application.storage.engine.dispose)
    # The modules, the configuration and the compiled statements live as
    # long as the worker: moved out of the collector's reach, a full
    # collection during a request scans only what requests allocate.
    gc.collect()
    gc.freeze()
    return front


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


def _granian_options(place: Listener) -> dict:
    """What the two ways of serving share."""
    tls: dict = {}
    if place.tls_certificate:
        tls = {"ssl_cert": Path(place.tls_certificate), "ssl_key": Path(place.tls_key or ""),
               # Apple Calendar, DAVx5 on older Androids and Thunderbird all
               # speak TLS 1.2; granian's default minimum is 1.3.
               "ssl_protocol_min": SSLProtocols.tls12}
        if place.tls_client_ca:
            tls |= {"ssl_ca": Path(place.tls_client_ca), "ssl_client_verify": True}
    return {
        "address": place.host, "port": place.port,
        "interface": Interfaces.RSGI, "http": HTTPModes.http1, "websockets": False,
        "backlog": place.backlog,
        "http1_settings": HTTP1Settings(header_read_timeout=place.header_timeout_ms,
                                        keep_alive=True),
        "log_access": False,
        **tls,
    }


# -- kalend serve ------------------------------------------------------------


def serve(configuration: radicale_config.Configuration, address: tuple[str, int],
          config_path: str | None, overrides: dict[str, dict[str, str]],
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then stop cleanly: one process with
    ``[server] workers = 1`` (the default), else granian's worker processes."""
    limit_malloc_arenas()
    if configuration.get("server", "workers") > 1:
        _serve_with_worker_processes(configuration, address, config_path, overrides,
                                     on_ready)
    else:
        serve_in_process(configuration, address, threading.Event(), on_ready)


def _serve_with_worker_processes(configuration: radicale_config.Configuration,
                                 address: tuple[str, int], config_path: str | None,
                                 overrides: dict[str, dict[str, str]],
                                 on_ready: Callable[[str], None] | None) -> None:
    """granian's supervisor here, its workers each a new process with the
    application; the background jobs run here, once."""
    from granian.server import Server

    from kalend.storage_plugin import Storage

    place = listener(configuration, address)
    # Workers are started afresh, not forked: this process holds database
    # connections and threads, which a fork would copy half-way.
    multiprocessing.set_start_method("spawn", force=True)
    granian = Server(
        target="kalend", workers=configuration.get("server", "workers"),
        loop=Loops.asyncio, respawn_failed_workers=True, workers_kill_timeout=30,
        log_level=_granian_log_level(configuration), **_granian_options(place))
    stop = threading.Event()
    storage = Storage(configuration)
    jobs = _start_background_jobs(storage, configuration, stop)
    threading.Thread(target=_announce_when_accepting, args=(place, on_ready, stop),
                     name="kalend-ready", daemon=True).start()
    try:
        granian.serve(target_loader=partial(load_front, config_path, overrides),
                      wrap_loader=False)
    except SystemExit as exit_:
        if exit_.code:
            raise
    finally:
        stop.set()
        for job in jobs:
            job.join(timeout=10)
        storage.engine.dispose()


def _start_background_jobs(storage, configuration: radicale_config.Configuration,
                           stop: threading.Event) -> list[threading.Thread]:
    """The maintenance job and the iMIP worker, until ``stop`` is set."""
    from kalend.server.maintenance import start_background

    jobs = [start_background(storage, stop)]
    imip_worker = start_imip_worker(storage, configuration, stop)
    if imip_worker is not None:
        jobs.append(imip_worker)
    return jobs


def _announce_when_accepting(place: Listener, on_ready: Callable[[str], None] | None,
                             stop: threading.Event) -> None:
    """Say "listening" once a worker accepts connections (each worker binds
    the address itself; until one has, a client would be refused)."""
    while not stop.is_set():
        try:
            with socket.create_connection((place.host, place.port), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    else:
        return
    if on_ready is not None:
        on_ready(place.url)


def _granian_log_level(configuration: radicale_config.Configuration):
    from granian.log import LogLevels

    level = configuration.get("logging", "level")
    return LogLevels.warning if level in ("warning", "error", "critical") else LogLevels.info


# -- one process ----------------------------------------------------------------


def serve_in_process(configuration: radicale_config.Configuration,
                     address: tuple[str, int], stop: threading.Event,
                     on_ready: Callable[[str], None] | None = None) -> None:
    """Serve on an event loop of the calling thread until ``stop`` is set
    (or, in the main thread, SIGINT/SIGTERM): granian's embedded server,
    the same front and HTTP parser as a worker process, and the background
    jobs as threads of this process.

    One process is the default because it is half the memory: a supervisor
    holding the background jobs costs as much as the worker (bench/README.md,
    "The HTTP front"). The test suite starts its servers this way.
    """
    from granian.server.embed import Server as EmbeddedServer

    prepare_data_folder(configuration)
    place = listener(configuration, address)
    front, application = build_front(configuration)
    granian = EmbeddedServer(front, log_enabled=False, **_granian_options(place))
    jobs = _start_background_jobs(application.storage, configuration, stop)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
        # `kalend serve` owns the process: the modules, the configuration and
        # the compiled statements live as long as it does; moved out of the
        # collector's reach, a full collection during a request scans only
        # what requests allocate. (Not when embedded in another program's
        # thread, e.g. the tests: freezing its objects would keep its
        # garbage, and the database connections that garbage holds, forever.)
        gc.collect()
        gc.freeze()

    async def run() -> None:
        serving = asyncio.ensure_future(granian.serve())
        loop = asyncio.get_running_loop()
        stopped = loop.run_in_executor(None, stop.wait)
        await loop.run_in_executor(None, _announce_when_accepting, place, on_ready, stop)
        await asyncio.wait([serving, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            logger.info("stopping: finishing requests in flight")
            granian.stop()
            await serving
        await loop.run_in_executor(None, front.close)

    try:
        asyncio.run(run())
    finally:
        stop.set()
        for job in jobs:
            job.join(timeout=10)
        application.storage.engine.dispose()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
