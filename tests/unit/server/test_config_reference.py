"""The reference files cannot drift from the code.

* config/kalend.conf is what ``kalend config`` prints: every option of
  ``iter_options()`` with its default.
* The runnable examples in config/ load without a complaint.
* ``kalend.storage_plugin.schema.metadata`` (used by the queries) describes
  exactly the tables the Alembic migrations create.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kalend.server import config as kalend_config
from kalend.storage_plugin import migrate, schema
from kalend.storage_plugin.engine import make_engine

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
REFERENCE = os.path.join(REPO, "config", "kalend.conf")


def read_reference() -> str:
    with open(REFERENCE, encoding="utf-8") as handle:
        return handle.read()


def uncommented(text: str) -> configparser.RawConfigParser:
    """The reference file with every ``#option = value`` line switched on."""
    lines = []
    for line in text.splitlines():
        if line.startswith("#") and " = " in line and not line.startswith("# "):
            lines.append(line[1:])
        elif not line.startswith("#"):
            lines.append(line)
    parser = configparser.RawConfigParser()
    parser.read_string("\n".join(lines) + "\n")
    return parser


def test_reference_file_is_what_kalend_config_prints():
    # Regenerate with: kalend config > config/kalend.conf
    assert read_reference() == kalend_config.render_defaults()


def test_kalend_config_command_prints_the_same():
    result = subprocess.run([sys.executable, "-m", "kalend", "config"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == kalend_config.render_defaults()


def test_every_option_is_listed_with_its_default():
    parser = uncommented(read_reference())
    options = list(kalend_config.iter_options())
    assert options
    for section, option, entry in options:
        assert parser.has_option(section, option), f"[{section}] {option} missing"
        default = str(entry["value"]).replace("\n", " ")
        assert parser.get(section, option) == default.strip(), f"[{section}] {option}"
    listed = {(s, o) for s in parser.sections() for o in parser.options(s)}
    assert listed == {(s, o) for s, o, _ in options}


def test_kalend_own_keys_are_listed_and_marked():
    text = read_reference()
    for option in ("url", "data_folder", "pool_size", "sync_token_retention_days"):
        assert f"\n#{option} = " in text
    storage = text[text.index("[storage]"):]
    url_help = storage.splitlines()[storage.splitlines().index("#url = ") - 1]
    assert url_help.endswith("(kalend)")


def test_reference_file_loads_as_it_is(tmp_path):
    # All lines commented out: the file must still be a valid configuration.
    configuration = kalend_config.load(REFERENCE)
    assert configuration.get("storage", "type") == "kalend.storage_plugin"


def test_every_default_passes_validation_when_switched_on(tmp_path):
    parser = uncommented(read_reference())
    path = tmp_path / "all-defaults.conf"
    with open(path, "w", encoding="utf-8") as handle:
        parser.write(handle)
    kalend_config.load(str(path))


@pytest.mark.parametrize("name", ["embedded.conf", "postgresql.conf"])
def test_example_configurations_load(name):
    configuration = kalend_config.load(os.path.join(REPO, "config", name))
    assert configuration.get("storage", "type") == "kalend.storage_plugin"


def _differences(engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, schema.metadata)


def test_schema_metadata_matches_the_migrations_on_a_fresh_sqlite_database(tmp_path):
    engine = make_engine("sqlite:///" + str(tmp_path / "fresh.sqlite3"))
    try:
        before, after = migrate.upgrade(engine)
        assert before is None and after == migrate.head_revision()
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_schema_metadata_matches_the_migrations(database_url):
    # The database_url fixture's database was migrated by kalend itself
    # (SQLite: a fresh file; PostgreSQL: the test run's database).
    engine = make_engine(database_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert _differences(engine) == []
    finally:
        engine.dispose()
