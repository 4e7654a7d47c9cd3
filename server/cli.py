"""The ``kalend`` command: serve, manage users, migrate the database.

Every failure an operator can cause (a bad config key, an unreachable
database, a stale schema, an unknown user) ends in one line on stderr naming
what is wrong and what to do, and exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Sequence

from radicale import config as radicale_config

import kalend
from kalend.scheduling.imip_settings import ImipConfigError, imip_settings, smtp_settings
from kalend.server import config as kalend_config
from kalend.server import users
from kalend.storage_plugin import migrate
from kalend.storage_plugin.engine import DatabaseUnavailableError, make_engine, masked_url
from kalend.storage_plugin.settings import database_url

EXIT_USAGE = 2


class CommandError(Exception):
    """Printed as ``kalend: <message>`` with exit status 2."""


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")


def _load(args: argparse.Namespace) -> radicale_config.Configuration:
    return kalend_config.load(args.config)


def _bind_address(args: argparse.Namespace,
                  configuration: radicale_config.Configuration) -> tuple[str, int]:
    """[server] hosts, or the address --host/--port name (port 0 picks a
    free port, which Radicale's own option parser would refuse)."""
    hosts: list[tuple[str, int]] = list(configuration.get("server", "hosts"))
    if args.host is None and args.port is None:
        if len(hosts) != 1:
            raise kalend_config.ConfigError(
                "[server] hosts lists several addresses: kalend listens on one; use "
                "[::]:5232 for every IPv4 and IPv6 address, or one address per kalend serve")
        return hosts[0]
    host = args.host if args.host is not None else hosts[0][0]
    port = args.port if args.port is not None else hosts[0][1]
    if not 0 <= port <= 65535:
        raise CommandError(f"--port {port} is not a port number (0-65535)")
    return host, port


def _positive(text: str) -> int:
    """An argparse type: a whole number from 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _engine(configuration: radicale_config.Configuration):
    engine = make_engine(database_url(configuration),
                         pool_size=configuration.get("storage", "pool_size"))
    migrate.ensure_current(engine)
    return engine


# -- verbs ------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from kalend.server.http import check_front, prepare_data_folder, serve

    configuration = _load(args)
    _configure_logging(configuration.get("logging", "level"))
    address = _bind_address(args, configuration)
    check_front(configuration)
    folder = prepare_data_folder(configuration)
    htpasswd = configuration.get("auth", "htpasswd_filename")
    for option in kalend_config.ignored_options(args.config):
        logging.getLogger("kalend").warning(
            "[storage] %s is a Radicale file-system option; kalend ignores it", option)
    url = database_url(configuration)
    print(f"kalend {kalend.__version__}: data folder {folder}", flush=True)
    print(f"kalend: database {masked_url(url)}", flush=True)
    if not users.read_logins(htpasswd) and configuration.get("auth", "type") == "htpasswd":
        print("kalend: no users yet; add one with `kalend user add NAME`", flush=True)
    # A broken [smtp]/[imip] value, or a database at an older schema, stops
    # start-up here, before any worker starts.
    smtp_settings(configuration)
    imip_settings(configuration)
    _engine(configuration).dispose()

    def ready(address_url: str) -> None:
        print(f"kalend: listening on {address_url} (Ctrl-C stops)", flush=True)

    # The worker processes read the file again; the data folder is passed
    # as found here so that a relative one means the same to them.
    overrides = {"storage": {"data_folder": folder},
                 "auth": {"htpasswd_filename": htpasswd}}
    serve(configuration, address, args.config, overrides, on_ready=ready)
    print("kalend: stopped", flush=True)
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from kalend.storage_plugin import Storage, principals
    from kalend.storage_plugin.transaction import transaction

    configuration = _load(args)
    htpasswd = configuration.get("auth", "htpasswd_filename")
    # Refuse a bad name, a duplicate, a bad address or an empty password
    # before anything is written: set_addresses would otherwise replace an
    # existing user's addresses or leave addresses without a login.
    users.check_new_login(htpasswd, users.check_name(args.name))
    for address in args.email or []:
        users.normalise_address(address)
    password = args.password if args.password is not None else _ask_password(args.name)
    if not password:
        raise CommandError("the password must not be empty; nothing changed")
    engine = _engine(configuration)
    addresses = users.set_addresses(engine, args.name, args.email or [])
    users.set_password(htpasswd, args.name, password, create=True)
    # The inbox, outbox and default calendar exist before the first login,
    # so invitations reach a user who never started a client (RFC 6638 §2).
    storage = Storage(configuration, engine=engine)
    with transaction(engine, "w", [args.name]):
        principals.ensure_home(storage, args.name)
    shown = ", ".join(a[len("mailto:"):] for a in addresses) or "no e-mail address"
    print(f"kalend: user {args.name} added ({shown})")
    return 0


def cmd_user_import(args: argparse.Namespace) -> int:
    import time

    from kalend.server import user_import
    from kalend.storage_plugin import Storage, principals
    from kalend.storage_plugin.transaction import transaction

    started = time.monotonic()
    configuration = _load(args)
    htpasswd = configuration.get("auth", "htpasswd_filename")
    found = user_import.read_users(args.file,
                                   configuration.get("auth", "htpasswd_encryption"))
    engine = _engine(configuration)
    storage = Storage(configuration, engine=engine)
    with transaction(engine, "r", ["kalend-user-import"]):
        owners = principals.address_owners(
            storage._conn, [a for user in found for a in user.addresses])
    user_import.check_new(found, users.read_logins(htpasswd), owners, args.file)
    hashing = sum(1 for user in found if user.password is not None)
    if hashing:
        print(f"kalend: hashing {hashing} password(s)…", flush=True)
    entries = user_import.htpasswd_lines(found)
    # The database first, as `user add` does: a login without its home and
    # addresses would be a user nobody can invite. A failed batch leaves the
    # earlier ones, which a second run of the same file accepts (same owner).
    for start in range(0, len(found), args.batch):
        batch = found[start:start + args.batch]
        with transaction(engine, "w", [user.name for user in batch]):
            for user in batch:
                principals.add_principal(storage, user.name, user.addresses,
                                         user.display_name)
        print(f"kalend: {start + len(batch)} of {len(found)} users stored", flush=True)
    users.append_logins(htpasswd, entries)
    print(f"kalend: {len(found)} users imported in {time.monotonic() - started:.1f} s")
    return 0


def cmd_group_set(args: argparse.Namespace) -> int:
    configuration = _load(args)
    group, members = users.set_group(_engine(configuration), args.address, args.members)
    shown = ", ".join(members) if members else "nobody (group removed)"
    print(f"kalend: group {group[len('mailto:'):]}: {shown}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    configuration = _load(args)
    engine = _engine(configuration)
    for user in users.list_users(engine, configuration.get("auth", "htpasswd_filename")):
        print(" ".join([user.name, *(a[len("mailto:"):] for a in user.addresses)]))
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    configuration = _load(args)
    password = args.password if args.password is not None else _ask_password(args.name)
    users.set_password(configuration.get("auth", "htpasswd_filename"), args.name,
                       password, create=False)
    if args.email:
        users.set_addresses(_engine(configuration), args.name, args.email)
    print(f"kalend: password of {args.name} changed")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    configuration = _load(args)
    engine = make_engine(database_url(configuration))
    before, after = migrate.upgrade(engine)
    if before == after:
        print(f"kalend: database {masked_url(database_url(configuration))} "
              f"is up to date ({after})")
    else:
        print(f"kalend: database upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    configuration = _load(args)
    engine = make_engine(database_url(configuration))
    current, head = migrate.current_revision(engine), migrate.head_revision()
    state = "up to date" if current == head else "needs `kalend db upgrade`"
    print(f"kalend: schema {current or 'empty'}, this kalend needs {head}: {state}")
    return 0 if current == head else 1


def cmd_maintain(args: argparse.Namespace) -> int:
    from kalend.server.maintenance import run_once
    from kalend.storage_plugin import Storage

    configuration = _load(args)
    report = run_once(Storage(configuration))
    print(f"kalend: maintenance done: {report.extended_items} items re-materialised, "
          f"{report.pruned_changes} old change-log rows pruned")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from kalend.server.calendar_import import import_objects, split_objects
    from kalend.storage_plugin import Storage
    from kalend.storage_plugin.expansion_budget import InstanceLimitError

    storage = Storage(_load(args))

    def objects():
        for name in args.files:
            try:
                with open(name, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                raise CommandError(f"cannot read {name}: {exc.strerror}") from exc
            except UnicodeDecodeError as exc:
                raise CommandError(f"{name} is not UTF-8 text") from exc
            try:
                yield from split_objects(text)
            except ValueError as exc:
                raise CommandError(f"{name}: {exc}; nothing after it imported") from exc

    try:
        report = import_objects(storage, args.target, objects(), args.name or "")
    except (ValueError, InstanceLimitError) as exc:
        # A rule refused (recurrence_rules) or too costly to expand: the
        # batch it was in is not stored.
        raise CommandError(str(exc)) from exc
    print(f"kalend: imported into {args.target.strip('/')}: {report.created} new, "
          f"{report.replaced} replaced")
    return 0


def cmd_config_defaults(_args: argparse.Namespace) -> int:
    sys.stdout.write(kalend_config.render_defaults())
    return 0


def cmd_db_verify(args: argparse.Namespace) -> int:
    from kalend.storage_plugin import Storage

    ok = Storage(_load(args)).verify()
    print("kalend: storage verified, no problems" if ok
          else "kalend: storage has problems (see the log above)")
    return 0 if ok else 1


def _ask_password(name: str) -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise CommandError("no password given: pass --password or type it on stdin")
        return line
    first = getpass.getpass(f"Password for {name}: ")
    if first != getpass.getpass("Again: "):
        raise CommandError("the two passwords differ; nothing changed")
    return first


# -- argument parsing -----------------------------------------------------------


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-C", metavar="FILE",
                        help="configuration file (Radicale's INI format with kalend's "
                             "keys; see config/kalend.conf). Without it kalend runs on "
                             "the embedded default in ./kalend-data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kalend", description="kalend: a CalDAV/CardDAV server for teams.")
    parser.add_argument("--version", action="version",
                        version=f"kalend {kalend.__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    serve = verbs.add_parser("serve", help="run the CalDAV/CardDAV server",
                             description="Serve CalDAV/CardDAV until Ctrl-C.")
    _add_config(serve)
    serve.add_argument("--host", help="address to listen on (default: [server] hosts, "
                                      "localhost)")
    serve.add_argument("--port", type=int, help="port to listen on (default 5232; "
                                                "0 picks a free one)")
    serve.set_defaults(func=cmd_serve)

    user = verbs.add_parser("user", help="manage logins and calendar-user addresses",
                            description="Manage logins and their e-mail addresses.")
    user_verbs = user.add_subparsers(dest="user_verb", metavar="ACTION", required=True)
    add = user_verbs.add_parser("add", help="create a login",
                                description="Create a login; the e-mail addresses are "
                                            "the user's calendar-user addresses "
                                            "used for scheduling.")
    add.add_argument("name")
    add.add_argument("--password", help="the password (asked for when left out)")
    add.add_argument("--email", action="append", metavar="ADDR",
                     help="an e-mail address of the user (repeatable)")
    _add_config(add)
    add.set_defaults(func=cmd_user_add)
    lst = user_verbs.add_parser("list", help="list logins and their addresses",
                                description="List logins and their addresses.")
    _add_config(lst)
    lst.set_defaults(func=cmd_user_list)
    passwd = user_verbs.add_parser("passwd", help="change a password",
                                   description="Change a user's password (and, with "
                                               "--email, replace their addresses).")
    passwd.add_argument("name")
    passwd.add_argument("--password", help="the new password (asked for when left out)")
    passwd.add_argument("--email", action="append", metavar="ADDR",
                        help="replace the user's addresses (repeatable)")
    _add_config(passwd)
    passwd.set_defaults(func=cmd_user_passwd)
    imported = user_verbs.add_parser(
        "import", help="create many logins from a CSV or htpasswd file",
        description="Create the logins of FILE: a CSV file whose first line names "
                    "its columns (name; password or password_hash; emails, separated "
                    "by spaces; display_name) or an htpasswd file (name:hash lines, "
                    "e.g. a Radicale installation's). The whole file is checked "
                    "first; when any line is wrong nothing is imported.")
    imported.add_argument("file", metavar="FILE")
    imported.add_argument("--batch", type=_positive, default=250, metavar="N",
                          help="users per database transaction (default 250)")
    _add_config(imported)
    imported.set_defaults(func=cmd_user_import)

    group = verbs.add_parser("group", help="manage group addresses for scheduling",
                             description="Manage group calendar users: an invitation "
                                         "to a group's address (CUTYPE=GROUP) is "
                                         "delivered to each member.")
    group_verbs = group.add_subparsers(dest="group_verb", metavar="ACTION", required=True)
    group_set = group_verbs.add_parser("set", help="set a group's members",
                                       description="Set the members of the group with "
                                                   "this e-mail address (none: remove it).")
    group_set.add_argument("address")
    group_set.add_argument("members", nargs="*", metavar="USER")
    _add_config(group_set)
    group_set.set_defaults(func=cmd_group_set)

    db = verbs.add_parser("db", help="database schema migrations",
                          description="Manage the database schema.")
    db_verbs = db.add_subparsers(dest="db_verb", metavar="ACTION", required=True)
    upgrade = db_verbs.add_parser("upgrade", help="apply pending migrations",
                                  description="Apply pending Alembic migrations.")
    _add_config(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)
    status = db_verbs.add_parser("status", help="show the schema revision",
                                 description="Show whether the schema is current.")
    _add_config(status)
    status.set_defaults(func=cmd_db_status)
    verify = db_verbs.add_parser("verify", help="check every stored item",
                                 description="Check that every item parses, its ETag "
                                             "matches its text and UIDs are unique.")
    _add_config(verify)
    verify.set_defaults(func=cmd_db_verify)
    maintain = verbs.add_parser("maintain", help="run periodic upkeep once (for cron)",
                                description="Run the periodic database upkeep once: "
                                            "move the occurrence window forward and "
                                            "prune the sync change log past "
                                            "[storage] sync_token_retention_days.")
    _add_config(maintain)
    maintain.set_defaults(func=cmd_maintain)
    importer = verbs.add_parser(
        "import", help="load .ics files into a calendar",
        description="Store every calendar object of the files (an export of a whole "
                    "calendar, or one object per file) in USER/CALENDAR, creating "
                    "it if needed; objects with a UID already there are replaced. "
                    "Imported objects are stored, not scheduled: no invitations go out.")
    importer.add_argument("target", metavar="USER/CALENDAR")
    importer.add_argument("files", nargs="+", metavar="FILE")
    importer.add_argument("--name", help="display name of a calendar created by the import")
    _add_config(importer)
    importer.set_defaults(func=cmd_import)
    config = verbs.add_parser("config", help="print every option with its default",
                              description="Print a configuration file listing every "
                                          "option, its default and what it does.")
    config.set_defaults(func=cmd_config_defaults)
    from kalend.server import cli_imip
    cli_imip.add_verbs(verbs, _add_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (CommandError, kalend_config.ConfigError, users.UserError,
            DatabaseUnavailableError, migrate.SchemaOutOfDateError, ImipConfigError) as exc:
        print(f"kalend: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
