"""kalend's application behind each HTTP front that issue 15 asked to compare.

``python -m bench.fronts FRONT --config FILE --port PORT`` serves kalend's
WSGI application (the one ``kalend serve`` runs) with one of the candidate
servers, each with ``[server] max_connections`` request threads, so that
``python -m bench --front FRONT`` and ``python -m bench.front_probe`` can
measure them side by side. Only ``granian`` (``kalend serve`` itself) is
kalend's front; the others exist here to be measured, not to be run.

* ``granian``: ``kalend serve`` (granian's embedded server, kalend's ASGI
  front that reads the body before a thread takes the request);
* ``granian-wsgi``: granian's own WSGI mode, the application called as soon
  as the headers are in;
* ``gunicorn``: gunicorn's threaded worker (``gthread``), one process;
* ``waitress``: waitress, which buffers whole requests;
* ``cheroot``: CherryPy's server, reading requests in its worker threads.
"""

from __future__ import annotations

import argparse
import sys

FRONTS = ("granian", "granian-wsgi", "gunicorn", "waitress", "cheroot")


def _application(config_path: str):
    from kalend.server import config as kalend_config
    from kalend.server.http import build_front

    configuration = kalend_config.load(config_path)
    front, application = build_front(configuration)
    front.close()       # only the application is served here
    return configuration, application


def _serve_gunicorn(application, host: str, port: int, threads: int, timeout: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Embedded(BaseApplication):
        def load_config(self) -> None:
            for key, value in {"bind": f"{host}:{port}", "workers": 1,
                               "worker_class": "gthread", "threads": threads,
                               "timeout": max(timeout, 30), "keepalive": 15,
                               "accesslog": None, "loglevel": "warning"}.items():
                self.cfg.set(key, value)

        def load(self):
            return application

    Embedded().run()


def _serve_granian_wsgi(application, host: str, port: int, threads: int) -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    # The target string is only shown in granian's log: the application is
    # handed over by the loader below.
    server = Server("kalend", address=host, port=port,
                    interface=Interfaces.WSGI, blocking_threads=threads, websockets=False)
    server.serve(target_loader=lambda *_: application, wrap_loader=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fronts")
    parser.add_argument("front", choices=FRONTS)
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.front == "granian":
        from kalend.server.cli import main as kalend_main

        return kalend_main(["serve", "--config", args.config, "--host", args.host,
                            "--port", str(args.port)])
    configuration, application = _application(args.config)
    threads = configuration.get("server", "max_connections")
    timeout = int(configuration.get("server", "timeout"))
    print(f"{args.front}: listening on http://{args.host}:{args.port}/", flush=True)
    if args.front == "gunicorn":
        _serve_gunicorn(application, args.host, args.port, threads, timeout)
    elif args.front == "granian-wsgi":
        _serve_granian_wsgi(application, args.host, args.port, threads)
    elif args.front == "waitress":
        import waitress

        waitress.serve(application, host=args.host, port=args.port, threads=threads,
                       channel_timeout=timeout, connection_limit=1000, backlog=1024,
                       _quiet=True)
    else:
        from cheroot import wsgi

        server = wsgi.Server((args.host, args.port), application, numthreads=threads,
                             timeout=timeout, request_queue_size=1024)
        try:
            server.start()
        except KeyboardInterrupt:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
