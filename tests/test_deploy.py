"""deploy/: the production files parse, reference only commands, settings and images that
exist, publish nothing beyond loopback and carry no default password.

No Docker engine or Kubernetes cluster is needed: these tests read the files (YAML, the
Dockerfile, the .env template, the README) and check them against the project itself
(the `vitrify` CLI tree, constraints.txt, pyproject.toml, the Prefect and vitrify settings).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
ENV_EXAMPLE = DEPLOY / ".env.example"
README = DEPLOY / "README.md"
RAYCLUSTER = DEPLOY / "kuberay" / "raycluster.yaml"
INIT_SQL = DEPLOY / "postgres" / "10-create-databases.sh"

# The `vitrify` verbs deploy/ relies on, and where. deploy/ may reference only these, and
# every one must exist in the CLI. Verbs still being written when deploy/ was made are
# marked "(new)": until they land, test_expected_verb_exists fails for them on purpose.
EXPECTED_VERBS = {
    ("db", "upgrade"): "compose service `migrate`; README steps 3 and 9 (upgrades)",
    ("campaign", "run"): "README step 5: a campaign by hand",
    ("campaign", "resume"): "README step 5: continue a campaign",
    ("status",): "README step 5",
    ("serve",): "(new) compose service `intake`: vitrify serve --host 0.0.0.0 --port 8000",
    ("deploy",): "(new) README steps 5 and 9: create/update the Prefect deployment on work pool vitrify-pool",
    ("token", "create"): "(new) README step 4: vitrify token create --role admin --name it",
}
WORK_POOL = "vitrify-pool"
SERVICES = {"postgres", "prefect-server", "ray-head", "ray-worker", "migrate", "intake", "prefect-worker"}
VITRIFY_SERVICES = {"migrate", "intake", "prefect-worker"}

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|AUTH_STRING|API_KEY|PRIVATE_KEY|CREDENTIAL", re.I)
VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
REQUIRED_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}")
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://([^:/\s@]+):([^@\s]*)@")
WEAK_LITERALS = re.compile(
    r"change-?me|changeit|password123|secret123|letmein|hunter2|admin:admin|postgres:postgres|prefect:prefect", re.I
)


# --------------------------------------------------------------------------- loaders


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def load_raycluster() -> dict:
    docs = [d for d in yaml.safe_load_all(RAYCLUSTER.read_text()) if d]
    assert len(docs) == 1, "kuberay/raycluster.yaml should hold exactly one document (the RayCluster)"
    return docs[0]


def dockerfile_instructions(text: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, line continuations joined, comments dropped."""
    text = DOCKERFILE.read_text() if text is None else text
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not buf):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            instr, _, rest = buf.strip().partition(" ")
            out.append((instr.upper(), " ".join(rest.split())))
        buf = ""
    assert not buf, "the Dockerfile ends inside a line continuation"
    return out


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def constraint_pin(package: str) -> str | None:
    m = re.search(rf"^{re.escape(package)}==(\S+)", (REPO / "constraints.txt").read_text(), re.M)
    return m.group(1) if m else None


