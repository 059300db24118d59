"""The machine behind a server: a real OpenSSH sshd on the server's loopback address, port 22, configured
from the user data as the image's first-boot agent would, plus the provider's registered keys.

sshd is started only from the simulator's long-lived scheduler thread, with PR_SET_PDEATHSIG (it dies with
that thread, i.e. with the simulator) in a process group of its own; stopping kills that group and every
process sshd forked (its per-connection children call setsid, so they are found through /proc)."""
import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import cloudsim.userdata as userdata

log = logging.getLogger("cloudsim.machines")
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_PR_SET_PDEATHSIG = 1
_user_lock = threading.Lock()


def _child_setup():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgid(0, 0)


def _ensure_user(user):
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        raise ValueError(f"unusable user name {user!r}")
    with _user_lock:
        if subprocess.run(["id", "-u", user], capture_output=True).returncode == 0:
            return
        # -p '*': no usable password but not locked (sshd refuses locked accounts without PAM).
        result = subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-p", "*", user], capture_output=True, text=True)
        if result.returncode not in (0, 9):
            raise RuntimeError(f"useradd {user}: {result.stderr.strip()}")


def _write(path, data, mode):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.exists(path):
        os.remove(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def _descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


class Machine:
    """One server's sshd. `registered_keys` are the public keys of the provider SSH keys named at create."""

    def __init__(self, directory, address, user_data, agent, registered_keys, name):
        self.directory = directory
        self.address = address
        self.name = name
        self.process = None
        self.setup, reason = userdata.read(user_data, agent)
        if self.setup is None:
            log.info("%s (%s): %s; sshd uses a generated host key and the registered keys for root",
                     name, address, reason)
        self.user = self.setup.user if self.setup else "root"
        keys = (self.setup.authorized_keys if self.setup else []) + list(registered_keys)
        self.authorized_keys = list(dict.fromkeys(k.strip() for k in keys if k.strip()))
        self._prepared = False

    def _prepare(self):
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        os.chmod(self.directory, 0o755)
        root = os.path.join(self.directory, "root")
        drop_in = []
        if self.setup:
            _ensure_user(self.user)
            for path, data, mode in self.setup.files:
                if not path.startswith("/") or ".." in path.split("/"):
                    continue
                _write(root + path, data, mode)
            conf_dir = root + "/etc/ssh/sshd_config.d"
            if os.path.isdir(conf_dir):
                for conf in sorted(os.listdir(conf_dir)):
                    if conf.endswith(".conf"):
                        with open(os.path.join(conf_dir, conf), encoding="utf-8") as handle:
                            for line in handle:
                                line = line.strip()
                                if line and not line.startswith("#"):
                                    # The files the drop-in names were written under our directory.
                                    drop_in.append(re.sub(r"(?<!\S)/etc/ssh/", root + "/etc/ssh/", line))
        if not any(line.lower().startswith("hostkey ") for line in drop_in):
            key = os.path.join(self.directory, "generated_host_key")
            if not os.path.exists(key):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", key],
                               check=True, capture_output=True)
            drop_in.append(f"HostKey {key}")
        keys_dir = os.path.join(self.directory, "authorized_keys")
        os.makedirs(keys_dir, mode=0o755, exist_ok=True)
        _write(os.path.join(keys_dir, self.user), ("\n".join(self.authorized_keys) + "\n").encode(), 0o644)
        # sshd keeps the first value it reads: the drop-in (as `00-` would on the guest) comes first.
        config = drop_in + [
            f"ListenAddress {self.address}:22",
            f"PidFile {self.directory}/sshd.pid",
            f"AuthorizedKeysFile {keys_dir}/%u",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            f"PermitRootLogin {'prohibit-password' if self.user == 'root' else 'no'}",
            f"AllowUsers {self.user}",
            "UseDNS no",
            "MaxStartups 100:30:200",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
        ]
        _write(os.path.join(self.directory, "sshd_config"), ("\n".join(config) + "\n").encode(), 0o644)
        self._prepared = True

    def start(self, timeout=10.0):
        """Starts sshd and waits until it accepts connections. Call from the scheduler thread only."""
        if self.process is not None and self.process.poll() is None:
            return
        if not self._prepared:
            self._prepare()
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        log_file = open(os.path.join(self.directory, "sshd.log"), "ab")
        try:
            self.process = subprocess.Popen(
                [sshd, "-D", "-e", "-f", os.path.join(self.directory, "sshd_config")],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, close_fds=True, preexec_fn=_child_setup,
            )
        finally:
            log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection((self.address, 22), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        tail = ""
        try:
            with open(os.path.join(self.directory, "sshd.log"), encoding="utf-8", errors="replace") as handle:
                tail = handle.read()[-800:]
        except OSError:
            pass
        self.stop()
        raise RuntimeError(f"sshd on {self.address}:22 did not start: {tail}")

    def stop(self):
        process, self.process = self.process, None
        if process is None:
            return
        everyone = _descendants(process.pid)
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for pid in everyone:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def remove(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
