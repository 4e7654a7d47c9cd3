"""docker/: the compose file runs kalend on the PostgreSQL service next to it.

No Docker engine runs here, so the files are checked by reading them: the
kalend service gets the PostgreSQL service's URL, and the image installs and
starts kalend with the README's commands.
"""

from __future__ import annotations

import configparser
import os
import re

import pytest
import yaml
from sqlalchemy.engine import make_url

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DOCKER = os.path.join(REPO, "docker")


def read(*parts: str) -> str:
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(read("docker", "compose.yaml"))


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(entry.split("=", 1) for entry in env)
    return {str(k): str(v) for k, v in env.items()}


def _service_named(compose: dict, image_prefix: str) -> str:
    names = [n for n, s in compose["services"].items()
             if str(s.get("image", "")).startswith(image_prefix)]
    assert len(names) == 1, names
    return names[0]


def _kalend_service(compose: dict) -> str:
    names = [n for n, s in compose["services"].items()
             if "build" in s and "Dockerfile" in str(s["build"])]
    assert len(names) == 1, names
    return names[0]


def _mounted_config(compose: dict) -> tuple[str, str]:
    """(host file, container path) of the configuration the kalend service uses."""
    service = compose["services"][_kalend_service(compose)]
    config_path = _environment(service)["KALEND_CONFIG"]
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume.get("target", "")
        else:
            source, target = str(volume).split(":")[:2]
        if target == config_path:
            return os.path.normpath(os.path.join(DOCKER, source)), target
    raise AssertionError(f"{config_path} is not mounted into the kalend service")


def _kalend_ini(compose: dict) -> configparser.RawConfigParser:
    host_file, _ = _mounted_config(compose)
    parser = configparser.RawConfigParser()
    with open(host_file, encoding="utf-8") as handle:
        parser.read_file(handle)
    return parser


def test_compose_has_a_kalend_and_a_postgresql_service(compose):
    assert _service_named(compose, "postgres")
    assert _kalend_service(compose)


def test_kalend_depends_on_the_postgresql_service(compose):
    kalend = compose["services"][_kalend_service(compose)]
    postgres = _service_named(compose, "postgres")
    depends = kalend.get("depends_on", {})
    assert postgres in depends
    if isinstance(depends, dict):
        # Started only once PostgreSQL accepts connections.
        assert depends[postgres].get("condition") == "service_healthy"
        assert "healthcheck" in compose["services"][postgres]


def test_kalend_mounts_docker_kalend_conf(compose):
    host_file, target = _mounted_config(compose)
    assert host_file == os.path.join(DOCKER, "kalend.conf")
    assert os.path.isfile(host_file)
    assert target.endswith(".conf")


def test_the_database_url_points_at_the_postgresql_service(compose):
    postgres_name = _service_named(compose, "postgres")
    postgres_env = _environment(compose["services"][postgres_name])
    url = make_url(_kalend_ini(compose).get("storage", "url"))

    assert url.drivername == "postgresql+psycopg"
    assert url.host == postgres_name
    assert url.port in (None, 5432)
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.password == postgres_env["POSTGRES_PASSWORD"]
    assert url.database == postgres_env["POSTGRES_DB"]


def test_the_mounted_configuration_is_valid_for_kalend(compose):
    from kalend.server import config as kalend_config

    host_file, _ = _mounted_config(compose)
    configuration = kalend_config.load(host_file)  # raises ConfigError on a bad key
    assert configuration.get("storage", "data_folder").startswith("/")
    hosts = configuration.get("server", "hosts")
    assert ("0.0.0.0", 5232) in hosts


def test_the_data_folder_is_a_volume(compose):
    kalend = compose["services"][_kalend_service(compose)]
    folder = _kalend_ini(compose).get("storage", "data_folder")
    targets = [str(v).split(":")[1] if not isinstance(v, dict) else v.get("target")
               for v in kalend.get("volumes", [])]
    assert folder in targets


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = read("docker", "Dockerfile").replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_dockerfile_installs_with_pip_like_the_readme():
    runs = " && ".join(rest for keyword, rest in _dockerfile_instructions() if keyword == "RUN")
    readme = read("README.md")
    assert "python3 -m venv .venv && .venv/bin/pip install ." in readme
    assert re.search(r"pip install (--no-cache-dir )?\.(\s|$)", runs), runs
    assert "python3 -m venv .venv" in runs


def test_dockerfile_runs_db_upgrade_then_kalend_serve_like_the_readme(compose):
    instructions = _dockerfile_instructions()
    commands = [rest for keyword, rest in instructions if keyword in ("CMD", "ENTRYPOINT")]
    assert commands, "the image has no start command"
    command = commands[-1]
    readme = read("README.md")
    assert "kalend db upgrade --config FILE" in readme and "kalend serve --config FILE" in readme
    assert "kalend db upgrade --config" in command
    assert "kalend serve --config" in command
    assert command.index("kalend db upgrade") < command.index("kalend serve")
    # The port kalend listens on is the one the image exposes and compose publishes.
    port = re.search(r"--port (\d+)", command).group(1)
    assert ("EXPOSE", port) in instructions
    kalend = compose["services"][_kalend_service(compose)]
    assert any(str(p).endswith(":" + port) for p in kalend.get("ports", []))
    # The configuration variable the command uses is the one compose sets.
    variable = re.search(r"--config \$\{?(\w+)\}?", command).group(1)
    assert variable in _environment(kalend)


def test_build_context_is_the_repository(compose):
    build = compose["services"][_kalend_service(compose)]["build"]
    context = os.path.normpath(os.path.join(DOCKER, build["context"]))
    assert context == os.path.normpath(REPO)
    assert os.path.isfile(os.path.join(context, build["dockerfile"]))
    assert os.path.isfile(os.path.join(context, "pyproject.toml"))
    assert ("COPY", ". .") in _dockerfile_instructions()


def test_kalend_mails_through_the_mail_sink_next_to_it(compose):
    sink = _service_named(compose, "axllent/mailpit")
    service = compose["services"][_kalend_service(compose)]
    ini = _kalend_ini(compose)

    assert sink in service["depends_on"]
    assert ini.get("smtp", "host") == sink
    assert ini.get("smtp", "port") == "1025"
    assert ini.get("smtp", "security") == "none"
