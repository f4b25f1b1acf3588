"""The deployment files agree with the code: docker-compose.yml, Dockerfile, .dockerignore,
.env.example and the Procfile against `shared.services` and every settings class.

No Docker engine is needed: the files are parsed and checked, so they cannot silently rot when
a service, a port or a setting changes.
"""

import importlib
import inspect
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr, TypeAdapter
from pydantic.fields import FieldInfo

from shared.services import GATEWAY, SERVICES, ServiceInfo
from shared.settings import BaseServiceSettings

ROOT = Path(__file__).resolve().parent.parent
ALL = (*SERVICES, GATEWAY)
INFRA = {"postgres", "redis"}
KEY_DIR = "/var/lib/flightbook/keys"
SERVICE_KEY_DIR = "/var/lib/flightbook/service-keys"
# Secrets the repository once shipped as development defaults: no deployment file may set them.
PUBLISHED_SECRETS = ("dev-only-service-token-secret-change-me", "dev-only-admin-password")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def app_services() -> dict[str, dict[str, Any]]:
    """The containers built from the project's image (everything but postgres and redis)."""
    return {n: s for n, s in compose()["services"].items() if n not in INFRA}


def env_name(name: str, field: FieldInfo, cls: type[BaseServiceSettings]) -> str:
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    return (alias or cls.model_config.get("env_prefix", "") + name).upper()


@cache
def settings_classes() -> tuple[type[BaseServiceSettings], ...]:
    """BaseServiceSettings and each service's settings class (those that exist yet)."""
    found: list[type[BaseServiceSettings]] = [BaseServiceSettings]
    for info in ALL:
        try:
            module = importlib.import_module(f"{info.package}.config")
        except ModuleNotFoundError as exc:
            if exc.name not in (info.package, f"{info.package}.config"):
                raise
            continue
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, BaseServiceSettings) and cls.__module__ == module.__name__
        ]
    return tuple(found)


@cache
def settings_fields() -> dict[str, list[tuple[type[BaseServiceSettings], FieldInfo]]]:
    """Environment variable -> the settings fields it sets."""
    fields: dict[str, list[tuple[type[BaseServiceSettings], FieldInfo]]] = {}
    for cls in settings_classes():
        for name, field in cls.model_fields.items():
            fields.setdefault(env_name(name, field, cls), []).append((cls, field))
    return fields


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def procfile_port_vars() -> set[str]:
    """The variables the Procfile itself reads: ports and listening addresses."""
    return set(re.findall(r"\$\{(\w+_(?:PORT|HOST)):-[^}]+\}", (ROOT / "Procfile").read_text()))


# Read by uvicorn itself (its worker count), not by a settings class.
SERVER_VARS = {"WEB_CONCURRENCY"}


# --- docker-compose.yml --------------------------------------------------------------------


def test_compose_parses_and_references_only_what_exists() -> None:
    doc = compose()
    services = doc["services"]
    volumes = set(doc.get("volumes") or {})
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown service {dep}"
        for mount in svc.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name} mounts unknown volume {source}"


def test_infrastructure_services_have_healthchecks() -> None:
    assert service("postgres")["image"] == "postgres:16"
    assert service("redis")["image"] == "redis:7"
    for name in INFRA:
        assert service(name)["healthcheck"]["test"], name
    assert "pg_isready" in " ".join(service("postgres")["healthcheck"]["test"])
    assert "ping" in service("redis")["healthcheck"]["test"]


