"""The deployment files agree with the code: docker-compose.yml, Dockerfile, .dockerignore,
.env.example and the Procfile against `shared.services` and every settings class.

No Docker engine is needed: the files are parsed and checked, so they cannot silently rot when
a service, a port or a setting changes.
"""

import base64
import importlib
import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import SecretStr, TypeAdapter
from pydantic.fields import FieldInfo

from api_gateway.routes import ROUTES
from shared.localstores import LocalStoresSettings
from shared.service_identity import public_pem
from shared.services import BY_NAME, GATEWAY, SERVICES, ServiceInfo
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
    """BaseServiceSettings, the local run's (`make run`, `make test`: which stores) and each
    service's settings class (those that exist yet)."""
    found: list[Any] = [BaseServiceSettings, LocalStoresSettings]
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
    # One image, built once (by the migrate job, which every container depends on).
    assert "build" not in svc
    assert svc["image"] == service("migrate")["image"]
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
    assert conditions["migrate"] == "service_completed_successfully"
    if info is not GATEWAY:
        assert conditions["postgres"] == "service_healthy"
        assert str(info.port) in [str(p) for p in svc.get("expose", [])]


def test_the_gateway_is_published_on_gateway_port_and_waits_for_every_service() -> None:
    gateway = service(GATEWAY.name)
    assert gateway["ports"] == ["${GATEWAY_PORT:-8080}:8080"]
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


def test_compose_runs_on_v1_and_v2() -> None:
    """No top-level `name:` (Compose v1.29, Debian 12's docker-compose, refuses it); the one
    image is built by the migrate job alone, tagged by FLIGHTBOOK_TAG."""
    doc = compose()
    assert "name" not in doc
    assert "version" not in doc
    assert [n for n, s in doc["services"].items() if "build" in s] == ["migrate"]
    assert service("migrate")["build"] == "."
    assert service("migrate")["image"] == "flightbook:${FLIGHTBOOK_TAG:-dev}"


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_tool(reason: str) -> NoReturn:
    """Skip locally; under CI a tool CI installs must be there."""
    if under_ci():
        pytest.fail(f"{reason} (CI is set: .ci/run installs it)")
    pytest.skip(reason)


