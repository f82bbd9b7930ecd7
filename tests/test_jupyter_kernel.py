"""The tests' python3 kernel lives in the environment: setting up never writes a user kernelspec."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from jupyter_kernel import env_kernelspec_dir

SCRIPT = REPO / "tests" / "setup_and_test.sh"


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment with HOME moved to a temp folder and no Jupyter path overrides."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("JUPYTER_") and k not in ("XDG_DATA_HOME", "IPYTHONDIR")}
    return {**env, "HOME": str(home), **extra}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_missing_kernelspec_is_installed_into_the_environment_not_the_home(tmp_path):
    home, prefix = tmp_path / "home", tmp_path / "env"
    home.mkdir()
    subprocess.run([sys.executable, str(REPO / "tests" / "jupyter_kernel.py"), str(prefix)],
                   env=_clean_env(home), check=True, capture_output=True, text=True)
    spec = json.loads((env_kernelspec_dir(prefix) / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and "ipykernel_launcher" in spec["argv"]
    assert _files(home) == []


def test_an_existing_environment_kernelspec_is_left_alone(tmp_path):
    home, prefix = tmp_path / "home", tmp_path / "env"
    home.mkdir()
    spec = env_kernelspec_dir(prefix) / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text('{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]}')
    before = spec.read_bytes()
    subprocess.run([sys.executable, str(REPO / "tests" / "jupyter_kernel.py"), str(prefix)],
                   env=_clean_env(home), check=True, capture_output=True)
    assert spec.read_bytes() == before
    assert _files(home) == []


def test_setup_script_writes_nothing_under_home_and_prefers_the_environment_kernel(tmp_path):
    """Run tests/setup_and_test.sh itself with HOME in a temp folder; `python -m pip` and `python -m
    pytest` are stubbed out (they record their calls), everything else runs for real."""
    home, bin_dir, log = tmp_path / "home", tmp_path / "bin", tmp_path / "calls.log"
    home.mkdir()
    bin_dir.mkdir()
    stub = bin_dir / "python"
    stub.write_text(f"""#!/bin/sh
case "$1 $2" in
  "-m pip") echo "pip $*" >> "{log}"; exit 0 ;;
  "-m pytest") echo "pytest JUPYTER_PREFER_ENV_PATH=$JUPYTER_PREFER_ENV_PATH" >> "{log}"; exit 0 ;;
esac
exec "{sys.executable}" "$@"
""")
    stub.chmod(0o755)
    for tool in ("apt-get", "chromium"):  # never install a browser from a test
        (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / tool).chmod(0o755)
    env = _clean_env(home, PATH=os.pathsep.join([str(bin_dir), os.environ["PATH"]]))
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _files(home) == []
    calls = log.read_text().splitlines()
    assert calls[-1] == "pytest JUPYTER_PREFER_ENV_PATH=1", calls
