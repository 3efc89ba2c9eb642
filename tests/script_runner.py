"""The one way the tests run the project's bash scripts: ``run_script`` with ``script_env``, and
``WarmPython``, a stand-in for ``python`` that runs each launched Python file in a fork of one warm
interpreter.

The method scripts launch ``"$PYTHON" train.py ...`` once per run. On a tiny CLIP most of a run's time
is starting Python and importing torch, torchvision and the project, so the script tests set PYTHON to
this client. The server imports train.py's dependencies once; for each request it forks, and the child
takes the caller's stdin/stdout/stderr (passed as file descriptors), argv, environment and working
directory and executes the requested file as ``__main__`` (train.py itself, or tools/report.py). Every
run is still the real script in a fresh process; only the imports are shared. The caller gets the
child's exit code. With ``SCRIPT_COMMANDS_LOG`` in the environment, the arguments of every train.py
run are appended to that file (one JSON list a line), for :func:`recorded_commands`.

    python tests/script_runner.py serve SOCKET     # the server (see `WarmPython`)
    python tests/script_runner.py run SOCKET FILE ARGS...   # what the PYTHON wrapper calls
"""
from __future__ import annotations

import json
import os
import re
import runpy
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Dict, List

REPO_ROOT = Path(__file__).resolve().parents[1]
HEADER_BYTES = 8
COMMANDS_LOG = "SCRIPT_COMMANDS_LOG"


def script_env(output: Path, data: Path, extra_opts: str, python: str = sys.executable, **more: str) -> Dict[str, str]:
    """The environment of a script run: its Python, data and output roots, EXTRA_OPTS, quiet runs.

    The tiny-CLIP options change the numbers, so the runs go to the config folder ``<cfg>_tiny``
    (CONFIG_TAG=tiny) unless ``more`` sets CONFIG_TAG."""
    return dict(os.environ, PYTHON=str(python), DATA=str(data), OUTPUT=str(output), EXTRA_OPTS=extra_opts,
                QUIET="1", OMP_NUM_THREADS="1", **{"CONFIG_TAG": "tiny", **more})


def run_script(script: Path, *args: str, env: Dict[str, str], expect_rc: int = 0) -> subprocess.CompletedProcess:
    """``bash script args...`` from the repository root; its exit status must be ``expect_rc``."""
    done = subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == expect_rc, f"rc={done.returncode}\nSTDOUT:\n{done.stdout[-3000:]}\nSTDERR:\n{done.stderr[-3000:]}"
    return done


def method_script(method: str, script: str) -> Path:
    return REPO_ROOT / "scripts" / method / f"{script}.sh"


def result(run_dir: Path) -> dict:
    return json.loads((run_dir / "result.json").read_text())


def skipped(stdout: str) -> List[str]:
    """The run folders a script skipped as finished."""
    return re.findall(r"^skip: (\S+) is finished", stdout, flags=re.M)


def recorded_commands(log: Path) -> List[List[str]]:
    """The train.py arguments recorded under ``SCRIPT_COMMANDS_LOG`` (see the module docstring)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def option_values(command: List[str]) -> Dict[str, str]:
    """The trailing KEY VALUE options of a recorded train.py command (the last value of a key wins)."""
    first = next(i for i, arg in enumerate(command) if arg.split(".")[0].isupper())
    pairs = command[first:]
    return dict(zip(pairs[::2], pairs[1::2]))


def serve(path: str) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    import sklearn.linear_model  # noqa: F401  (the linear probe's lazy import, warmed too)
    import train  # noqa: F401
    import tools.report  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen()
    os.rename(path + ".tmp", path)  # the socket appears only once it accepts connections
    while True:
        conn, _ = listener.accept()
        header, fds, _, _ = socket.recv_fds(conn, HEADER_BYTES, 3)
        size = int.from_bytes(header, "big")
        payload = b""
        while len(payload) < size:
            payload += conn.recv(size - len(payload))
        request = json.loads(payload)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            conn.close()
            os._exit(_run_child(request, fds))
        for fd in fds:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        conn.sendall(str(os.waitstatus_to_exitcode(status)).encode())
        conn.close()


def _run_child(request: dict, fds) -> int:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = request["argv"]
    if os.environ.get(COMMANDS_LOG) and sys.argv[0].endswith("train.py"):
        with open(os.environ[COMMANDS_LOG], "a") as log:
            log.write(json.dumps(sys.argv[1:]) + "\n")
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as stop:
        if isinstance(stop.code, int) or stop.code is None:
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def run(path: str, argv) -> int:
    payload = json.dumps({"argv": list(argv), "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        socket.send_fds(sock, [len(payload).to_bytes(HEADER_BYTES, "big")], [0, 1, 2])
        sock.sendall(payload)
        reply = b""
        while chunk := sock.recv(64):
            reply += chunk
    return int(reply or b"1")


class WarmPython:
    """Starts the server and writes an executable ``python`` stand-in for it under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.socket_path = str(directory / "warm.sock")
        self.executable = directory / "python"
        self.executable.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" -S "{Path(__file__).resolve()}" run "{self.socket_path}" "$@"\n'
        )
        self.executable.chmod(0o755)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.server = subprocess.Popen([sys.executable, __file__, "serve", self.socket_path], env=env)
        deadline = time.time() + 120
        while not os.path.exists(self.socket_path):
            if self.server.poll() is not None or time.time() > deadline:
                raise RuntimeError("the warm Python server did not start")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.kill()
        self.server.wait()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(run(sys.argv[2], sys.argv[3:]))
