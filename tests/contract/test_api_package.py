"""The API function's package (what `sam build` makes with the Makefile target) is app.py plus Chalice's
runtime module only, and it imports and routes with nothing else of Chalice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_build_api_function_packs_only_app_and_chalice_runtime(tmp_path: Path) -> None:
    out = tmp_path / "ApiFunction"
    subprocess.run(
        ["make", "-s", "build-ApiFunction", f"ARTIFACTS_DIR={out}", f"PYTHON={sys.executable}"],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    files = sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    assert files == ["app.py", "chalice/__init__.py", "chalice/app.py"]
    probe = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        "import app, chalice;"
        "assert chalice.__file__.startswith(sys.argv[1]), chalice.__file__;"
        "print(json.dumps(sorted(app.app.routes)))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "ecrm")}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "/orders" in json.loads(result.stdout)


def test_layer_build_packs_ecrm_and_powertools_under_python(tmp_path: Path) -> None:
    out = tmp_path / "EcrmLayer"
    subprocess.run(["make", "-s", "build-EcrmLayer", f"ARTIFACTS_DIR={out}", f"PYTHON={sys.executable}"],
                   cwd=ROOT / "layers" / "ecrm", check=True, timeout=300)
    top = {p.name for p in (out / "python").iterdir()}
    assert {"ecrm", "aws_lambda_powertools"} <= top
    assert not any(name.startswith("boto") for name in top)  # the runtime provides boto3
    assert (out / "python" / "ecrm" / "orders" / "service.py").is_file()
