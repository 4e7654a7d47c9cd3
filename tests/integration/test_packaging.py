"""kalend installs from a fresh venv outside the repository (issue 2, point 1).

Two installs, one venv each per test session: ``pip install REPO`` (a
wheel) and ``pip install -e REPO`` (editable). Both are made in a temporary
folder outside the repository and every command runs from there, so that the
repository's folders cannot shadow the installed package. pip uses the
machine's configured index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import kalend

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

IMPORTS = ("import kalend.server, kalend.storage_plugin, kalend.scheduling, "
           "kalend.storage_plugin.migrations, kalend.server.cli")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


class Venv:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.workdir = os.path.join(os.path.dirname(folder), "work")
        os.makedirs(self.workdir, exist_ok=True)
        self.bin = os.path.join(folder, "bin")

    def run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([os.path.join(self.bin, program), *args], cwd=self.workdir,
                                env=_clean_env(), capture_output=True, text=True,
                                check=False)
        if check:
            assert result.returncode == 0, (program, args, result.stdout, result.stderr)
        return result

    def python(self, code: str) -> str:
        return self.run("python", "-c", code).stdout.strip()


def _make_venv(tmp_path_factory, kind: str, *pip_args: str) -> Venv:
    base = str(tmp_path_factory.mktemp(f"kalend-{kind}-install"))
    assert not base.startswith(REPO + os.sep)
    folder = os.path.join(base, "venv")
    subprocess.run([sys.executable, "-m", "venv", folder], check=True, env=_clean_env())
    venv = Venv(folder)
    venv.run("python", "-m", "pip", "install", "--quiet", *pip_args)
    return venv


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Venv:
    return _make_venv(tmp_path_factory, "wheel", REPO)


@pytest.fixture(scope="module")
def editable_venv(tmp_path_factory) -> Venv:
    return _make_venv(tmp_path_factory, "editable", "-e", REPO)


@pytest.fixture(params=["wheel", "editable"])
def venv(request) -> Venv:
    return request.getfixturevalue(f"{request.param}_venv")


def test_the_venv_is_clean_and_outside_the_repository(venv):
    prefix = venv.python("import sys; print(sys.prefix)")
    assert os.path.realpath(prefix) == os.path.realpath(venv.folder)
    assert not os.path.realpath(venv.workdir).startswith(REPO + os.sep)
    # Nothing leaks in from the test venv's site-packages.
    assert venv.python("import importlib.util; print(importlib.util.find_spec('pytest'))") == "None"


def test_kalend_version(venv):
    result = venv.run("kalend", "--version")
    assert result.stdout.strip() == f"kalend {kalend.__version__}"


def test_the_three_rooms_import_under_kalend(venv):
    venv.python(IMPORTS)


def test_installed_packages_are_where_the_install_kind_puts_them(venv, request):
    where = venv.python("import kalend.server, kalend.storage_plugin, kalend.scheduling, os; "
                        "print('\\n'.join(os.path.realpath(os.path.dirname(m.__file__)) for m in "
                        "(kalend.server, kalend.storage_plugin, kalend.scheduling)))").splitlines()
    repo = os.path.realpath(REPO)
    if "editable" in request.node.callspec.id:
        assert where == [os.path.join(repo, "server"), os.path.join(repo, "storage_plugin"),
                         os.path.join(repo, "scheduling")]
    else:
        site = os.path.realpath(venv.folder)
        assert all(path.startswith(site + os.sep) for path in where), where
        assert all(os.sep + os.path.join("kalend", name) in path
                   for path, name in zip(where, ("server", "storage_plugin", "scheduling")))


def test_alembic_migration_files_are_installed(venv):
    folder = venv.python("import kalend.storage_plugin.migrations as m, os; "
                         "print(os.path.dirname(m.__file__))")
    assert os.path.isfile(os.path.join(folder, "versions", "0001_initial.py"))
    assert os.path.isfile(os.path.join(folder, "env.py"))
    assert os.path.isfile(os.path.join(folder, "script.py.mako"))


def test_installed_kalend_migrates_a_database_and_answers_config(venv):
    # The migrations really load from the installed package.
    config = os.path.join(venv.workdir, "kalend.conf")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent("""\
            [storage]
            data_folder = ./data
            """))
    database = os.path.join(venv.workdir, "data", "kalend.sqlite3")
    if os.path.exists(database):
        os.unlink(database)

    upgraded = venv.run("kalend", "db", "upgrade", "--config", config)
    status = venv.run("kalend", "db", "status", "--config", config)
    defaults = venv.run("kalend", "config")

    assert "upgraded from empty" in upgraded.stdout
    assert "up to date" in status.stdout
    assert "[storage]" in defaults.stdout
    assert os.path.isfile(database)
