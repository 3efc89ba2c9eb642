"""Run the real bash scripts with every ``train.py`` they launch executed inside the test process.

Each ``train.py`` process would spend most of its time importing torch. Here ``$PYTHON`` is a small
client that hands its arguments over a UNIX socket to a server thread of the test process, which runs
``train.main`` on them and answers with the exit status; anything else (tools/report.py) runs as a
normal process. The scripts, their skip rules and output folders, and every training and evaluation
are the real ones; the commands are recorded for assertions.
"""
import json
import os
import socketserver
import sys
import threading
import traceback
from pathlib import Path
from typing import Dict, List

import train

CLIENT = """#!{python}
import json, os, socket, sys
args = sys.argv[1:]
if not args or not args[0].endswith("train.py"):
    os.execv({python!r}, [{python!r}, *args])
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect({socket_path!r})
client.sendall(json.dumps(args[1:]).encode())
client.shutdown(socket.SHUT_WR)
reply = json.loads(b"".join(iter(lambda: client.recv(65536), b"")).decode())
sys.stderr.write(reply["error"])
sys.exit(reply["rc"])
"""


class TrainServer:
    """A socket server running ``train.main`` for the client script at ``self.python``."""

    def __init__(self, folder: Path) -> None:
        self.commands: List[List[str]] = []
        socket_path = str(folder / "train.sock")
        self.python = folder / "python"
        self.python.write_text(CLIENT.format(python=sys.executable, socket_path=socket_path))
        self.python.chmod(0o755)
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                args = json.loads(self.rfile.read().decode())
                server.commands.append(args)
                self.wfile.write(json.dumps(server.run(args)).encode())

        self._server = socketserver.UnixStreamServer(socket_path, Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def run(args: List[str]) -> Dict:
        try:
            train.main(train.build_parser().parse_args(args))
        except SystemExit as err:
            return {"rc": err.code if isinstance(err.code, int) else 1, "error": ""}
        except Exception:  # the script must see the failure as a failed process, with its traceback
            return {"rc": 1, "error": traceback.format_exc()}
        return {"rc": 0, "error": ""}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def script_env(server: TrainServer, output: Path, data: Path, extra_opts: str, **more: str) -> Dict[str, str]:
    return dict(os.environ, PYTHON=str(server.python), DATA=str(data), OUTPUT=str(output), EXTRA_OPTS=extra_opts,
                QUIET="1", CONFIG_TAG="", **more)


def option_values(command: List[str]) -> Dict[str, str]:
    """The trailing KEY VALUE options of a recorded train.py command (the last value of a key wins)."""
    first = next(i for i, arg in enumerate(command) if arg.split(".")[0].isupper())
    pairs = command[first:]
    return dict(zip(pairs[::2], pairs[1::2]))
