"""Run a real ComfyUI server beside the tests and drive it through its HTTP API.

``ComfyServer`` starts ``main.py`` from a ComfyUI checkout (``COMFYUI_DIR``) on a free loopback
port, with every directory it writes to (output, input, temp, user, database) in a private work
folder, and loads only the custom-node packs it is given. The checkout itself is never modified:
the packs are linked into ``<workdir>/custom_nodes``, which reaches ComfyUI through an
``--extra-model-paths-config`` YAML with a ``custom_nodes:`` entry, and ``--disable-all-custom-nodes``
with ``--whitelist-custom-nodes`` keeps anything already in ``COMFYUI_DIR/custom_nodes`` out.

Only the standard library is used here, so the test process needs none of ComfyUI's packages;
the server runs under its own interpreter (``COMFYUI_PYTHON``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Mapping

STARTUP_TIMEOUT_S = 240.0
"""Seconds to wait for the server to answer; a cold start on 2 CPU cores takes 25-130 s."""


class ComfyServerError(RuntimeError):
    """The server could not be started, or it stopped answering."""


class PromptRejected(RuntimeError):
    """POST /prompt answered 400: the workflow failed ComfyUI's validation.

    ``response`` holds the JSON body (``{"error": {...}, "node_errors": {...}}``).
    """

    def __init__(self, status: int, response: dict):
        self.status = status
        self.response = response
        super().__init__(format_prompt_errors(response))


class WorkflowFailed(RuntimeError):
    """A queued workflow ended with an error or was interrupted.

    ``history`` holds its /history entry; ``message`` the ``execution_error`` or
    ``execution_interrupted`` payload.
    """

    def __init__(self, history: dict, message: dict):
        self.history = history
        self.message = message
        kind = message.get("exception_type", "interrupted")
        text = message.get("exception_message", "").strip()
        super().__init__(
            f"node {message.get('node_id')} ({message.get('node_type')}) failed: {kind}: {text}"
        )


def format_prompt_errors(response: Mapping[str, Any]) -> str:
    """One readable text from a /prompt 400 body.

    ComfyUI's top-level ``error.details`` is empty when the failing node is upstream of the
    output node, so the per-node ``node_errors`` are spelled out as well.
    """
    error = response.get("error") or {}
    lines = [f"{error.get('type')}: {error.get('message')}"]
    for node_id, entry in (response.get("node_errors") or {}).items():
        for reason in entry.get("errors", []):
            lines.append(
                f"  node {node_id} ({entry.get('class_type')}): "
                f"{reason.get('type')}: {reason.get('message')}: {reason.get('details')}"
            )
    if len(lines) == 1 and error.get("details"):
        lines.append(f"  {error['details']}")
    return "\n".join(lines)


def resolve_python(comfyui_dir: Path, environ: Mapping[str, str] = os.environ) -> str:
    """Interpreter for the server: ``COMFYUI_PYTHON``, else ``COMFYUI_DIR/.venv``, else this one."""
    explicit = environ.get("COMFYUI_PYTHON")
    if explicit:
        return explicit
    local_venv = Path(comfyui_dir) / ".venv" / "bin" / "python"
    if local_venv.exists():
        return str(local_venv)
    return sys.executable


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ComfyServer:
    """One ComfyUI server process, started with ``start()`` (or ``with``) and ended with ``stop()``.

    Args:
        comfyui_dir: ComfyUI checkout holding ``main.py``.
        workdir: empty folder for this server's output/, input/, temp/, user/, custom_nodes/,
            its YAML and its log (``server.log``).
        python: interpreter with ComfyUI's requirements; default ``resolve_python(comfyui_dir)``.
        custom_nodes: pack folders (or single ``.py`` files) to load; each is linked under its
            own name, which is also the name ComfyUI reports it by.
        model_paths: extra model folders by ComfyUI folder name, e.g.
            ``{"diffusers": [tmp / "diffusers"]}``; ``folder_paths.get_folder_paths(name)``
            lists them after the checkout's own ``models/<name>``.
        pythonpath: folders put before the server's ``PYTHONPATH`` (e.g. the project root, so a
            pack can import the core package without installing it).
        extra_args: more ``main.py`` arguments.
    """

    def __init__(
        self,
        comfyui_dir: str | os.PathLike,
        workdir: str | os.PathLike,
        *,
        python: str | None = None,
        custom_nodes: Iterable[str | os.PathLike] = (),
        model_paths: Mapping[str, Iterable[str | os.PathLike]] | None = None,
        pythonpath: Iterable[str | os.PathLike] = (),
        extra_args: Iterable[str] = (),
        startup_timeout: float = STARTUP_TIMEOUT_S,
    ):
        self.comfyui_dir = Path(comfyui_dir).resolve()
        self.workdir = Path(workdir).resolve()
        self.python = python or resolve_python(self.comfyui_dir)
        self.custom_nodes = [Path(p).resolve() for p in custom_nodes]
        self.model_paths = {k: [Path(p).resolve() for p in v] for k, v in (model_paths or {}).items()}
        self.pythonpath = [str(Path(p).resolve()) for p in pythonpath]
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen | None = None
        self._log_file = None

    # -- folders -------------------------------------------------------------------------------
    @property
    def output_dir(self) -> Path:
        return self.workdir / "output"

    @property
    def input_dir(self) -> Path:
        return self.workdir / "input"

    @property
    def temp_dir(self) -> Path:
        """ComfyUI's temp folder (PreviewImage files); it is ``<--temp-directory>/temp``."""
        return self.workdir / "temp" / "temp"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "ComfyServer":
        if not (self.comfyui_dir / "main.py").is_file():
            raise ComfyServerError(f"COMFYUI_DIR {self.comfyui_dir} has no main.py")
        for name in ("output", "input", "temp", "user", "custom_nodes"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        pack_names = self._link_custom_nodes()
        config = self._write_extra_paths_config()
        self.port = free_loopback_port()
        command = [
            self.python, "main.py",
            "--cpu", "--listen", "127.0.0.1", "--port", str(self.port), "--disable-auto-launch",
            "--output-directory", str(self.output_dir),
            "--input-directory", str(self.input_dir),
            "--temp-directory", str(self.workdir / "temp"),
            "--user-directory", str(self.workdir / "user"),
            "--database-url", "sqlite:///:memory:",
            "--extra-model-paths-config", str(config),
            "--disable-all-custom-nodes",
            # A name that matches no folder keeps the checkout's own custom_nodes out when no
            # pack is given (an empty whitelist is not accepted by the argument parser).
            "--whitelist-custom-nodes", *(pack_names or ["__no_custom_nodes__"]),
            "--disable-api-nodes",
            *self.extra_args,
        ]
        env = dict(os.environ)
        env.update({"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"})
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(self.pythonpath + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self._log_file = open(self.log_path, "wb")
        started = time.monotonic()
        self._process = subprocess.Popen(
            command, cwd=self.comfyui_dir, env=env, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            self._wait_until_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _link_custom_nodes(self) -> list[str]:
        names = []
        for source in self.custom_nodes:
            if not source.exists():
                raise ComfyServerError(f"custom node pack {source} does not exist")
            link = self.workdir / "custom_nodes" / source.name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(source, target_is_directory=source.is_dir())
            names.append(source.name)
        return names

    def _write_extra_paths_config(self) -> Path:
        # ComfyUI's loader splits each value on newlines, so lists become block scalars.
        entries = {"custom_nodes": [self.workdir / "custom_nodes"], **self.model_paths}
        lines = ["vb_tests:"]
        for folder_name, paths in entries.items():
            lines.append(f"  {folder_name}: |")
            lines.extend(f"    {path}" for path in paths)
        config = self.workdir / "extra_model_paths.yaml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return config

    def _wait_until_ready(self, started: float) -> None:
        deadline = started + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ComfyServerError(
                    f"ComfyUI exited with code {self._process.returncode} while starting; "
                    f"log tail:\n{self.log_tail()}"
                )
            try:
                self._request("GET", "/system_stats", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
                time.sleep(0.25)
        raise ComfyServerError(
            f"ComfyUI did not answer within {self.startup_timeout:.0f} s; log tail:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Ctrl-C the server (its own clean exit), then kill its process group if it lingers."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGINT)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> "ComfyServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- HTTP API ------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None, timeout: float = 30.0):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()

    def get_json(self, path: str) -> Any:
        _, payload = self._request("GET", path)
        return json.loads(payload)

    def object_info(self, node_class: str | None = None) -> dict:
        """``/object_info`` (all nodes) or the entry of one node class (``{}`` if unknown)."""
        if node_class is None:
            return self.get_json("/object_info")
        return self.get_json(f"/object_info/{urllib.parse.quote(node_class)}").get(node_class, {})

    def submit(self, workflow: Mapping[str, Any], client_id: str = "vb-tests") -> tuple[int, dict]:
        """POST an API-format workflow to /prompt; returns (HTTP status, JSON body) as given."""
        try:
            status, payload = self._request("POST", "/prompt", {"prompt": workflow, "client_id": client_id})
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        return status, json.loads(payload)

    def history(self, prompt_id: str) -> dict | None:
        """The /history entry of a prompt, or None while it is queued or running."""
        return self.get_json(f"/history/{prompt_id}").get(prompt_id)

    def wait(self, prompt_id: str, timeout: float = 120.0, poll: float = 0.1) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.history(prompt_id)
            if entry is not None and (entry.get("status") or {}).get("completed") is not None:
                return entry
            if not self.running:
                raise ComfyServerError(f"ComfyUI stopped while running {prompt_id}; log tail:\n{self.log_tail()}")
            time.sleep(poll)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:.0f} s")

    def queue(self, workflow: Mapping[str, Any], timeout: float = 120.0, check: bool = True) -> dict:
        """Queue a workflow, wait for it, and return its /history entry.

        Raises ``PromptRejected`` when validation fails and, with ``check``, ``WorkflowFailed``
        when a node raised or the run was interrupted.
        """
        status, response = self.submit(workflow)
        if status != 200:
            raise PromptRejected(status, response)
        entry = self.wait(response["prompt_id"], timeout=timeout)
        if check and entry["status"].get("status_str") != "success":
            failures = [m[1] for m in entry["status"].get("messages", [])
                        if m[0] in ("execution_error", "execution_interrupted")]
            raise WorkflowFailed(entry, failures[-1] if failures else {})
        return entry

    def interrupt(self) -> None:
        self._request("POST", "/interrupt", {})

    def view(self, filename: str, subfolder: str = "", folder_type: str = "output") -> bytes:
        """A file's bytes as ``/view`` serves it (what a UI or client downloads)."""
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": folder_type})
        _, payload = self._request("GET", f"/view?{query}")
        return payload

    # -- log -----------------------------------------------------------------------------------
    def log_text(self) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def custom_node_import_failures(self) -> list[str]:
        """Log lines where ComfyUI reports a custom-node pack that did not load.

        ComfyUI keeps running when a pack fails to import, so tests check this (or
        ``object_info``) rather than the exit status.
        """
        pack_dir = str(self.workdir / "custom_nodes")
        return [line for line in self.log_text().splitlines()
                if pack_dir in line and ("IMPORT FAILED" in line or "Cannot import" in line)]