@pytest.mark.parametrize("info", ALL, ids=[s.name for s in ALL])
def test_every_service_runs_with_its_package_and_port(info: ServiceInfo) -> None:
    svc = service(info.name)
    assert svc["build"] == "."
    command = svc["command"]
    assert isinstance(command, list)
    assert command[:2] == ["uvicorn", f"{info.package}.main:app"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (in a container)
    assert command[command.index("--port") + 1] == str(info.port)

    probe = " ".join(svc["healthcheck"]["test"])
    assert svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert f"http://127.0.0.1:{info.port}/health" in probe
    assert "urllib.request" in probe  # the slim image has no curl

    conditions = {dep: spec["condition"] for dep, spec in svc["depends_on"].items()}
    assert conditions.get("redis") == "service_healthy"
    if info is not GATEWAY:
        assert conditions["migrate"] == "service_completed_successfully"
        assert conditions["postgres"] == "service_healthy"
        assert str(info.port) in [str(p) for p in svc.get("expose", [])]


def test_the_gateway_is_published_on_8080_and_waits_for_every_service() -> None:
    gateway = service(GATEWAY.name)
    assert "8080:8080" in [str(p) for p in gateway["ports"]]
    conditions = {dep: spec["condition"] for dep, spec in gateway["depends_on"].items()}
    for info in SERVICES:
        assert conditions[info.name] == "service_healthy", info.name
    published = [n for n, s in compose()["services"].items() if s.get("ports")]
    assert published == [GATEWAY.name]


def test_the_migrate_job_checks_migrates_and_seeds_once() -> None:
    migrate = service("migrate")
    assert migrate["restart"] == "no"
    script = " ".join(migrate["command"])
    steps = [
        "python -m shared.manage check",
        "python -m shared.manage migrate",
        "python -m shared.manage seed",
    ]
    positions = [script.index(step) for step in steps]
    assert positions == sorted(positions)
    assert script.count("&&") >= 2  # a failing step fails the job
    conditions = {dep: spec["condition"] for dep, spec in migrate["depends_on"].items()}
    assert conditions == {"postgres": "service_healthy", "redis": "service_healthy"}


def test_compose_environment_matches_local_runs() -> None:
    for name, svc in app_services().items():
        env = svc["environment"]
        assert env["DATABASE_URL"] == (
            "postgresql+asyncpg://postgres:postgres@postgres:5432/flightbook"
        ), name
        assert env["REDIS_URL"] == "redis://redis:6379/0", name
        assert env["JWKS_URL"] == f"http://auth:{SERVICES[0].port}/.well-known/jwks.json"
        assert env["SERVICE_KEYS_DIR"] == SERVICE_KEY_DIR, name
        assert "SERVICE_NAME" not in env, f"{name}: each service names itself"
        for info in SERVICES:
            assert env[info.url_env] == f"http://{info.name}:{info.port}", (name, info.url_env)


def test_every_compose_variable_is_a_known_setting() -> None:
    known = set(settings_fields())
    for name, svc in app_services().items():
        unknown = set(svc["environment"]) - known - SERVER_VARS
        assert not unknown, f"{name} sets variables no settings class reads: {sorted(unknown)}"
    # And shared.services names the variables the settings really read.
    for info in SERVICES:
        assert info.url_env in known, info.url_env


def test_the_signing_key_volume_is_mounted_only_by_auth_and_migrate() -> None:
    mounting = {
        name
        for name, svc in compose()["services"].items()
        for mount in svc.get("volumes") or []
        if mount.startswith("auth-keys:")
    }
    assert mounting == {"auth", "migrate"}
    for name in mounting:
        svc = service(name)
        assert f"auth-keys:{KEY_DIR}" in svc["volumes"]
        assert svc["environment"]["AUTH_SIGNING_KEY_FILE"].startswith(KEY_DIR + "/")
    for name, svc in app_services().items():
        if name not in mounting:
            assert "AUTH_SIGNING_KEY_FILE" not in svc["environment"], name
            assert "AUTH_SIGNING_KEY" not in svc["environment"], name


# --- Dockerfile and .dockerignore ------------------------------------------------------------


def dockerfile() -> list[str]:
    """Instructions, with continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def instruction(name: str) -> list[str]:
    return [ln.split(None, 1)[1] for ln in dockerfile() if ln.split(None, 1)[0].upper() == name]


def test_dockerfile_builds_one_slim_non_root_image() -> None:
    assert instruction("FROM") == ["python:3.11-slim"]
    env = " ".join(instruction("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    users = instruction("USER")
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    runs = " ".join(instruction("RUN"))
    assert "pip install" in runs
    assert "[dev]" not in runs and "dev" not in re.findall(r"\[(\w+)\]", runs)
    exposed = {int(p) for line in instruction("EXPOSE") for p in line.split()}
    assert exposed == {info.port for info in ALL}
    cmd = instruction("CMD")[-1]
    assert cmd.startswith("[")
    assert " ".join(yaml.safe_load(cmd)).startswith(f"uvicorn {GATEWAY.package}.main:app")
    assert str(GATEWAY.port) in yaml.safe_load(cmd)


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = {
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    assert {".git", ".venv", ".env", "var", "tests"} <= patterns


# --- .env.example and the Procfile -----------------------------------------------------------

_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example() -> dict[str, tuple[bool, str]]:
    """Variable -> (set, value); a commented-out `# NAME=value` line documents it unset."""
    found: dict[str, tuple[bool, str]] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if m := _LINE.match(line.strip()):
            assert m[2] not in found, f"{m[2]} is listed twice"
            found[m[2]] = (m[1] is None, m[3])
    return found


def test_env_example_lists_every_setting() -> None:
    documented = env_example()
    missing = sorted(set(settings_fields()) - set(documented))
    assert not missing, f".env.example does not list {missing}"
    unknown = sorted(set(documented) - set(settings_fields()) - procfile_port_vars() - SERVER_VARS)
    assert not unknown, f".env.example lists variables nothing reads: {unknown}"


def test_env_example_defaults_are_the_code_defaults() -> None:
    for name, (active, value) in env_example().items():
        if not active or name not in settings_fields():
            continue
        for cls, field in settings_fields()[name]:
            if field.annotation is SecretStr:
                continue
            parsed = TypeAdapter(field.annotation).validate_python(value)
            assert parsed == field.default, f"{name}: {value!r} vs {cls.__name__} default"


def test_env_example_never_sets_what_must_differ_per_service() -> None:
    documented = env_example()
    # SERVICE_NAME differs per service; a value in `.env` would rename them all.
    assert documented["SERVICE_NAME"][0] is False
    # Secrets are not given values to copy.
    for name, entries in settings_fields().items():
        if any(f.annotation in (SecretStr, SecretStr | None) for _, f in entries):
            assert documented[name][0] is False, f"{name} must stay commented out"


def test_procfile_runs_every_service_on_its_port() -> None:
    commands = list(procfile().values())
    for info in ALL:
        [line] = [c for c in commands if f" {info.package}.main:app " in c]
        argv = shlex.split(line)
        port = argv[argv.index("--port") + 1]
        assert port.endswith(f":-{info.port}}}"), (info.name, port)
        assert port.removesuffix(f":-{info.port}}}").removeprefix("${") in procfile_port_vars()


def test_service_keys_are_mounted_by_every_service_that_signs_or_verifies() -> None:
    mounting = {
        name
        for name, svc in compose()["services"].items()
        for mount in svc.get("volumes") or []
        if mount == f"service-keys:{SERVICE_KEY_DIR}"
    }
    assert mounting == {info.name for info in SERVICES} | {"migrate"}
    assert "python -m shared.manage keys" in " ".join(service("migrate")["command"])


@pytest.mark.parametrize("path", ["docker-compose.yml", "Procfile", ".env.example", "Makefile"])
def test_no_deployment_file_carries_a_published_secret(path: str) -> None:
    text = (ROOT / path).read_text()
    for secret in PUBLISHED_SECRETS:
        assert secret not in text, (path, secret)


def test_the_local_run_exposes_only_the_gateway() -> None:
    """Every service listens on loopback by default; the gateway is the one door."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        host = shlex.split(command)[shlex.split(command).index("--host") + 1]
        expected = "${GATEWAY_HOST:-0.0.0.0}" if name == "gateway" else "${SERVICE_HOST:-127.0.0.1}"
        assert host == expected, name


def test_the_repository_holds_no_private_key() -> None:
    """Keys are made per installation under var/ (ignored by git), never committed."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if path.is_file() and not name.startswith(b"tests/"):
            assert b"PRIVATE KEY-----" not in path.read_bytes(), name
    assert "var/" in (ROOT / ".gitignore").read_text().split()
