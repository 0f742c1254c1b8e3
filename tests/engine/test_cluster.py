"""Real distributed runs: a standalone Spark master and two workers as their own processes on
127.0.0.1 (one killed mid-run), and a Spark Connect server; ``segmint run --engine spark
--spark-master URL`` against each (and ``segmint predict`` on the cluster), then stop them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.store.workspace import Workspace

pyspark = pytest.importorskip("pyspark")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _start(script: str, args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(Path(pyspark.__file__).parent / "bin" / script), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, stopped as one
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _env() -> dict:
    return {
        **os.environ,
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }


def _segmint(args: list[str], master: str, env: dict) -> subprocess.Popen:
    """A ``segmint`` command in its own process, against ``master``, printing JSON."""
    return subprocess.Popen(
        [sys.executable, "-m", "segmint", *args, "--json", "--quiet"],
        env={**env, "SEGMINT_SPARK_MASTER": master},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-4000:]
    return json.loads(stdout)


def _run_args(paths: dict, ws: Path) -> list[str]:
    """``segmint run --engine spark`` on the generated files."""
    return [
        "run",
        *("--transactions", str(paths["transactions"])),
        *("--customers", str(paths["customers"])),
        *("--engine", "spark", "--workspace", str(ws), "--fit-sample", "800"),
    ]


def _worker(url: str, work: Path, log: Path, env: dict) -> subprocess.Popen:
    return _start(
        "spark-class",
        [
            "org.apache.spark.deploy.worker.Worker",
            url,
            *("--cores", "1", "--memory", "2g", "--work-dir", str(work)),
            *("--webui-port", str(_free_port())),
        ],
        log,
        env,
    )


def _running_tasks(work: Path) -> bool:
    """Whether an executor under a worker's directory has started a task."""
    return any("Running task" in f.read_text(errors="replace") for f in work.glob("app-*/*/stderr"))


@pytest.mark.slow
def test_the_pipeline_runs_on_a_standalone_cluster_and_survives_a_dead_worker(spark, tmp_path):
    # `spark` only for its Java check: this test's runs are in their own processes and JVMs
    paths = write(generate(1500, seed=3), tmp_path / "data")
    port = _free_port()
    env = _env()
    works = [tmp_path / "worker-0", tmp_path / "worker-1"]
    logs = {name: tmp_path / f"{name}.log" for name in ("master", "worker-0", "worker-1")}
    master = _start(
        "spark-class",
        [
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())),
        ],
        logs["master"],
        env,
    )
    workers = []
    try:
        url = f"spark://127.0.0.1:{port}"
        workers = [_worker(url, w, logs[w.name], env) for w in works]
        _wait_for(
            lambda: logs["master"].read_text(errors="replace").count("Registering worker") == 2,
            "both workers to register with the master",
        )
        ws = tmp_path / "ws"
        running = _segmint(_run_args(paths, ws), url, env)
        # a dead peer: once the first worker's executor is running the run's tasks, that
        # worker and its executor are killed outright; the run carries on with the other
        _wait_for(lambda: _running_tasks(works[0]), "tasks on worker 0", timeout=300)
        os.killpg(workers[0].pid, 9)
        workers[0].wait()
        run = _result(running)
        # and the run is scored on the cluster, its UDF in the surviving worker's executors
        evaluation = _result(_segmint(["predict", "--workspace", str(ws)], url, env))
    finally:
        for process in (*workers, master):
            _stop(process)
    assert any(works[1].glob("app-*/*/stderr")), "no executor ran on the surviving worker"
    [stored] = pipeline.list_runs(Workspace(ws))
    assert stored["run_id"] == run["run_id"]
    assert run["params"]["spark_master"] == url
    assert sum(s["size"] for s in run["segments"]) == run["n_customers"] > 1000
    assert evaluation["validation"]["n_customers"] == run["n_customers"]
    assert evaluation["validation"]["fit_sample"] <= 1000


@pytest.mark.slow
def test_the_pipeline_runs_through_spark_connect(spark, tmp_path):
    paths = write(generate(1000, seed=4), tmp_path / "data")
    port, env, log = _free_port(), _env(), tmp_path / "connect.log"
    server = _start(
        "spark-submit",
        [
            *("--class", "org.apache.spark.sql.connect.service.SparkConnectServer"),
            *("--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}"),
            *("--conf", "spark.ui.enabled=false", "spark-internal"),
        ],
        log,
        env,
    )
    try:
        _wait_for(
            lambda: "Spark Connect server started" in log.read_text(errors="replace"),
            "the Spark Connect server to start",
        )
        run = _result(_segmint(_run_args(paths, tmp_path / "ws"), f"sc://127.0.0.1:{port}", env))
    finally:
        _stop(server)
    assert run["params"]["spark_master"] == f"sc://127.0.0.1:{port}"
    assert sum(s["size"] for s in run["segments"]) == run["n_customers"] > 500
    [stored] = pipeline.list_runs(Workspace(tmp_path / "ws"))
    assert stored["run_id"] == run["run_id"]
