"""fedsim's apps on Flower's own runtimes: ``flwr run .`` on the Simulation Engine (Ray) and on
the Deployment Engine (a SuperLink and SuperNodes), against the in-process engine's ledger.

The fast tests check the declared app, the run config's translation and its one-line errors on
the in-process engine; the ``slow`` ones start Flower's processes on free loopback ports in a
private FLWR_HOME and stop them by PID.
"""

from __future__ import annotations

import re
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

import fedsim
from fedsim.strategies import STRATEGY_NAMES
from fedsim.errors import ConfigError
from fedsim._flower_processes import ROOT, FlowerProcesses, free_port, start_simulation_superlink, wait_until_healthy

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# A small federation: 4 devices (one SuperNode each), 2 per round, 2 rounds.
OVERRIDES = "rounds=2 seed=2 op.train_bits=4 world.num_devices=4 op.devices_per_round=2 op.local_iters=2"
NUM_DEVICES = 4


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0].lower()


# -- the declared app ------------------------------------------------------------------------
def test_pyproject_declares_the_flower_app_and_its_run_config():
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp
    from flwr.supercore.object_ref import load_app

    app = PYPROJECT["tool"]["flwr"]["app"]
    assert isinstance(load_app(app["components"]["serverapp"], ValueError, ROOT), ServerApp)
    assert isinstance(load_app(app["components"]["clientapp"], ValueError, ROOT), ClientApp)
    assert {"overrides", "output-dir", "seed", "rounds", "op", "world"} <= set(app["config"])


def test_uv_sync_of_the_runtime_env_installs_none_of_the_dependencies():
    # Flower's SuperLink syncs [project].dependencies into a fresh env by default; every one is
    # excluded, so no CUDA torch (nor anything else) is pulled over the installed packages.
    dependencies = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert dependencies <= set(PYPROJECT["tool"]["uv"]["exclude-dependencies"])


@pytest.mark.slow  # subprocesses: the default suite's budget (CI runs the slow suite too)
def test_the_fab_carries_the_app_config_not_a_second_copy_of_fedsim():
    import io
    import zipfile

    from flwr.cli.build import build_fab_from_disk

    names = zipfile.ZipFile(io.BytesIO(build_fab_from_disk(ROOT))).namelist()
    assert "pyproject.toml" in names
    assert not [n for n in names if n.endswith(".py")]  # the apps import the installed fedsim


# -- the run config ---------------------------------------------------------------------------
def test_the_run_config_is_the_overrides_then_the_flat_keys_that_are_set():
    from fedsim.federation._flower_config import hydra_overrides

    run_config = {"overrides": "rounds=3 scenario=kim2022_tradeoff", "output-dir": "/out", "supernode-timeout-s": 5.0,
                  "seed": 2, "op.train_bits": 4, "world.num_devices": "", "train.lr": 0.05, "rounds": ""}
    overrides = hydra_overrides(run_config)
    assert overrides == ("rounds=3", "scenario=kim2022_tradeoff", "op.train_bits=4", "seed=2", "train.lr=0.05")
    from fedsim.federation._job import config_from_run_config

    assert config_from_run_config(run_config) == fedsim.compose(list(overrides))


@pytest.mark.parametrize(
    "run_config, key",
    [
        ({"output-dir": "/out"}, "overrides"),
        ({"overrides": "rounds=0", "output-dir": "/out"}, "rounds"),
        ({"overrides": "no_such_key=1", "output-dir": "/out"}, "no_such_key"),
        ({"overrides": "scenario=nope", "output-dir": "/out"}, "scenario"),
    ],
)
def test_a_bad_run_config_is_one_line_naming_the_key(run_config, key):
    from fedsim.federation._job import config_from_run_config

    with pytest.raises(ConfigError) as error:
        config_from_run_config(run_config)
    assert error.value.key == key and "\n" not in str(error.value)


@pytest.mark.parametrize("value", ["", "relative/dir"])
def test_the_output_dir_is_required_and_absolute(value):
    from fedsim.federation._flower_config import output_dir_of

    with pytest.raises(ConfigError, match="output-dir=.* is not allowed: an absolute directory"):
        output_dir_of({"output-dir": value})


def test_a_federation_of_another_size_than_the_world_is_one_line(tmp_path):
    from flwr.app import Context, RecordDict

    from fedsim.engine import InProcessGrid
    from fedsim.federation import config_to_run_config, run_federation
    from fedsim.federation.client_app import app as client_app
    from run_helpers import tiny_overrides

    run_config = config_to_run_config(fedsim.RunConfig.from_mapping(tiny_overrides()))  # 6 devices
    grid = InProcessGrid(client_app, 4, run_config)
    context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)
    with pytest.raises(ConfigError) as error:
        run_federation(grid, context, output_dir=tmp_path, progress=False)
    assert str(error.value) == "num-supernodes=4 is not allowed: world.num_devices=6: one SuperNode per device"


