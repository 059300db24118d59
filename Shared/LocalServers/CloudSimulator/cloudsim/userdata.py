"""Reads user data the way the guest's first-boot agent would: cloud-init (`#cloud-config` + YAML, which
includes JSON) on cloud-init images, Ignition JSON (spec 3.x, files as data: URLs) on CoreOS-family images.

The result says which login user to create, its authorized keys and which files to write; anything the
simulator cannot read gives None and a reason (the server then boots like an image without either agent)."""
import base64
import json
import urllib.parse


class GuestSetup:
    def __init__(self, user, authorized_keys, files):
        self.user = user
        self.authorized_keys = authorized_keys
        self.files = files          # [(path, bytes, mode)]


def _cloud_config(text):
    body = text.split("\n", 1)[1] if "\n" in text else ""
    try:
        document = json.loads(body)
    except ValueError:
        try:
            import yaml  # optional: real cloud-config is YAML
        except ImportError:
            return None, "cloud-config is not JSON and PyYAML is not installed"
        try:
            document = yaml.safe_load(body)
        except yaml.YAMLError as error:
            return None, f"cloud-config is not YAML: {error}"
    if not isinstance(document, dict):
        return None, "cloud-config is not a mapping"
    users = [u for u in document.get("users") or [] if isinstance(u, dict) and u.get("name")]
    if not users:
        return None, "cloud-config names no user"
    files = []
    for entry in document.get("write_files") or []:
        if not isinstance(entry, dict) or "path" not in entry:
            continue
        content = entry.get("content", "")
        if entry.get("encoding") in ("b64", "base64"):
            data = base64.b64decode(content)
        else:
            data = content.encode()
        files.append((entry["path"], data, int(str(entry.get("permissions", "0644")), 8)))
    keys = [k for k in users[0].get("ssh_authorized_keys") or [] if isinstance(k, str)]
    return GuestSetup(users[0]["name"], keys, files), None


def _data_url(source):
    if not source.startswith("data:"):
        raise ValueError(f"only data: URLs are supported, not {source[:30]}")
    header, _, payload = source[5:].partition(",")
    if header.endswith(";base64"):
        return base64.b64decode(payload)
    return urllib.parse.unquote_to_bytes(payload)


def _ignition(document):
    version = str(document.get("ignition", {}).get("version", ""))
    if not version.startswith("3."):
        return None, f"Ignition version {version!r} is not 3.x"
    users = [u for u in document.get("passwd", {}).get("users") or [] if isinstance(u, dict) and u.get("name")]
    if not users:
        return None, "Ignition config names no user"
    files = []
    try:
        for entry in document.get("storage", {}).get("files") or []:
            source = (entry.get("contents") or {}).get("source")
            data = _data_url(source) if source else b""
            files.append((entry["path"], data, int(entry.get("mode", 0o644))))
    except (ValueError, KeyError, TypeError) as error:
        return None, f"Ignition file unreadable: {error}"
    keys = [k for k in users[0].get("sshAuthorizedKeys") or [] if isinstance(k, str)]
    return GuestSetup(users[0]["name"], keys, files), None


def read(user_data, agent):
    """`agent` is "cloud-init" or "ignition" (what the image runs). Returns (GuestSetup or None, reason)."""
    if not user_data:
        return None, "no user data"
    text = user_data.strip()
    if agent == "cloud-init":
        if not text.startswith("#cloud-config"):
            return None, "user data is not #cloud-config (cloud-init would ignore it)"
        return _cloud_config(text)
    try:
        document = json.loads(text)
    except ValueError:
        return None, "user data is not an Ignition JSON config (Ignition would refuse to boot it)"
    if not isinstance(document, dict):
        return None, "Ignition config is not an object"
    return _ignition(document)
