"""Helpers shared by scripts/check-stack-drift and scripts/run-checkov."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "us-east-1"


class ToolError(Exception):
    pass


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if os.environ.get("DEPLOY_TOOLS_TIMINGS"):
        print(f"  {time.monotonic() - started:5.1f} s  {' '.join(cmd[:3])}", file=sys.stderr)
    if done.returncode != 0:
        raise ToolError(f"`{' '.join(cmd)}` failed in {cwd}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def placeholder_zips() -> Path:
    """Function zips for synth and apply: the checks are about resources, not code."""
    directory = Path(tempfile.mkdtemp(prefix="lambda-zips-"))
    for name in ("api", "batch", "ingest"):
        (directory / f"pynomaly-{name}").mkdir()
        with zipfile.ZipFile(directory / f"pynomaly-{name}" / "bootstrap.zip", "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
    return directory


def ensure_cdk_dependencies(cdk_dir: Path = ROOT / "cdk") -> None:
    """`npm ci` from the committed lock file, once."""
    if not (cdk_dir / "node_modules" / "aws-cdk-lib").is_dir():
        run(["npm", "ci", "--no-audit", "--no-fund"], cdk_dir)


def cdk_synth(cdk_dir: Path, out: Path, zips: Path, context: dict[str, str] | None = None) -> Path:
    """`cdk synth` offline into `out`; returns the stack's CloudFormation template."""
    cmd = ["npx", "cdk", "synth", "--quiet", "--no-notices", "--output", str(out),
           "-c", f"account={ACCOUNT}", "-c", f"region={REGION}", "-c", f"lambdaDir={zips}"]
    for key, value in (context or {}).items():
        cmd += ["-c", f"{key}={value}"]
    run(cmd, cdk_dir, env={**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true"})
    return out / "pynomaly.template.json"
