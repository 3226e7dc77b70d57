"""Static checks of the deployment files (no Docker engine runs on CI machines).

The compose file and Dockerfile must only set settings that exist, agree on the port and data
directory, and stay in step with the README.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def hush_vars(text: str) -> set[str]:
    return set(re.findall(r"\bHUSH_([A-Z0-9_]+)", text))


def test_deploy_files_only_use_real_settings() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("Dockerfile", "docker-compose.yml", "README.md"):
        unknown = hush_vars((ROOT / name).read_text()) - fields - {"VENV"}
        assert not unknown, f"{name} mentions settings that do not exist: {sorted(unknown)}"


def test_compose_runs_the_image_with_a_volume_and_keys() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]["hush"]
    assert svc["build"] == "."
    assert any(v.endswith(":/data") for v in svc["volumes"])
    assert "hush-data" in compose["volumes"]
    assert svc["ports"] == ["127.0.0.1:8000:8000"]
    assert "HUSH_API_KEYS" in svc["environment"]  # the image listens on 0.0.0.0, which needs keys


def test_compose_cluster_profile_is_opt_in() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "profiles" not in services["hush"]  # plain `docker compose up` is the embedded server
    cluster = {name for name, svc in services.items() if "cluster" in svc.get("profiles", ())}
    assert cluster == {"api", "worker", "redis", "postgres", "s3"}
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["HUSH_BACKEND"] == "cluster"
        assert services[name]["deploy"]["replicas"] == 2
        assert env["HUSH_REDIS_URL"].startswith("redis://redis:")
        assert "@postgres:5432/" in env["HUSH_DATABASE_URL"]
        assert env["HUSH_S3_ENDPOINT"] == "http://s3:8333"
        assert "HUSH_PUBLIC_URL" in env  # behind the load balancer, its https:// address for the links
    assert services["worker"]["command"] == ["hush", "worker"]
    # the image's health check asks :8000/healthz, which a worker does not serve: it has its own
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "hush", "worker", "--check"]
    assert "8333" in " ".join(services["s3"]["command"])


def test_the_cluster_starts_once_its_services_answer() -> None:
    """The API servers and workers wait for PostgreSQL, Redis and S3 to be healthy, not merely started:
    PostgreSQL refuses connections while its first start initialises the database."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("api", "worker"):
        needs = services[name]["depends_on"]
        assert needs == {s: {"condition": "service_healthy"} for s in ("postgres", "redis", "s3")}
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "http://127.0.0.1:8333/healthz" in services["s3"]["healthcheck"]["test"]


def test_dockerfile_is_non_root_and_serves_on_the_compose_port() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER hush$", text, re.M)
    assert "HUSH_DATA_DIR=/data" in text
    assert "HUSH_PORT=8000" in text
    assert 'CMD ["hush", "serve"]' in text
    assert text.count("FROM ") == 2  # multi-stage


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "\nscripts/serve\n" in readme
    assert "\nscripts/test\n" in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_the_build_context_leaves_out_the_virtualenv_and_users_audio() -> None:
    # without a .dockerignore a build sent the 2.4 GB .venv and .hush-data (stored audio) to the daemon
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".hush-data", ".git"} <= ignored
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M))
    sources = {src for line in copied for src in line.split()}
    assert sources  # pyproject.toml, setup.py, README.md, requirements/..., app, dsp
    for src in sources:  # nothing the image copies is left out of the context
        assert not any(src == pat or src.startswith(pat.rstrip("/") + "/") for pat in ignored), src


def _closure(requirements: list[str]) -> set[str]:
    """Distributions (normalised names) that installing ``requirements`` brings, by the installed
    packages' own metadata, extras and markers included."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = (re.sub(r"[-_.]+", "-", req.name).lower(), tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        try:
            reqs = [Requirement(r) for r in metadata.requires(req.name) or []]
        except metadata.PackageNotFoundError:
            continue
        for r in reqs:
            envs = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if r.marker is None or any(r.marker.evaluate(env) for env in envs):
                r.marker = None
                todo.append(r)
    return {name for name, _ in seen}


def test_the_cluster_extra_brings_everything_the_workers_import() -> None:
    # `pip install 'hush[cluster]'` (the image's install) lacked `packaging`, which Celery's Redis
    # transport imports: every worker exited at start and every submit answered 503
    import subprocess
    import sys
    import tomllib
    from importlib import metadata

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _closure([*project["dependencies"], *project["optional-dependencies"]["cluster"]])
    code = (
        "import sys, kombu.transport.redis, celery.app, app.jobs.celery_queue, app.jobs.pgstore, app.storage_s3;"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    owners = metadata.packages_distributions()
    needed = {
        re.sub(r"[-_.]+", "-", dist).lower()
        for module in modules.stdout.split()
        if module not in sys.stdlib_module_names
        for dist in owners.get(module, [])
    }
    # imported when present, not needed: SQLAlchemy's greenlet (asyncio), kombu's msgpack serializer,
    # and what .pth files of the virtualenv load (setuptools' _distutils_hack, coverage's subprocess
    # hook under pytest-cov), not imports of ours
    needed -= {"hush", "greenlet", "msgpack", "setuptools", "coverage"}
    assert needed <= declared, f"imported but not declared by hush[cluster]: {sorted(needed - declared)}"


def test_the_image_health_check_asks_the_port_the_server_listens_on(tmp_path: Path) -> None:
    # it asked :8000 whatever HUSH_PORT said: a container started on another port was never healthy
    import json
    import subprocess
    import sys

    from app.settings import Settings
    from tests.dialects._server import run_server

    line = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip().startswith('CMD ["python"')
    )
    cmd = json.loads(line.strip().removeprefix("CMD "))
    assert cmd[:2] == ["python", "-c"]
    with run_server(Settings(data_dir=tmp_path, api_keys=("k1",)), workers=False) as server:
        ok = subprocess.run([sys.executable, "-c", cmd[2]], env={"HUSH_PORT": str(server.port)}, timeout=30)
        assert ok.returncode == 0
    down = subprocess.run(
        [sys.executable, "-c", cmd[2]], env={"HUSH_PORT": str(server.port)}, capture_output=True, timeout=30
    )
    assert down.returncode != 0


def test_the_readme_names_every_processing_step() -> None:
    from app.jobs.steps import STEPS

    readme = (ROOT / "README.md").read_text()
    for name in STEPS:
        assert f"`{name}`" in readme, name
