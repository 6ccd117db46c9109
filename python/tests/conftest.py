"""Shared fixtures: the sample datasets, the `pynomaly` binary, and a running server."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, Tuple

import numpy as np
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"


def read_sample(name: str) -> Tuple[np.ndarray, np.ndarray, list]:
    """A vendored sample (data/samples/NAME.csv): features, labels, feature names."""
    with open(SAMPLES / f"{name}.csv") as f:
        header = f.readline().strip().split(",")
    table = np.loadtxt(SAMPLES / f"{name}.csv", delimiter=",", skiprows=1)
    label = header.index("label")
    features = [c for c in header if c != "label"]
    return np.delete(table, label, axis=1), table[:, label].astype(int), features


@pytest.fixture(scope="session")
def pynomaly_bin() -> Path:
    """The CLI that the package must agree with: $PYNOMALY_BIN (scripts/test sets it)."""
    path = os.environ.get("PYNOMALY_BIN")
    if not path:
        raise RuntimeError(
            "set PYNOMALY_BIN to the pynomaly binary (cargo build --release -p pynomaly); "
            "the tests compare the package with it"
        )
    if not Path(path).is_file():
        raise RuntimeError(f"PYNOMALY_BIN={path} is not a file")
    return Path(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(pynomaly_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[str, str]]:
    """`pynomaly serve` on a free port with local storage and an API key: (url, key)."""
    data_dir = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PYNOMALY_DATA_DIR": str(data_dir), "PYNOMALY_STORE": "local"}
    env.pop("PYNOMALY_QUEUE", None)
    key = subprocess.run(
        [str(pynomaly_bin), "keys", "create", "--tenant", "pytest"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()
    port = _free_port()
    log = open(data_dir / "serve.log", "w")
    process = subprocess.Popen(
        [str(pynomaly_bin), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{url}/ready", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"pynomaly serve did not start: {(data_dir / 'serve.log').read_text()}")
        time.sleep(0.1)
    yield url, key
    process.terminate()
    process.wait(timeout=30)
