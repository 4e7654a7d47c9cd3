"""Logins (an htpasswd file Radicale reads) and calendar-user addresses.

The password file stays Radicale's htpasswd format so that Radicale's own
``htpasswd`` auth checks it and an existing Radicale file keeps working;
kalend writes bcrypt hashes. The calendar-user addresses (RFC 6638 §2.4.1)
live in the database, where the scheduling code looks up who is local.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import bcrypt
from sqlalchemy import Engine, delete, insert, select

from kalend.storage_plugin import schema

#: What Radicale accepts as a principal name in a URL path segment, minus the
#: characters an htpasswd line cannot hold.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class UserError(ValueError):
    """A user-management request that cannot be carried out, with the fix."""


@dataclass(frozen=True)
class User:
    name: str
    addresses: tuple[str, ...]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UserError(
            f"invalid user name {name!r}: use letters, digits and . _ @ + - "
            "(it becomes the first segment of the user's calendar URLs)")
    return name


def normalise_address(address: str) -> str:
    """``Alice@Example.org`` -> ``mailto:alice@example.org``."""
    value = address.strip()
    if value.lower().startswith("mailto:"):
        value = value[len("mailto:"):]
    if not _ADDRESS.match(value):
        raise UserError(f"invalid e-mail address {address!r}: expected name@domain")
    return "mailto:" + value.lower()


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return []


def read_logins(path: str) -> list[str]:
    return [line.split(":", 1)[0] for line in _read_lines(path)
            if line.strip() and not line.startswith("#") and ":" in line]


def _write_lines(path: str, lines: Sequence[str]) -> None:
    """Replace the file atomically: Radicale may be reading it right now."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".htpasswd-", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _exists_message(name: str) -> str:
    return (f"user {name!r} exists already; "
            f"use `kalend user passwd {name}` to change the password")


def check_new_login(path: str, name: str) -> None:
    """Raise ``UserError`` when the htpasswd file has a login ``name``."""
    if name in read_logins(path):
        raise UserError(_exists_message(name))


def set_password(path: str, name: str, password: str, *, create: bool) -> None:
    check_name(name)
    if not password:
        raise UserError("the password must not be empty")
    lines = _read_lines(path)
    entry = f"{name}:{hash_password(password)}"
    for index, line in enumerate(lines):
        if line.split(":", 1)[0] == name:
            if create:
                raise UserError(_exists_message(name))
            lines[index] = entry
            break
    else:
        if not create:
            raise UserError(f"no user {name!r}; create it with `kalend user add {name}`")
        lines.append(entry)
    _write_lines(path, lines)


def append_logins(path: str, entries: Sequence[str]) -> None:
    """Add ``name:hash`` lines to the htpasswd file in one atomic replace,
    refusing a name the file has gained meanwhile."""
    lines = _read_lines(path)
    present = set(read_logins(path))
    for entry in entries:
        name = entry.split(":", 1)[0]
        if name in present:
            raise UserError(_exists_message(name))
        present.add(name)
    _write_lines(path, [*lines, *entries])


def set_addresses(engine: Engine, name: str, addresses: Iterable[str]) -> list[str]:
    """Record the user's calendar-user addresses, first one primary.

    An address belongs to one principal only: scheduling must know whose
    inbox an invitation to it goes to.
    """
    normalised = list(dict.fromkeys(normalise_address(a) for a in addresses))
    with engine.begin() as connection:
        for address in normalised:
            owner = connection.execute(
                select(schema.calendar_user.c.principal)
                .where(schema.calendar_user.c.address == address)).scalar()
            if owner is not None and owner != name:
                raise UserError(f"address {address[7:]} belongs to user {owner!r} already")
        connection.execute(delete(schema.calendar_user)
                           .where(schema.calendar_user.c.principal == name))
        if normalised:
            connection.execute(insert(schema.calendar_user), [
                {"address": a, "principal": name, "position": i}
                for i, a in enumerate(normalised)])
    return normalised


def list_users(engine: Engine, htpasswd_path: str) -> list[User]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(schema.calendar_user.c.principal, schema.calendar_user.c.address)
            .order_by(schema.calendar_user.c.principal,
                      schema.calendar_user.c.position)).all()
    addresses: dict[str, list[str]] = {}
    for principal, address in rows:
        addresses.setdefault(principal, []).append(address)
    names = list(dict.fromkeys(read_logins(htpasswd_path) + sorted(addresses)))
    return [User(n, tuple(addresses.get(n, ()))) for n in names]


def set_group(engine: Engine, address: str, members: Iterable[str]) -> tuple[str, list[str]]:
    """Make ``address`` a group whose invitations reach each member
    (RFC 6638 §3.2.1.1, an ATTENDEE with CUTYPE=GROUP); no members removes
    the group. A group address is nobody's own address."""
    group = normalise_address(address)
    names = [check_name(m) for m in dict.fromkeys(members)]
    with engine.begin() as connection:
        owner = connection.execute(
            select(schema.calendar_user.c.principal)
            .where(schema.calendar_user.c.address == group)).scalar()
        if owner is not None:
            raise UserError(f"address {group[7:]} belongs to user {owner!r}; "
                            "a group needs an address of its own")
        connection.execute(delete(schema.group_member)
                           .where(schema.group_member.c.address == group))
        if names:
            connection.execute(insert(schema.group_member),
                               [{"address": group, "member": n} for n in names])
    return group, names
