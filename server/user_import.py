"""``kalend user import``: many logins at once, from a CSV file or an
htpasswd file (a Radicale installation's users).

Why not ``kalend user add`` in a loop: each call starts a process, reads
and rewrites the htpasswd file, and commits its own transactions, about 2 s
a user (300 s for 150 users, issue 16). Here the file is read and checked
whole before anything is written, the passwords are hashed on every core,
the database is written in a few large transactions, and the htpasswd file
is replaced once.

Nothing is written when any line is wrong: the error lists every problem
with its line number, so one corrected file imports in one go.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kalend.server import users

#: The CSV columns kalend reads; any other column is refused, so that a
#: misspelt one ("email") does not import users without their addresses.
CSV_COLUMNS = ("name", "password", "password_hash", "emails", "display_name")

#: Hash schemes that Radicale's htpasswd check verifies under each
#: ``[auth] htpasswd_encryption``; kalend itself writes bcrypt.
_SCHEMES = {
    "bcrypt": ("$2a$", "$2b$", "$2y$"),
    "autodetect": ("$2a$", "$2b$", "$2y$", "$5$", "$6$", "$apr1$", "$argon2"),
    "sha256": ("$5$",),
    "sha512": ("$6$",),
    "md5": ("$apr1$",),
    "argon2": ("$argon2",),
}

#: The longest display name kept (a CN parameter of invitations).
MAX_DISPLAY_NAME = 256


@dataclass(frozen=True)
class ImportedUser:
    """One user of the file, checked on its own."""

    line: int
    name: str
    #: Exactly one of password and password_hash is set.
    password: str | None
    password_hash: str | None
    addresses: tuple[str, ...]
    display_name: str | None


class ImportRefused(users.UserError):
    """The file cannot be imported; nothing was written."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        shown = "\n  ".join(problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{path}: nothing imported, {len(problems)} problem(s):\n"
                         f"  {shown}{more}")
        self.problems = list(problems)


def read_users(path: str, encryption: str) -> list[ImportedUser]:
    """The users of a CSV file (a header line naming its columns) or an
    htpasswd file (``name:hash`` lines), each line checked; raises
    ``ImportRefused`` listing every problem."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise users.UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise users.UserError(f"{path} is a folder; name the CSV or htpasswd file") from None
    except UnicodeDecodeError as exc:
        raise users.UserError(f"{path} is not UTF-8 text (byte {exc.start}); "
                              "save it as UTF-8") from None
    problems: list[str] = []
    found = (_read_csv(text, encryption, problems) if _looks_like_csv(text)
             else _read_htpasswd(text, encryption, problems))
    _check_unique(found, problems)
    if problems:
        raise ImportRefused(path, problems)
    if not found:
        raise users.UserError(f"{path} holds no users")
    return found


def _looks_like_csv(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    header = [cell.strip().lower() for cell in first.split(",")]
    return "name" in header


def _read_csv(text: str, encryption: str, problems: list[str]) -> list[ImportedUser]:
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        problems.append(f"line 1: unknown column(s) {', '.join(map(repr, unknown))}; "
                        f"kalend reads {', '.join(CSV_COLUMNS)}")
        return []
    if "password" not in columns and "password_hash" not in columns:
        problems.append("line 1: a column password or password_hash is needed")
        return []
    reader.fieldnames = columns
    found = []
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(f"line {line}: more cells than columns")
            continue
        cells = {k: (v or "").strip() for k, v in row.items()}
        if not any(cells.values()):
            continue
        user = _checked(line, cells.get("name", ""), cells.get("password", ""),
                        cells.get("password_hash", ""), cells.get("emails", "").split(),
                        cells.get("display_name", ""), encryption, problems)
        if user is not None:
            found.append(user)
    return found


def _read_htpasswd(text: str, encryption: str, problems: list[str]) -> list[ImportedUser]:
    found = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, password_hash = line.partition(":")
        if not colon:
            problems.append(f"line {number}: expected name:hash (or a CSV file whose "
                            "first line names its columns, among them name)")
            continue
        user = _checked(number, name, "", password_hash, [], "", encryption, problems)
        if user is not None:
            found.append(user)
    return found


def _checked(line: int, name: str, password: str, password_hash: str,
             emails: Iterable[str], display_name: str, encryption: str,
             problems: list[str]) -> ImportedUser | None:
    before = len(problems)

    def problem(message: str) -> None:
        problems.append(f"line {line}: {message}")

    try:
        users.check_name(name)
    except users.UserError as exc:
        problem(str(exc))
    if password and password_hash:
        problem("both password and password_hash are given; keep one")
    elif not password and not password_hash:
        problem("no password or password_hash")
    elif password_hash and not password_hash.startswith(_SCHEMES.get(encryption, ())):
        allowed = ", ".join(_SCHEMES.get(encryption, ())) or "none"
        problem(f"the hash of {name!r} is not one [auth] htpasswd_encryption = "
                f"{encryption} verifies (hashes starting {allowed}); give a password, "
                "or set htpasswd_encryption = autodetect to keep sha256, sha512, apr1 "
                "and argon2 hashes")
    addresses = []
    for email in emails:
        try:
            addresses.append(users.normalise_address(email))
        except users.UserError as exc:
            problem(str(exc))
    if len(display_name) > MAX_DISPLAY_NAME or any(c in display_name for c in "\r\n"):
        problem(f"the display name is over {MAX_DISPLAY_NAME} characters or has a "
                "line break")
    if len(problems) > before:
        return None
    return ImportedUser(line, name, password or None, password_hash or None,
                        tuple(dict.fromkeys(addresses)), display_name or None)


def _check_unique(found: Sequence[ImportedUser], problems: list[str]) -> None:
    """A name or an address appears once in the file."""
    names: dict[str, int] = {}
    addresses: dict[str, tuple[int, str]] = {}
    for user in found:
        if user.name in names:
            problems.append(f"line {user.line}: user {user.name!r} is on line "
                            f"{names[user.name]} already")
        names.setdefault(user.name, user.line)
        for address in user.addresses:
            owner = addresses.get(address)
            if owner is not None and owner[1] != user.name:
                problems.append(f"line {user.line}: address {address[7:]} is "
                                f"{owner[1]!r}'s on line {owner[0]}")
            addresses.setdefault(address, (user.line, user.name))


def check_new(found: Sequence[ImportedUser], logins: Iterable[str],
              address_owners: dict[str, str], path: str) -> None:
    """Refuse users that exist already, and addresses another user holds."""
    existing = set(logins)
    problems = []
    for user in found:
        if user.name in existing:
            problems.append(f"line {user.line}: user {user.name!r} exists already "
                            f"(`kalend user passwd {user.name}` changes a password)")
        for address in user.addresses:
            owner = address_owners.get(address)
            if owner is not None and owner != user.name:
                problems.append(f"line {user.line}: address {address[7:]} belongs to "
                                f"user {owner!r} already")
    if problems:
        raise ImportRefused(path, problems)


def htpasswd_lines(found: Sequence[ImportedUser], threads: int | None = None) -> list[str]:
    """``name:hash`` for each user, hashing plain passwords on every core:
    bcrypt releases the interpreter lock while it works, and its cost is
    what an import of plain passwords is made of."""
    workers = threads or os.cpu_count() or 1

    def line(user: ImportedUser) -> str:
        if user.password_hash is not None:
            return f"{user.name}:{user.password_hash}"
        assert user.password is not None
        return f"{user.name}:{users.hash_password(user.password)}"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(line, found))