def walk_strings(node, path=()):
    """Every string scalar of a YAML tree, with its key path."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk_strings(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_strings(v, path + (str(i),))
    elif isinstance(node, str):
        yield path, node


def service_env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def compose_vars() -> dict[str, list[tuple[str, str]]]:
    """Every ${VAR...} in the compose file: name -> [(operator, default/message)]."""
    found: dict[str, list[tuple[str, str]]] = {}
    for _, value in walk_strings(load_compose()):
        for name, op, arg in VAR_REF.findall(value):
            found.setdefault(name, []).append((op, arg))
    return found


def env_example() -> tuple[dict[str, str], dict[str, str]]:
    """(active KEY=value lines, commented-out #KEY=default lines) of .env.example."""
    active, commented = {}, {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^(#)?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            (commented if m.group(1) else active)[m.group(2)] = m.group(3).strip()
    return active, commented


def interpolate(value: str, values: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        name, op, arg = m.groups()
        if name in values:
            return values[name]
        assert op and op.endswith("-"), f"${{{name}}} has no value in the test and no default"
        return arg

    return VAR_REF.sub(sub, value)


def dummy_values() -> dict[str, str]:
    """A value for every required compose variable, as an operator would set in .env."""
    values = {}
    for name, refs in compose_vars().items():
        if any(op == ":?" for op, _ in refs):
            values[name] = "admin:" + "ab" * 16 if name == "PREFECT_AUTH_STRING" else "cd" * 16
    return values


# --------------------------------------------------------------------------- the vitrify CLI


def cli_root():
    import typer

    from vitrify.cli import app

    return typer.main.get_command(app)


def subcommands(command) -> dict:
    # typer ships its own click; groups are recognised by their `commands` mapping
    return getattr(command, "commands", None) or {}


def resolve_verb(tokens: list[str]):
    """Walk the CLI tree: (verb path, command) or (path including the missing verb, None)."""
    command, path = cli_root(), []
    for tok in tokens:
        subs = subcommands(command)
        if not subs or tok.startswith("-"):
            break
        if tok not in subs:
            return tuple(path + [tok]), None
        command, path = subs[tok], path + [tok]
    return tuple(path), command


def _readme_code() -> list[str]:
    """Shell-ish text of the README: fenced code blocks and `inline code` spans."""
    text = README.read_text()
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```[^\n]*\n.*?```", "", text, flags=re.S)
    return fenced + re.findall(r"`([^`\n]+)`", rest)


# `vitrify` in command position: at the start of a line, after a shell operator, after
# `docker compose exec|run [options] SERVICE` or after `--` (kubectl exec ... -- vitrify).
_VITRIFY_COMMAND = re.compile(
    r"(?:^\s*(?:\$\s+)?|[;&|(]\s*|\bdocker compose (?:exec|run)(?:\s+-\S+)*\s+[\w-]+\s+|\s--\s+)"
    r"vitrify((?:[ \t]+[^\s;&|)<>#]+)*)"
)


def _vitrify_invocations(text: str) -> list[list[str]]:
    text = text.replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        for m in _VITRIFY_COMMAND.finditer(line):
            tokens = m.group(1).split()
            if tokens:
                found.append(tokens)
    return found


def vitrify_references() -> list[tuple[str, list[str]]]:
    """Every `vitrify ...` command line in deploy/: (where, tokens after `vitrify`)."""
    refs = []
    for name, service in load_compose()["services"].items():
        for label, argv in _service_argvs(service):
            if argv and argv[0] == "vitrify":
                refs.append((f"compose.yaml service {name} {label}", argv[1:]))
    for instr, args in dockerfile_instructions():
        if instr in ("CMD", "ENTRYPOINT"):
            argv = json.loads(args)
            if argv and argv[0] == "vitrify":
                refs.append((f"Dockerfile {instr}", argv[1:]))
    for container in raycluster_containers():
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        for tokens in _vitrify_invocations(" ".join(argv)):
            refs.append((f"raycluster.yaml {container['name']}", tokens))
    for block in _readme_code():
        for tokens in _vitrify_invocations(block):
            refs.append(("README.md", tokens))
    return refs


def _service_argvs(service: dict):
    command = service.get("command")
    if isinstance(command, str):
        command = command.split()
    if command:
        yield "command", [str(c) for c in command]
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"):
        yield "healthcheck", [str(c) for c in (test[1:] if test[0] == "CMD" else test[1].split())]


def raycluster_containers() -> list[dict]:
    spec = load_raycluster()["spec"]
    groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


# --------------------------------------------------------------------------- files parse


def test_deploy_files_exist_and_parse():
    for path in (COMPOSE, DOCKERFILE, ENV_EXAMPLE, README, RAYCLUSTER, INIT_SQL, DEPLOY / "Dockerfile.dockerignore"):
        assert path.is_file(), f"missing {path.relative_to(REPO)}"
    compose = load_compose()
    assert SERVICES <= set(compose["services"]), f"compose.yaml lacks services {SERVICES - set(compose['services'])}"
    known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
             "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
    instructions = dockerfile_instructions()
    unknown = [i for i, _ in instructions if i not in known]
    assert not unknown, f"unknown Dockerfile instructions {unknown}"
    assert instructions[0][0] in ("FROM", "ARG")
    for instr, args in instructions:
        if instr in ("CMD", "ENTRYPOINT"):
            assert isinstance(json.loads(args), list), f"{instr} must use the exec (JSON) form"
    assert load_raycluster()["kind"] == "RayCluster"
    rc = subprocess.run(["bash", "-n", str(INIT_SQL)], capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr


def test_env_file_is_git_ignored():
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize("verb", sorted(EXPECTED_VERBS), ids=" ".join)
def test_expected_verb_exists(verb):
    path, command = resolve_verb(list(verb))
    assert command is not None and path == verb, (
        f"`vitrify {' '.join(verb)}` does not exist in the CLI (vitrify/cli.py) yet, but deploy/ relies on it: "
        f"{EXPECTED_VERBS[verb]}. Add the verb (or change deploy/ and EXPECTED_VERBS in tests/test_deploy.py)."
    )
    assert not subcommands(command), f"`vitrify {' '.join(verb)}` is a command group, not a command"


def test_deploy_references_only_expected_verbs_with_existing_options():
    refs = vitrify_references()
    assert any(where.startswith("compose.yaml") for where, _ in refs)
    problems = []
    for where, tokens in refs:
        if tokens and tokens[0] in ("--help", "--version"):
            continue
        path, command = resolve_verb(tokens)
        verb = " ".join(path)
        if command is None:
            if path not in EXPECTED_VERBS:
                problems.append(f"{where}: `vitrify {verb}` is neither a CLI verb nor in EXPECTED_VERBS")
            continue  # missing expected verbs are reported by test_expected_verb_exists
        if path not in EXPECTED_VERBS:
            problems.append(f"{where}: `vitrify {verb}` is not in EXPECTED_VERBS (add it if deploy/ needs it)")
        if subcommands(command):
            problems.append(f"{where}: `vitrify {verb}` is a group, not a command")
            continue
        options = {opt for param in command.params for opt in getattr(param, "opts", [])} | {"--help"}
        for tok in tokens[len(path):]:
            if tok.startswith("--") and tok.split("=", 1)[0] not in options:
                problems.append(f"{where}: `vitrify {verb}` has no option {tok.split('=', 1)[0]} (has {sorted(options)})")
    assert not problems, "\n".join(problems)


def _site_packages_file(package: str, *parts: str) -> str:
    spec = importlib.util.find_spec(package)  # top-level: located, not imported
    return Path(spec.origin).parent.joinpath(*parts).read_text()


def test_ray_and_prefect_commands_exist_with_their_options():
    ray_cli = _site_packages_file("ray", "scripts", "scripts.py")
    checked = 0
    for name, service in load_compose()["services"].items():
        for label, argv in _service_argvs(service):
            if argv[0] == "ray":
                verb = argv[1]
                assert f"def {verb.replace('-', '')}(" in ray_cli or f'name="{verb}"' in ray_cli, f"{name}: no `ray {verb}`"
                for tok in argv[2:]:
                    assert tok.startswith("--"), f"{name}: unexpected argument {tok}"
                    assert f'"{tok.split("=", 1)[0]}"' in ray_cli, f"{name} {label}: `ray {verb}` has no {tok}"
                checked += 1
            elif argv[0] == "prefect":
                group, verb = argv[1], argv[2]
                source = _site_packages_file("prefect", "cli", f"{group}.py")
                assert re.search(rf"def {verb}\(", source), f"{name}: no `prefect {group} {verb}`"
                for tok in argv[3:]:
                    if tok.startswith("--"):
                        assert f'"{tok}"' in source, f"{name}: `prefect {group} {verb}` has no {tok}"
                checked += 1
    assert checked >= 4


def test_services_run_what_the_brief_says():
    services = load_compose()["services"]
    assert services["migrate"]["command"] == ["vitrify", "db", "upgrade"]
    assert services["migrate"].get("restart") == "no"
    intake = services["intake"]["command"]
    assert intake[:2] == ["vitrify", "serve"] and intake[intake.index("--host") + 1] == "0.0.0.0"
    worker = services["prefect-worker"]["command"]
    assert worker[:3] == ["prefect", "worker", "start"] and worker[worker.index("--pool") + 1] == WORK_POOL
    server = services["prefect-server"]["command"]
    assert server[:3] == ["prefect", "server", "start"] and server[server.index("--host") + 1] == "0.0.0.0"
    head = services["ray-head"]["command"]
    assert head[:3] == ["ray", "start", "--head"] and "--block" in head
    assert services["ray-worker"]["command"][:2] == ["ray", "start"] and "--block" in services["ray-worker"]["command"]


def _flag(argv: list[str], name: str) -> str:
    for tok in argv:
        if tok.startswith(name + "="):
            return tok.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


def test_addresses_between_services_agree():
    services = load_compose()["services"]
    head = services["ray-head"]["command"]
    assert _flag(services["ray-worker"]["command"], "--address") == f"ray-head:{_flag(head, '--port')}"
    env = service_env(services["prefect-worker"])
    ray_address = interpolate(env["RAY_ADDRESS"], {})
    assert ray_address == f"ray://ray-head:{_flag(head, '--ray-client-server-port')}"
    server = services["prefect-server"]["command"]
    assert env["PREFECT_API_URL"] == f"http://prefect-server:{server[server.index('--port') + 1]}/api"
    for name in VITRIFY_SERVICES:
        url = service_env(services[name])["VITRIFY_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://vitrify:") and url.endswith("@postgres:5432/vitrify"), name


# --------------------------------------------------------------------------- settings names


def test_vitrify_settings_read_the_compose_environment():
    from vitrify.settings import Settings

    env = {k: interpolate(v, dummy_values()) for k, v in service_env(load_compose()["services"]["prefect-worker"]).items()}
    with pytest.MonkeyPatch.context() as mp:
        for key in ("VITRIFY_DATABASE_URL", "VITRIFY_DATA_DIR", "RAY_ADDRESS"):
            mp.setenv(key, env[key])
        settings = Settings(_env_file=None)
    assert settings.sqlalchemy_url == env["VITRIFY_DATABASE_URL"] and not settings.is_sqlite
    assert settings.ray_address == "ray://ray-head:10001"
    assert str(settings.data_dir) == "/data"


def test_prefect_settings_names_are_real():
    """The PREFECT_* names in compose.yaml are the ones Prefect reads (a typo would silently
    leave the server without authentication or on SQLite)."""
    from prefect.settings import Settings

    services = load_compose()["services"]
    values = dummy_values()
    server_env = {k: interpolate(v, values) for k, v in service_env(services["prefect-server"]).items()}
    worker_env = {k: interpolate(v, values) for k, v in service_env(services["prefect-worker"]).items()}
    assert constraint_pin("asyncpg"), "the Prefect server's PostgreSQL driver asyncpg is not in constraints.txt"

    def settings_from(env: dict) -> Settings:
        with pytest.MonkeyPatch.context() as mp:
            for key in list(os.environ):
                if key.startswith("PREFECT_") and key != "PREFECT_HOME":
                    mp.delenv(key)
            for key, value in env.items():
                if key.startswith("PREFECT_"):
                    mp.setenv(key, value)
            return Settings()

    server = settings_from(server_env)
    assert server.server.api.auth_string is not None, "the Prefect server would run without authentication"
    assert server.server.database.driver == "postgresql+asyncpg", "the Prefect server would use SQLite"
    assert server.server.api.auth_string.get_secret_value() == values["PREFECT_AUTH_STRING"]
    url = server.server.database.connection_url.get_secret_value()
    assert url.startswith("postgresql+asyncpg://prefect:") and url.endswith("@postgres:5432/prefect"), url
    assert server.server.ui.api_url == "http://127.0.0.1:4200/api"
    worker = settings_from(worker_env)
    assert worker.api.auth_string is not None, "the Prefect worker would not send the auth string"
    assert worker.api.url == "http://prefect-server:4200/api"
    assert worker.api.auth_string.get_secret_value() == values["PREFECT_AUTH_STRING"]


# --------------------------------------------------------------------------- images


def _own_image_pattern() -> re.Pattern:
    version = pyproject()["project"]["version"]
    return re.compile(rf"^(?:[a-z0-9.-]+(?::\d+)?/)*vitrify:{re.escape(version)}$")


def _check_image(image: str, where: str) -> None:
    if _own_image_pattern().match(image):
        return
    # a pinned Docker official image: no namespace, a versioned tag (or a digest), never `latest`
    m = re.match(r"^([a-z0-9]+(?:[._-][a-z0-9]+)*)(?::([\w.-]+))?(?:@sha256:[0-9a-f]{64})?$", image)
    assert m, f"{where}: {image!r} is neither the project's image (vitrify:<version>) nor a Docker official image"
    name, tag = m.groups()
    pinned = "@sha256:" in image or (tag and re.match(r"^\d+\.\d+", tag))
    assert pinned, f"{where}: {image!r} is not pinned to a version (tag like 17.6-bookworm, or a digest)"
    assert name in {"postgres", "python"}, f"{where}: unexpected image {name!r}"


def test_images_are_the_project_build_or_pinned_official():
    compose = load_compose()
    version = pyproject()["project"]["version"]
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"service {name} has no image"
        _check_image(image, f"compose service {name}")
        if "build" in service:
            build = service["build"]
            assert (COMPOSE.parent / build["context"]).resolve() == REPO, f"{name}: build context is not the repository"
            assert (REPO / build["dockerfile"]).resolve() == DOCKERFILE, f"{name}: builds another Dockerfile"
            assert image == f"vitrify:{version}"
    froms = [args.split()[0] for instr, args in dockerfile_instructions() if instr == "FROM"]
    for image in froms:
        _check_image(image, "Dockerfile FROM")
    for container in raycluster_containers():
        assert _own_image_pattern().match(container["image"]), f"raycluster {container['name']}: {container['image']}"


def test_dockerfile_python_matches_constraints():
    header = (REPO / "constraints.txt").read_text().split("\n", 3)[:3]
    m = re.search(r"--python-version (\d+\.\d+)", " ".join(header))
    assert m, "constraints.txt header does not say which Python it was compiled for"
    froms = [args.split()[0] for instr, args in dockerfile_instructions() if instr == "FROM"]
    assert froms[-1].startswith(f"python:{m.group(1)}"), f"{froms[-1]} is not Python {m.group(1)} (constraints.txt)"
    assert pyproject()["project"]["requires-python"] == ">=3.11"


def test_raycluster_matches_the_ray_pin():
    assert load_raycluster()["spec"]["rayVersion"] == constraint_pin("ray")


# --------------------------------------------------------------------------- the Dockerfile


def test_dockerfile_installs_with_constraints_and_runs_as_non_root():
    instructions = dockerfile_instructions()
    runs = [(i, args) for i, (instr, args) in enumerate(instructions) if instr == "RUN"]
    install = [i for i, args in runs if "uv pip install --system -c constraints.txt ." in args]
    assert install, "the Dockerfile must install with `uv pip install --system -c constraints.txt .`"
    copied_before = " ".join(args for instr, args in instructions[: install[0]] if instr == "COPY")
    for needed in ("constraints.txt", "pyproject.toml", "README.md"):
        assert needed in copied_before, f"{needed} is not copied before the install"
    users = [(i, args) for i, (instr, args) in enumerate(instructions) if instr == "USER"]
    assert users, "the image must switch to an unprivileged USER"
    last_user_index, user = users[-1]
    assert user.split(":")[0] not in ("root", "0"), f"USER {user} is root"
    assert last_user_index > runs[-1][0], "a RUN comes after the final USER: it would run as that user or root"
    cmd = [json.loads(args) for instr, args in instructions if instr in ("CMD", "ENTRYPOINT")]
    assert cmd and cmd[-1][0] == "vitrify", "the image's default command must be `vitrify ...`"


def test_dockerfile_copies_every_package_and_only_existing_paths():
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*").rstrip(".") for p in include}
    copied = set()
    for instr, args in dockerfile_instructions():
        if instr in ("COPY", "ADD"):
            parts = [a for a in args.split() if not a.startswith("--")]
            for src in parts[:-1]:
                assert (REPO / src).exists(), f"COPY {src}: no such path in the repository"
                copied.add(src.rstrip("/").lstrip("./"))
    missing = packages - copied
    assert not missing, f"the Dockerfile does not copy the packages {sorted(missing)} (pyproject packages.find)"


def test_package_data_ships_every_data_file():
    """The image installs vitrify non-editable: a data file not matched by package-data
    (templates, static files, ...) would be missing at run time."""
    patterns = pyproject()["tool"]["setuptools"]["package-data"]["*"]
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    missing = []
    for package in {p.rstrip("*").rstrip(".") for p in include}:
        for path in (REPO / package).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".py", ".pyc"):
                continue
            if not any(fnmatch.fnmatch(path.name, pat) for pat in patterns):
                missing.append(str(path.relative_to(REPO)))
    assert not missing, (
        f"not shipped in the wheel/image (add their patterns to [tool.setuptools.package-data] in pyproject.toml): {missing}"
    )


def test_dockerignore_keeps_the_venv_and_git_out():
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", ".env"} <= set(lines)


# --------------------------------------------------------------------------- secrets


def test_compose_has_no_default_secrets():
    problems = []
    for path, value in walk_strings(load_compose()):
        where = "/".join(path)
        if SECRET_NAME.search(path[-1]) and not REQUIRED_REF.fullmatch(value):
            problems.append(f"{where}: {value!r} must be ${{VAR:?message}} (required, no default)")
        for name, op, arg in VAR_REF.findall(value):
            if SECRET_NAME.search(name) and op != ":?":
                problems.append(f"{where}: ${{{name}{op}{arg}}} must be required (:?) with no default")
        for _user, password in URL_CREDENTIALS.findall(value):
            if not REQUIRED_REF.fullmatch(password):
                problems.append(f"{where}: the URL's password {password!r} is not a required ${{VAR:?...}}")
        if WEAK_LITERALS.search(value):
            problems.append(f"{where}: weak placeholder {value!r}")
    assert not problems, "\n".join(problems)
    text = COMPOSE.read_text()
    assert not re.search(r"(?<!\$)\$(?!\{)[A-Za-z_]", text), "use ${VAR} (with :? or :-) rather than bare $VAR"


def test_env_example_has_placeholders_only_and_covers_compose():
    active, commented = env_example()
    used = compose_vars()
    keys = set(active) | set(commented)
    assert set(used) <= keys, f".env.example lacks {sorted(set(used) - keys)} used in compose.yaml"
    assert keys <= set(used), f".env.example documents {sorted(keys - set(used))} that compose.yaml never uses"
    for name, refs in used.items():
        ops = {op for op, _ in refs}
        if ":?" in ops:
            assert name in active and active[name] == "", f"required {name} must be an empty, active line in .env.example"
        defaults = {arg for op, arg in refs if op in (":-", "-")}
        if defaults:
            assert len(defaults) == 1, f"{name} has different defaults in compose.yaml: {defaults}"
            assert commented.get(name) == defaults.pop(), f".env.example's #{name}= is not compose's default"
    for name, value in {**active, **commented}.items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example gives {name} a value: secrets must be empty placeholders"
    assert not WEAK_LITERALS.search(ENV_EXAMPLE.read_text())


def test_init_script_uses_only_passwords_given_to_postgres():
    compose = load_compose()
    postgres = compose["services"]["postgres"]
    env = service_env(postgres)
    script = INIT_SQL.read_text()
    for name in re.findall(r"\$\{([A-Z_]+):\?", script):
        assert name in env and REQUIRED_REF.fullmatch(env[name]), f"the init script needs {name} from compose"
    mounts = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert mounts and (COMPOSE.parent / mounts[0].split(":")[0]).resolve() == INIT_SQL
    assert "PASSWORD '" not in script, "passwords must be passed as psql variables, never spliced into SQL"


def test_raycluster_takes_secrets_from_a_secret():
    for container in raycluster_containers():
        for item in container.get("env", []):
            assert not (SECRET_NAME.search(item["name"]) and "value" in item), (
                f"{container['name']}: {item['name']} has a literal value; use a Secret"
            )
        assert any("secretRef" in src for src in container.get("envFrom", [])), f"{container['name']}: no envFrom Secret"
        env = {item["name"]: item.get("value") for item in container.get("env", [])}
        assert env.get("RAY_AUTH_MODE") == "token", f"{container['name']}: Ray token authentication is off"
    assert not WEAK_LITERALS.search(RAYCLUSTER.read_text())


def test_dockerfile_bakes_in_no_secret():
    for instr, args in dockerfile_instructions():
        if instr in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args):
                assert not SECRET_NAME.search(name), f"Dockerfile {instr} {name}: secrets belong in the environment"


def test_readme_shows_no_literal_password():
    text = README.read_text()
    for name, value in re.findall(r"\b([A-Z][A-Z0-9_]*)=(\S*)", text):
        if SECRET_NAME.search(name) and value and not value.startswith(("$", "<", '"$', '"<')):
            pytest.fail(f"README sets {name}={value}: show how to generate it instead")
    for _user, password in URL_CREDENTIALS.findall(text):
        assert password.startswith(("<", "$")), f"README shows a URL with the password {password!r}"
    assert not WEAK_LITERALS.search(text)


# --------------------------------------------------------------------------- network and startup order


def test_published_ports_bind_loopback_only():
    for name, service in load_compose()["services"].items():
        assert service.get("network_mode") != "host", f"{name} uses the host network"
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port} is not bound to 127.0.0.1"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: port {port!r} is not bound to 127.0.0.1"
    assert not load_compose()["services"]["postgres"].get("ports"), "PostgreSQL must not be published"


def test_healthchecks_and_startup_order():
    services = load_compose()["services"]
    for name in ("postgres", "prefect-server", "ray-head"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name, service in services.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if cond.get("condition") == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy, but it has no healthcheck"

    def waits_for(name: str, dep: str, condition: str) -> bool:
        return (services[name].get("depends_on") or {}).get(dep, {}).get("condition") == condition

    for name in VITRIFY_SERVICES:
        assert waits_for(name, "postgres", "service_healthy"), f"{name} must wait for a healthy postgres"
    for name in VITRIFY_SERVICES - {"migrate"}:
        assert waits_for(name, "migrate", "service_completed_successfully"), f"{name} must wait for the migration"
    assert waits_for("prefect-worker", "prefect-server", "service_healthy")
    assert waits_for("prefect-server", "postgres", "service_healthy")
    assert waits_for("ray-worker", "ray-head", "service_healthy")
    prefect_check = " ".join(services["prefect-server"]["healthcheck"]["test"])
    assert "/api/health" in prefect_check  # the one path Prefect serves without the auth string


def test_ray_token_authentication_everywhere():
    services = load_compose()["services"]
    for name in ("ray-head", "ray-worker", "prefect-worker"):
        env = service_env(services[name])
        assert env.get("RAY_AUTH_MODE") == "token" and REQUIRED_REF.fullmatch(env.get("RAY_AUTH_TOKEN", "")), name


# --------------------------------------------------------------------------- the README


def test_readme_walks_through_operations():
    text = README.read_text()
    for needle in (
        "cp .env.example .env",
        "docker compose up -d",
        "vitrify token create --role admin --name it",
        "vitrify deploy",
        "Prefect UI",
        "RAY_WORKERS",
        "--scale ray-worker",
        "pg_dump",
        "vitrify db upgrade",
        "kuberay/raycluster.yaml",
        WORK_POOL,
    ):
        assert needle in text, f"deploy/README.md does not mention {needle!r}"
    required = {name for name, refs in compose_vars().items() if any(op == ":?" for op, _ in refs)}
    for name in required:
        assert name in text, f"deploy/README.md does not explain the required setting {name}"
    for rel in re.findall(r"`((?:kuberay|postgres)/[\w./-]+|\.env\.example|compose\.yaml|Dockerfile)`", text):
        assert (DEPLOY / rel).exists(), f"README refers to deploy/{rel}, which does not exist"