# -- Flower's runtimes (slow: each starts a SuperLink, Ray or SuperNodes) ----------------------
def _ledger(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in ("rounds.csv", "devices.csv", "config.yaml")}


@pytest.fixture(scope="module")
def reference_ledger(tmp_path_factory) -> dict[str, bytes]:
    """What ``fedsim run OVERRIDES`` writes (the in-process engine)."""
    out = tmp_path_factory.mktemp("in-process")
    fedsim.run(fedsim.compose(OVERRIDES.split()), out)
    return _ledger(out)


@pytest.fixture
def local_superlink(tmp_path):
    """The local simulation SuperLink ``flwr run`` would start, started here on free ports so the
    test owns its PID; ``flwr run .`` (connection ``local``) finds it and uses it."""
    with FlowerProcesses(tmp_path / "flwr-home") as flower:
        start_simulation_superlink(flower)
        yield flower


@pytest.mark.slow
def test_flwr_run_on_ray_writes_the_ledger_of_fedsim_run(local_superlink, reference_ledger, tmp_path):
    assert _ledger(_flwr_run_on_ray(local_superlink, OVERRIDES, tmp_path / "ray")) == reference_ledger


def _flwr_run_on_ray(superlink, overrides: str, out: Path) -> Path:
    """``flwr run .`` of ``overrides`` on the Ray simulation, checked to have finished; its output."""
    done = superlink.flwr(
        "run", ".", "--run-config", f'overrides="{overrides}" output-dir="{out}"',
        "--federation-config", f"num-supernodes={NUM_DEVICES}", "--stream",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The log stream can end a moment before the ServerApp process has written its last file
    # (summary.json was missing once right after a clean exit): wait for it, up to a minute.
    deadline = time.monotonic() + 60.0
    while not (out / "summary.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (out / "summary.json").is_file(), done.stdout[-3000:]
    return out


ASYNC_OVERRIDES = OVERRIDES + " strategy=fedbuff strategy.concurrency=2 strategy.buffer_size=2 devices.straggler_fraction=0.25"


@pytest.mark.slow
def test_flwr_run_on_ray_drives_the_async_server_to_the_in_process_ledger(local_superlink, tmp_path):
    # The async server pushes one TRAIN message per dispatch through the Grid and waits for its
    # reply; the clock is the event world's, so Ray's wall-clock order cannot move a byte.
    fedsim.run(fedsim.compose(ASYNC_OVERRIDES.split()), tmp_path / "in-process")
    out = _flwr_run_on_ray(local_superlink, ASYNC_OVERRIDES, tmp_path / "ray-async")
    assert _ledger(out) == _ledger(tmp_path / "in-process")
    assert "staleness" in (out / "devices.csv").read_text().splitlines()[0]


def _failing_app(tmp_path: Path) -> Path:
    """fedsim's apps with a ClientApp whose training always raises."""
    app = tmp_path / "failing_app"
    app.mkdir()
    (app / "failing_client.py").write_text(
        "from flwr.clientapp import ClientApp\n"
        "from fedsim.federation.client_app import describe\n\n"
        "app = ClientApp()\n"
        "app.query()(describe)\n\n\n"
        "@app.train()\n"
        "def train(msg, context):\n"
        "    raise RuntimeError('device out of memory')\n"
    )
    pyproject = (ROOT / "pyproject.toml").read_text()
    pyproject = pyproject.replace('"fedsim.federation.client_app:app"', '"failing_client:app"')
    pyproject = pyproject.replace('fab-include = ["README.md"]', 'fab-include = ["failing_client.py"]')
    (app / "pyproject.toml").write_text(pyproject.replace('name = "fedsim"', 'name = "failing-fedsim"'))
    return app


@pytest.mark.slow
def test_a_flwr_run_whose_every_client_fails_exits_non_zero_with_one_line(local_superlink, tmp_path):
    out = tmp_path / "failed"
    done = local_superlink.fedsim(
        "flwr-run", str(_failing_app(tmp_path)), "--run-config", f'overrides="{OVERRIDES}" output-dir="{out}"',
        "--federation-config", f"num-supernodes={NUM_DEVICES}",
    )
    assert done.returncode == 1, done.stdout[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("fedsim: error: run ") and "finished:failed" in last
    assert "every ClientApp failed" in last and "device out of memory" in last
    rows = (out / "devices.csv").read_text().splitlines()[1:]
    assert rows and all(",client_error," in row for row in rows)
    assert not (out / "summary.json").exists()


@pytest.mark.slow
def test_a_flwr_run_without_output_dir_fails_at_start_with_one_line(local_superlink):
    done = local_superlink.fedsim("flwr-run", ".", "--run-config", f'overrides="{OVERRIDES}"',
                                  "--federation-config", f"num-supernodes={NUM_DEVICES}")
    assert done.returncode == 1
    assert "output-dir='' is not allowed: an absolute directory" in done.stderr.strip().splitlines()[-1]


# -- the Deployment Engine: a SuperLink and one SuperNode per device, on loopback -------------
CONNECTION = "fedsim-loopback"


@pytest.fixture(params=["insecure", "tls"])
def deployment(request, tmp_path):
    """``flower-superlink`` and NUM_DEVICES ``flower-supernode``s, each with its partition in
    ``--node-config``; with ``tls`` the SuperLink serves a self-signed certificate that the
    SuperNodes and ``flwr`` verify against the test's CA."""
    from loopback_certificates import self_signed_certificates

    home = tmp_path / "flwr-home"
    port = free_port()
    if request.param == "tls":
        certs = self_signed_certificates(tmp_path / "certificates")
        link_security = ["--ssl-ca-certfile", str(certs["ca"]), "--ssl-certfile", str(certs["cert"]), "--ssl-keyfile", str(certs["key"])]
        node_security = ["--root-certificates", str(certs["ca"])]
        connection, ca_certificate = f'root-certificates = "{certs["ca"]}"', certs["ca"]
    else:
        link_security, node_security, connection = ["--insecure"], ["--insecure"], "insecure = true"
        ca_certificate = None
    with FlowerProcesses(home) as flower:
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "127.0.0.1:{port}"\n{connection}\n'
        )
        flower.start(["flower-superlink", *link_security, "--host", "127.0.0.1", "--port", str(port)], "superlink")
        wait_until_healthy(port, ca_certificate)
        for partition in range(NUM_DEVICES):
            flower.start(
                ["flower-supernode", *node_security, "--superlink", f"127.0.0.1:{port}", "--port", str(free_port()),
                 "--node-config", f"partition-id={partition} num-partitions={NUM_DEVICES}"],
                f"supernode-{partition}",
            )
        yield flower


@pytest.mark.slow
def test_the_deployment_engine_writes_the_ledger_of_fedsim_run(deployment, reference_ledger, tmp_path):
    assert _ledger(_flwr_run_on_deployment(deployment, OVERRIDES, tmp_path / "deployment")) == reference_ledger


def _flwr_run_on_deployment(deployment, overrides: str, out: Path) -> Path:
    """``fedsim flwr-run .`` of ``overrides`` on the Deployment Engine, checked to have finished."""
    done = deployment.fedsim("flwr-run", ".", CONNECTION, "--run-config", f'overrides="{overrides}" output-dir="{out}"')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + deployment.log("superlink")[-3000:]
    return out


def test_a_client_error_wrapped_in_a_ray_traceback_is_its_own_exception_line():
    from fedsim.federation._client_errors import client_error_line

    ray_reason = (
        "<class 'ray.exceptions.RayTaskError(ClientAppException)'>:<'\x1b[36mray::ClientAppActor.run()\x1b[39m (pid=1)\n"
        "  File \"app.py\", line 9, in train\n    raise RuntimeError('device out of memory')\n"
        "RuntimeError: device out of memory\n\nThe above exception was the direct cause of the following exception:\n"
        "ray::ClientAppActor.run() (pid=1)\nflwr.clientapp.client_app.ClientAppException: \n"
        "Exception ClientAppException occurred. Message: device out of memory'>"
    )
    assert client_error_line(ray_reason) == "RuntimeError: device out of memory"
    assert client_error_line("ValueError: bad\n") == "ValueError: bad"


def test_flwr_run_reports_the_message_of_a_failed_runs_status_details():
    from fedsim._flwr_run import failure_line

    details = "Simulation failed with exception: output-dir='' is not allowed: an absolute directory"
    assert failure_line(details) == "output-dir='' is not allowed: an absolute directory"
    assert failure_line("ServerApp failed with exception: a\nb") == "a"
    assert failure_line("") == "the run did not complete"


def test_flwr_run_refuses_a_format_of_its_own(capsys):
    from fedsim._flwr_run import flwr_run

    assert flwr_run([".", "--format", "json"]) == 2
    assert "--format is not allowed" in capsys.readouterr().err


@pytest.mark.parametrize(("stdout", "stderr", "line"), [
    # flwr 1.41 names its reason "error-message" (a leading note of its own before it)
    ('{\n  "success": false,\n  "error-message": "\\nFlower configuration not found. Created default configuration at '
     '/x/config.toml\\n\\n\\nFailed to load Flower App configuration in \'/a/pyproject.toml\'. File may be missing or invalid."\n}',
     "", "Failed to load Flower App configuration in '/a/pyproject.toml'. File may be missing or invalid."),
    ('{"success": false, "error": "SuperLink unreachable"}', "", "SuperLink unreachable"),  # flwr before 1.41
    # click's usage error, framed by rich, and no JSON at all
    ("", "Usage: flwr run [OPTIONS] [APP] [SUPERLINK]\nTry 'flwr run -h' for help.\n╭─ Error ───╮\n│ No such option '--bogus'. │\n╰────────╯\n",
     "No such option '--bogus'."),
    ("note {not json} then nothing", "", "note {not json} then nothing"),
])
def test_flwr_run_names_why_flwr_did_not_start_the_run(monkeypatch, capsys, stdout, stderr, line):
    """From a canned reply of ``flwr run --format json`` (no SuperLink is started)."""
    from fedsim import _flwr_run

    monkeypatch.setattr(_flwr_run.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a[0], 1, stdout, stderr))
    assert _flwr_run.flwr_run(["."]) == 1
    assert capsys.readouterr().err.splitlines() == [f"fedsim: error: {line}"]


def test_flwr_run_bad_arguments_and_a_missing_flwr_are_one_line(monkeypatch, capsys):
    from fedsim import _flwr_run

    assert _flwr_run.flwr_run(["--run-config"]) == 2
    assert capsys.readouterr().err.splitlines() == ["fedsim: error: argument --run-config: expected one argument"]
    monkeypatch.setattr(_flwr_run, "_flwr", lambda: "/nonexistent/flwr")
    assert _flwr_run.flwr_run(["."]) == 1
    assert capsys.readouterr().err.splitlines() == ["fedsim: error: /nonexistent/flwr cannot be run (No such file or directory): install flwr (pip install flwr)"]


@pytest.mark.slow
@pytest.mark.parametrize("deployment", ["insecure"], indirect=True)
def test_the_deployment_engine_drives_the_async_server_to_the_in_process_ledger(deployment, tmp_path):
    fedsim.run(fedsim.compose(ASYNC_OVERRIDES.split()), tmp_path / "in-process")
    out = _flwr_run_on_deployment(deployment, ASYNC_OVERRIDES, tmp_path / "deployment-async")
    assert _ledger(out) == _ledger(tmp_path / "in-process")


# Every strategy but the default (the tests above) and fedbuff (its own test): client-side terms
# (fedprox, qfedavg's reported loss), server state (fedavgm, fedadam, ...), global-RNG noise (DP),
# per-device state in context.state (scaffold). The robust rules at f = 0 with K = 3 (4 SuperNodes).
STRATEGY_OVERRIDES = [
    "strategy=fedprox strategy.mu=0.1", "strategy=fedavgm", "strategy=fedadam", "strategy=fedyogi", "strategy=fedadagrad",
    "strategy=fedmedian", "strategy=fedtrimmedavg", "strategy=qfedavg strategy.q=1",
    "strategy=dp_fixed strategy.noise_multiplier=0.01", "strategy=dp_adaptive strategy.noise_multiplier=0.01",
    "strategy=scaffold train.momentum=0", "strategy=fedasync strategy.concurrency=2",
    *(f"strategy={name} strategy.num_malicious=0 op.devices_per_round=3" for name in ("krum", "multikrum", "bulyan")),
]


@pytest.mark.slow
def test_flwr_run_on_ray_runs_the_strategies_to_the_in_process_ledgers(local_superlink, tmp_path):
    assert {o.split()[0].split("=")[1] for o in STRATEGY_OVERRIDES} | {"fedavg", "fedbuff"} == set(STRATEGY_NAMES)
    for i, extra in enumerate(STRATEGY_OVERRIDES):
        overrides = f"{OVERRIDES} {extra}"
        fedsim.run(fedsim.compose(overrides.split()), tmp_path / f"in-process-{i}")
        out = _flwr_run_on_ray(local_superlink, overrides, tmp_path / f"ray-{i}")
        assert _ledger(out) == _ledger(tmp_path / f"in-process-{i}"), extra