def composes() -> list[list[str]]:
    """Every Compose here: v2 (`docker compose`) and v1 (`docker-compose`)."""
    found = []
    if (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        found.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        found.append(["docker-compose"])
    return found


def test_compose_file_validates_and_publishes_gateway_port() -> None:
    """Compose itself accepts the file (`config` needs no Docker engine)."""
    commands = composes()
    if not commands:
        missing_tool("no Docker Compose: apt-get install docker-compose (v1.29) or Compose v2")
    for command in commands:
        run = subprocess.run(
            [*command, "-f", "docker-compose.yml", "config"],
            cwd=ROOT,
            env={**os.environ, "GATEWAY_PORT": "18080"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, (command, run.stderr)
        [port] = yaml.safe_load(run.stdout)["services"][GATEWAY.name]["ports"]
        assert (str(port["published"]), port["target"]) == ("18080", GATEWAY.port), command


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


# --- deploy/k8s ------------------------------------------------------------------------------

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The Kubernetes versions the rendered manifests must be valid for (as in `make k8s-check`).
K8S_VERSIONS = ("1.30.0", "1.37.0")
# What the operator creates (deploy/k8s/create-secrets.sh, README.md): never in the repository.
OPERATOR_SECRETS = {
    "flightbook-auth-signing-key": {"auth_signing_key.pem"},
    "flightbook-admin-password": {"admin_password"},
    **{f"flightbook-{s.name}-service-key": {f"{s.name}.key"} for s in SERVICES},
}
DATASTORE_KEYS = {f"{s.name}-database-url" for s in SERVICES} | {"redis-url"}
PUBLIC_KEYS = "flightbook-service-public-keys"


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` of an overlay: its objects."""
    if not shutil.which("kubectl"):
        missing_tool("kubectl is not installed (kubectl >= 1.21 renders deploy/k8s)")
    run = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr, run.stderr  # nothing deprecated
    return tuple(doc for doc in yaml.safe_load_all(run.stdout) if doc)


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


# The suffix kustomize gives a generated ConfigMap or Secret (a hash, in its alphabet).
_HASH_SUFFIX = re.compile(r"-[2456789bcdfghkmt]{10}$")


def base_name(name: str) -> str:
    """A generated object's name without kustomize's hash suffix."""
    return _HASH_SUFFIX.sub("", name)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_overlays_render_and_validate(overlay: str, version: str) -> None:
    """Every object of the overlay is valid for the Kubernetes schemas, unknown fields refused
    (kubernetes-validate bundles the schemas: no network needed)."""
    import kubernetes_validate

    docs = rendered(overlay)
    assert docs
    for doc in docs:
        where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"{where}: {exc.message}")


def app_command(info: ServiceInfo) -> list[str]:
    return [
        "uvicorn", f"{info.package}.main:app", "--http", "shared.serve:HttpProtocol",
        "--host", "0.0.0.0", "--port", str(info.port), "--no-access-log",  # noqa: S104
    ]  # fmt: skip


def assert_hardened(spec: dict[str, Any], container: dict[str, Any], where: str) -> None:
    """Non-root, read-only root with /tmp on an emptyDir, no capability, no escalation."""
    assert spec["securityContext"]["runAsNonRoot"] is True, where
    assert spec["securityContext"]["runAsUser"] != 0, where
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
    assert spec["automountServiceAccountToken"] is False, where
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True, where
    assert context["allowPrivilegeEscalation"] is False, where
    assert context["capabilities"]["drop"] == ["ALL"], where
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], where  # noqa: S108 (the container's)
    for side in ("requests", "limits"):
        assert set(container["resources"][side]) == {"cpu", "memory"}, (where, side)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_every_process_runs_hardened_with_probes(overlay: str) -> None:
    deployments = objects(overlay, "Deployment")
    assert set(deployments) == {info.name for info in ALL}
    images = set()
    for info in ALL:
        spec = pod_spec(deployments[info.name])
        [container] = spec["containers"]
        assert container["command"] == app_command(info), info.name
        assert container["ports"] == [{"name": "http", "containerPort": info.port}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert_hardened(spec, container, info.name)
        images.add(container["image"])
    [job] = objects(overlay, "Job").values()
    [container] = pod_spec(job)["containers"]
    assert_hardened(pod_spec(job), container, "migrate job")
    assert images == {container["image"]}, "one image for every process"


def test_k8s_probes_use_routes_the_kit_serves() -> None:
    """Liveness is /health (the process), readiness /ready (database and Redis): every app
    made by `shared.app.create_app` serves both."""
    from shared.app import _health_router

    paths = {getattr(route, "path", None) for route in _health_router("any").routes}
    assert {"/health", "/ready"} <= paths


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_each_process_has_its_service_autoscaler_and_budget(overlay: str) -> None:
    services = objects(overlay, "Service")
    autoscalers = objects(overlay, "HorizontalPodAutoscaler")
    budgets = objects(overlay, "PodDisruptionBudget")
    for info in ALL:
        labels = pod_spec_labels(objects(overlay, "Deployment")[info.name])
        [port] = services[info.name]["spec"]["ports"]
        assert (port["port"], port["targetPort"]) == (info.port, "http"), info.name
        assert selects(services[info.name]["spec"]["selector"], labels), info.name
        target = autoscalers[info.name]["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", info.name)
        assert autoscalers[info.name]["spec"]["minReplicas"] >= 1
        assert selects(budgets[info.name]["spec"]["selector"]["matchLabels"], labels)
        assert budgets[info.name]["spec"]["maxUnavailable"] == 1  # a drain never blocks
    [ingress] = objects(overlay, "Ingress").values()
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["backend"]["service"]["name"] == GATEWAY.name


def pod_spec_labels(obj: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = obj["spec"]["template"]["metadata"]["labels"]
    return labels


def config_map(overlay: str) -> dict[str, str]:
    maps = objects(overlay, "ConfigMap")
    [name] = [n for n in maps if base_name(n) == "flightbook-config"]
    data: dict[str, str] = maps[name]["data"]
    return data


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_configuration_is_known_settings_and_reaches_each_service(overlay: str) -> None:
    config = config_map(overlay)
    unknown = set(config) - set(settings_fields()) - SERVER_VARS
    assert not unknown, f"the ConfigMap sets variables no settings class reads: {sorted(unknown)}"
    assert config["ENVIRONMENT"] == {"dev": "development", "prod": "production"}[overlay]
    assert int(config["WEB_CONCURRENCY"]) >= 1
    assert config["JWKS_URL"] == f"http://auth:{SERVICES[0].port}/.well-known/jwks.json"
    for info in SERVICES:
        assert config[info.url_env] == f"http://{info.name}:{info.port}", info.url_env
    for name, deployment in objects(overlay, "Deployment").items():
        [container] = pod_spec(deployment)["containers"]
        unknown = {e["name"] for e in container["env"]} - set(settings_fields())
        assert not unknown, (name, unknown)
        env = {e["name"]: e for e in container["env"]}
        if name == GATEWAY.name:
            assert "DATABASE_URL" not in env
            continue
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert base_name(ref["name"]) == "flightbook-datastores"
        assert ref["key"] == f"{name}-database-url", "each service its own DATABASE_URL"


def secret_refs(spec: dict[str, Any]) -> set[tuple[str, str | None]]:
    """(Secret, key) a pod reads, by volume or environment; key None: every key."""
    refs: set[tuple[str, str | None]] = set()

    def add(name: str, items: list[dict[str, str]] | None) -> None:
        refs.update((base_name(name), i["key"]) for i in items) if items else refs.add(
            (base_name(name), None)
        )

    for volume in spec.get("volumes") or []:
        if "secret" in volume:
            add(volume["secret"]["secretName"], volume["secret"].get("items"))
        for source in (volume.get("projected") or {}).get("sources", []):
            if "secret" in source:
                add(source["secret"]["name"], source["secret"].get("items"))
    for container in spec["containers"]:
        for env in container.get("env") or []:
            if ref := (env.get("valueFrom") or {}).get("secretKeyRef"):
                refs.add((base_name(ref["name"]), ref["key"]))
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                add(source["secretRef"]["name"], None)
    return refs


def workloads(overlay: str) -> dict[str, dict[str, Any]]:
    """The project's pods, by their app.kubernetes.io/name: Deployments, StatefulSets, Jobs."""
    found = {}
    for kind in ("Deployment", "StatefulSet", "Job"):
        for obj in objects(overlay, kind).values():
            found[pod_spec_labels(obj)["app.kubernetes.io/name"]] = obj
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_secrets_are_referenced_never_shipped(overlay: str) -> None:
    """Keys and the admin password come from Secrets the operator makes; each pod mounts only
    its own private key. Only dev's datastores Secret is rendered, and it holds no password."""
    shipped = {base_name(n): s for n, s in objects(overlay, "Secret").items()}
    assert set(shipped) == ({"flightbook-datastores"} if overlay == "dev" else set())
    if shipped:
        urls = shipped["flightbook-datastores"]
        assert set(urls.get("data") or {}) == DATASTORE_KEYS
        for value in urls["data"].values():
            assert urlsplit(base64.b64decode(value).decode()).password is None
    allowed = {(name, key) for name, keys in OPERATOR_SECRETS.items() for key in keys}
    allowed |= {("flightbook-datastores", key) for key in (*DATASTORE_KEYS, None)}
    for name, obj in workloads(overlay).items():
        refs = secret_refs(pod_spec(obj))
        assert refs <= allowed, (name, refs - allowed)
        own = {s for s, _ in refs if s.endswith("-service-key")}
        assert own == ({f"flightbook-{name}-service-key"} if name in BY_NAME else set()), name
        assert (("flightbook-auth-signing-key", "auth_signing_key.pem") in refs) == (name == "auth")
        assert any(s == "flightbook-admin-password" for s, _ in refs) == (name == "migrate")
        projected = [v["projected"] for v in pod_spec(obj).get("volumes") or [] if "projected" in v]
        if name in BY_NAME:
            [keys] = projected
            assert {"configMap": {"name": PUBLIC_KEYS}} in keys["sources"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_the_job_migrates_and_seeds_each_service_in_its_database(overlay: str) -> None:
    [job] = objects(overlay, "Job").values()
    [container] = pod_spec(job)["containers"]
    assert container["command"][:2] == ["sh", "-c"]
    script = container["command"][2]
    assert script.startswith("set -eu\n")
    listed = re.search(r'services="([^"]+)"', script)
    assert listed and listed[1].split() == [info.name for info in SERVICES]
    assert "for step in migrate seed; do" in script  # every schema first, then the data
    assert 'cat "/etc/flightbook/datastores/$service-database-url"' in script
    assert 'python -m shared.manage "$step" --service "$service"' in script
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    datastores = volumes[mounts["/etc/flightbook/datastores"]]["secret"]["secretName"]
    assert base_name(datastores) == "flightbook-datastores"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert str(Path(env["ADMIN_PASSWORD_FILE"]).parent) in mounts
    help_text = subprocess.run(
        [sys.executable, "-m", "shared.manage", "seed", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--service" in help_text


# -- network policies, evaluated: which pod may open a connection to which

_CALLERS = re.compile(r"internal_caller\(([^)]*)\)")
_CLIENTS = re.compile(r'(?:service_client\(\s*\w+\s*,|\.connect\()\s*"([a-z-]+)"')


@cache
def code_calls() -> frozenset[tuple[str, str]]:
    """(caller, callee) for every connection between the processes that the code opens."""
    calls: set[tuple[str, str]] = set()
    for info in ALL:
        for path in (ROOT / info.package).rglob("*.py"):
            text = path.read_text()
            for declared in _CALLERS.findall(text):  # who may call this service's routes
                calls |= {(caller, info.name) for caller in re.findall(r'"([a-z-]+)"', declared)}
            calls |= {(info.name, callee) for callee in _CLIENTS.findall(text)}
    assert ("payment", "booking") in calls and ("booking", "payment") in calls, "regexes broke"
    # The gateway forwards to the services of its route table and asks every service it knows
    # for /status and its OpenAPI document; every process fetches auth's JWKS.
    calls |= {(GATEWAY.name, name) for _, name in ROUTES}
    calls |= {(GATEWAY.name, name) for name in BaseServiceSettings().service_urls}
    calls |= {(info.name, BY_NAME["auth"].name) for info in ALL}
    return frozenset(calls)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions, or a Service's plain map)."""
    wanted = {k: v for k, v in selector.items() if k not in ("matchLabels", "matchExpressions")}
    wanted |= selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, values = expr["key"], expr.get("values") or []
        holds = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[expr["operator"]]
        if not holds:
            return False
    return True


def peer_admits(peer: dict[str, Any], labels: dict[str, str] | None) -> bool:
    """A policy peer admits a pod of the namespace (its labels) or, None, an outside address."""
    if labels is None:
        return "ipBlock" in peer
    if peer.get("namespaceSelector") not in (None, {}):
        return False  # another namespace (the ingress controller's)
    return "ipBlock" not in peer and selects(peer.get("podSelector") or {}, labels)


def admits(
    policies: list[dict[str, Any]], way: str, pod: dict[str, str], other: Any, port: int
) -> bool:
    """Do the policies let `pod` take (Ingress) or open (Egress) a connection with `other` on
    `port`? A pod no policy of that direction selects is not isolated."""
    rules_key, peers_key = ("ingress", "from") if way == "Ingress" else ("egress", "to")
    chosen = [
        p["spec"]
        for p in policies
        if way in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod)
    ]
    if not chosen:
        return True
    return any(
        (rule.get(peers_key) is None or any(peer_admits(p, other) for p in rule[peers_key]))
        and (
            rule.get("ports") is None
            or any(p["port"] == port and p.get("protocol", "TCP") == "TCP" for p in rule["ports"])
        )
        for spec in chosen
        for rule in spec.get(rules_key) or []
    )


def connects(overlay: str, source: str, target: str | None, port: int) -> bool:
    """May `source` connect to `target` (a workload, or None: an address outside) on `port`?"""
    policies = list(objects(overlay, "NetworkPolicy").values())
    pods = {name: pod_spec_labels(obj) for name, obj in workloads(overlay).items()}
    other = pods[target] if target else None
    egress = admits(policies, "Egress", pods[source], other, port)
    return egress and (other is None or admits(policies, "Ingress", other, pods[source], port))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_network_policies_allow_exactly_the_calls_the_code_makes(overlay: str) -> None:
    """Each service is reachable only from the gateway and from the services whose code calls
    it (internal_caller declarations, service clients, the gateway's routes, the JWKS)."""
    listening = {info.name: info.port for info in ALL} | {"postgres": 5432, "redis": 6379}
    names = set(workloads(overlay))
    expected = set(code_calls())
    if overlay == "dev":  # the datastores are pods of the namespace
        expected |= {(s.name, "postgres") for s in SERVICES} | {("migrate", "postgres")}
        expected |= {(info.name, "redis") for info in ALL}
    allowed = {
        (source, target)
        for source in names
        for target in names & set(listening)
        if connects(overlay, source, target, listening[target])
    }
    assert allowed == expected, (
        f"allowed but never called: {sorted(allowed - expected)}; "
        f"called but blocked: {sorted(expected - allowed)}"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_only_the_gateway_is_reached_from_outside_and_only_datastores_reached_out(
    overlay: str,
) -> None:
    policies = objects(overlay, "NetworkPolicy")
    assert policies["default-deny"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }
    for name, policy in policies.items():
        outside = [
            peer
            for rule in policy["spec"].get("ingress") or []
            for peer in rule.get("from") or [{}]
            if peer.get("namespaceSelector") not in (None, {}) or "ipBlock" in peer or not peer
        ]
        if name == GATEWAY.name:
            assert outside == [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                }
            ]
        else:
            assert not outside, name
    for info in ALL:
        database = connects(overlay, info.name, None, 5432)
        assert database == (info is not GATEWAY), info.name
        assert connects(overlay, info.name, None, 6379), info.name
        assert not connects(overlay, info.name, None, 443), info.name
    assert connects(overlay, "migrate", None, 5432)
    assert not connects(overlay, "migrate", None, 6379)


def test_k8s_create_secrets_makes_what_the_pods_mount() -> None:
    """deploy/k8s/create-secrets.sh (dry run: no cluster): the Secrets the manifests name, with
    fresh Ed25519 keys whose public halves are in the public-keys ConfigMap."""
    from auth_service.config import check_admin_password
    from auth_service.keys import SigningKey

    if not (shutil.which("kubectl") and shutil.which("openssl")):
        missing_tool("create-secrets.sh needs kubectl and openssl")
    env = {k: v for k, v in os.environ.items() if k != "ADMIN_PASSWORD"}
    run = subprocess.run(
        [str(K8S / "create-secrets.sh"), "some-namespace", "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    docs = [d for d in yaml.safe_load_all(run.stdout) if d]
    assert {d["metadata"]["namespace"] for d in docs} == {"some-namespace"}
    secrets = {
        d["metadata"]["name"]: {k: base64.b64decode(v) for k, v in d["data"].items()}
        for d in docs
        if d["kind"] == "Secret"
    }
    assert {name: set(data) for name, data in secrets.items()} == OPERATOR_SECRETS
    [public] = [d["data"] for d in docs if d["metadata"]["name"] == PUBLIC_KEYS]
    assert set(public) == {f"{s.name}.pub" for s in SERVICES}
    for info in SERVICES:
        key = load_pem_private_key(
            secrets[f"flightbook-{info.name}-service-key"][f"{info.name}.key"], None
        )
        assert isinstance(key, Ed25519PrivateKey), info.name
        assert public_pem(key.public_key()).decode() == public[f"{info.name}.pub"], info.name
    SigningKey.from_pem(secrets["flightbook-auth-signing-key"]["auth_signing_key.pem"])
    password = secrets["flightbook-admin-password"]["admin_password"].decode()
    assert len(password) >= 24
    check_admin_password(password, environment="production")


def test_k8s_files_carry_no_secret() -> None:
    for path in K8S.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "PRIVATE KEY-----" not in text, path
            for secret in PUBLISHED_SECRETS:
                assert secret not in text, (path, secret)
