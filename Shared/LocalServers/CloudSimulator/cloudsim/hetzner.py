"""Hetzner Cloud API v1 routes (the server driver's subset). Handlers get a Request and return
(status, body or None, extra headers); they run under the state lock."""
import base64
import hashlib
import re
import time

from cloudsim import catalog, labels
from cloudsim.state import ApiError, now_iso

PROVIDER = "hetzner"
USER_DATA_LIMIT = 32 * 1024
NAME = re.compile(r"^(?=.{1,63}$)[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$")
COMMANDS = {"power_on": "start_server", "power_off": "stop_server", "shutdown": "shutdown_server",
            "reboot": "reboot_server", "power_cycle": "reset_server", "create": "create_server"}
PATH_ACTIONS = {"poweron": "power_on", "poweroff": "power_off", "shutdown": "shutdown", "reboot": "reboot",
                "reset": "power_cycle"}


def error_body(code, message):
    return {"error": {"code": code, "message": message, "details": {}}}


def unauthorized():
    return ApiError(401, "unauthorized", "unable to authenticate")


def rate_limit_headers(fault=None):
    reset = int(time.time()) + (fault["retry_after"] if fault and fault["retry_after"] else 1)
    headers = {"RateLimit-Limit": "3600", "RateLimit-Remaining": "0" if fault and fault["status"] == 429 else "3599",
               "RateLimit-Reset": str(reset)}
    if fault and fault["retry_after"] is not None:
        headers["Retry-After"] = str(fault["retry_after"])
    return headers


def fault_error(fault):
    codes = {429: ("rate_limit_exceeded", "limit of 3600 requests per hour reached"),
             500: ("server_error", "internal server error"), 503: ("unavailable", "service unavailable")}
    code, message = codes.get(fault["status"], ("server_error", "simulated fault"))
    return ApiError(fault["status"], code, message)


def not_found(kind="resource"):
    return ApiError(404, "not_found", f"{kind} not found")


def invalid(message, field=None):
    return ApiError(400, "invalid_input", message)


def _int(value, kind):
    try:
        return int(value)
    except ValueError:
        raise invalid(f"invalid {kind} id")


# ---- serializers

def _location(location):
    return {k: location[k] for k in ("id", "name", "description", "country", "city", "latitude", "longitude",
                                     "network_zone")}


def _server_type(server_type):
    price = server_type["price"]
    return {"id": server_type["id"], "name": server_type["name"], "description": server_type["description"],
            "cores": server_type["cores"], "memory": server_type["memory"], "disk": server_type["disk"],
            "cpu_type": server_type["cpu_type"], "architecture": server_type["architecture"],
            "storage_type": "local", "deprecated": False, "deprecation": None, "category": "shared",
            "prices": [{"location": l["name"], "included_traffic": 21990232555520,
                        "price_hourly": {"net": "0.0072", "gross": "0.0086"},
                        "price_monthly": {"net": price, "gross": price},
                        "price_per_tb_traffic": {"net": "1.0000", "gross": "1.1900"}} for l in catalog.HETZNER_LOCATIONS],
            "locations": [{"id": l["id"], "name": l["name"], "deprecation": None} for l in catalog.HETZNER_LOCATIONS]}


def _datacenter(location):
    ids = [t["id"] for t in catalog.HETZNER_SERVER_TYPES]
    return {"id": location["dc_id"], "name": location["datacenter"], "description": f"{location['city']} 1 virtual DC",
            "location": _location(location),
            "server_types": {"available": ids, "available_for_migration": ids, "supported": ids}}


def _image(image):
    return {"id": image["id"], "name": image["name"], "description": image["description"], "type": image["type"],
            "status": "available", "os_flavor": image["os_flavor"], "os_version": image["os_version"],
            "architecture": image["architecture"], "labels": dict(image["labels"]), "created": "2024-06-01T00:00:00+00:00",
            "created_from": None, "bound_to": None, "deleted": None, "deprecated": None, "disk_size": 5,
            "image_size": None if image["type"] == "system" else 1.2, "rapid_deploy": image["type"] == "system",
            "protection": {"delete": False}}


def _status(server):
    if server["status"] == "booting":
        halfway = server["_created_mono"] + server["_action_seconds"] / 2
        return "starting" if time.monotonic() >= halfway else "initializing"
    return server["_pending"] or server["status"]


def _server(server):
    location = server["_location"]
    firewalls = [{"id": f, "status": "applied"} for f in server.get("_firewalls", [])]
    return {
        "id": server["id"], "name": server["name"], "status": _status(server), "created": server["created"],
        # The public address is a loopback address of this machine; no IPv6, no private networks (deviations).
        "public_net": {"ipv4": {"id": server["id"], "ip": server["address"], "blocked": False,
                                "dns_ptr": f"static.{server['address']}.clients.your-server.de"},
                       "ipv6": None, "floating_ips": [], "firewalls": firewalls},
        "private_net": [], "server_type": _server_type(server["_type"]), "datacenter": _datacenter(location),
        "location": _location(location), "image": _image(server["_image"]), "iso": None, "rescue_enabled": False,
        "locked": False, "backup_window": None, "outgoing_traffic": 0, "ingoing_traffic": 0,
        "included_traffic": 21990232555520, "protection": {"delete": False, "rebuild": False},
        "labels": dict(server["labels"]), "volumes": [], "load_balancers": [], "primary_disk_size": server["_type"]["disk"],
        "placement_group": None,
    }


def _action(action):
    status = {"in-progress": "running", "completed": "success", "errored": "error"}[action["status"]]
    return {"id": action["id"], "command": action.get("command") or COMMANDS.get(action["type"], action["type"]),
            "status": status, "progress": 100 if status == "success" else 0, "started": action["started_at"],
            "finished": action["completed_at"],
            "resources": [{"id": action["resource_id"], "type": action.get("resource_type", "server")}],
            "error": {"code": "action_failed", "message": action["_error"]} if action["_error"] else None}


def _key(key):
    return {"id": key["id"], "name": key["name"], "fingerprint": key["fingerprint"], "public_key": key["public_key"],
            "labels": dict(key["labels"]), "created": key["created"]}


def _firewall(account, firewall):
    applied = []
    for target in firewall["apply_to"]:
        if target["type"] == "server":
            applied.append({"type": "server", "server": {"id": target["server"]["id"]}})
        else:
            test = labels.parse(target["label_selector"]["selector"])
            matched = [{"type": "server", "server": {"id": s["id"]}} for s in account.servers.values() if test(s["labels"])]
            applied.append({"type": "label_selector", "label_selector": dict(target["label_selector"]),
                            "applied_to_resources": matched})
    return {"id": firewall["id"], "name": firewall["name"], "labels": dict(firewall["labels"]),
            "created": firewall["created"], "rules": firewall["rules"], "applied_to": applied}


def _list(req, key, items):
    page_items, page, per_page, last = req.state.page(items, req.query_one, 25)
    return 200, {key: page_items, "meta": {"pagination": {
        "page": page, "per_page": per_page, "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < last else None, "last_page": last, "total_entries": len(items)}}}, {}


def _filter(req, items, name_of=lambda x: x["name"], labels_of=lambda x: x["labels"]):
    name = req.query_one.get("name")
    selector = req.query_one.get("label_selector")
    if name is not None:
        items = [i for i in items if name_of(i) == name]
    if selector is not None:
        try:
            test = labels.parse(selector)
        except ValueError as error:
            raise invalid(str(error))
        items = [i for i in items if test(labels_of(i))]
    return items


def _check_labels(value):
    for key, label in (value or {}).items():
        if not re.fullmatch(r"([a-z0-9A-Z.-]{1,253}/)?[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?", key) or \
                not re.fullmatch(r"([a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?)?", str(label)):
            raise invalid(f"invalid label {key}={label}")
    return dict(value or {})


# ---- handlers

def _find_server(req, server_id):
    server = req.account.servers.get(_int(server_id, "server"))
    if server is None:
        raise not_found("server")
    return server


def list_servers(req):
    servers = [s for s in req.account.servers.values() if req.state.listed(s)]
    servers = _filter(req, sorted(servers, key=lambda s: s["id"]))
    return _list(req, "servers", [_server(s) for s in servers])


def create_server(req):
    body, account = req.body, req.account
    if not NAME.match(body["name"]):
        raise invalid("invalid server name (must be a valid hostname)")
    if any(s["name"] == body["name"] for s in account.servers.values()):
        raise ApiError(409, "uniqueness_error", "server name is already used")
    server_type = next((t for t in catalog.HETZNER_SERVER_TYPES if body["server_type"] in (t["name"], str(t["id"]))), None)
    if server_type is None:
        raise invalid("server_type not found")
    location_name = body.get("location") or (body.get("datacenter") or "").split("-")[0] or "fsn1"
    location = next((l for l in catalog.HETZNER_LOCATIONS if location_name in (l["name"], str(l["id"]))), None)
    if location is None:
        raise invalid("location not found")
    image = next((i for i in catalog.HETZNER_IMAGES if str(body["image"]) in (i["name"], str(i["id"]))
                  and i["architecture"] == server_type["architecture"]), None)
    if image is None:
        raise invalid("image not found")
    user_data = body.get("user_data")
    if user_data is not None and len(user_data.encode()) > USER_DATA_LIMIT:
        raise invalid("user_data must not exceed 32 KiB")
    keys = []
    for identifier in body.get("ssh_keys") or []:
        key = next((k for k in account.ssh_keys.values() if str(identifier) in (k["name"], str(k["id"]))), None)
        if key is None:
            raise invalid(f"ssh_key {identifier} not found")
        keys.append(key)
    firewall_ids = [f["firewall"] for f in body.get("firewalls") or []]
    for firewall_id in firewall_ids:
        if firewall_id not in account.firewalls:
            raise invalid(f"firewall {firewall_id} not found")
    if body.get("start_after_create") is False:
        raise invalid("start_after_create=false is not supported by the simulator")
    server_labels = _check_labels(body.get("labels"))
    if len(account.servers) >= account.server_limit:
        raise ApiError(403, "resource_limit_exceeded", "server limit exceeded")
    server = {"id": req.state.next_id(), "name": body["name"], "created": now_iso().replace("Z", "+00:00"),
              "labels": server_labels, "tags": [], "_type": server_type, "_location": location, "_image": image,
              "_action_seconds": req.state.options.action_seconds, "_firewalls": firewall_ids}
    for firewall_id in firewall_ids:
        account.firewalls[firewall_id]["apply_to"].append({"type": "server", "server": {"id": server["id"]}})
    action = req.fleet.create(account, server, user_data, image["agent"], [k["public_key"] for k in keys])
    return 201, {"server": _server(server), "action": _action(action), "next_actions": [], "root_password": None}, {}


def get_server(req, server_id):
    return 200, {"server": _server(_find_server(req, server_id))}, {}


def delete_server(req, server_id):
    server = _find_server(req, server_id)
    action = req.fleet.new_action(req.account, "delete", server["id"], {"command": "delete_server"})
    req.fleet.delete(req.account, server)
    for firewall in req.account.firewalls.values():
        firewall["apply_to"] = [t for t in firewall["apply_to"]
                                if not (t["type"] == "server" and t["server"]["id"] == server["id"])]
    req.fleet.scheduler.at(time.monotonic() + req.state.options.action_seconds, None,
                           lambda _: action.update(status="completed", completed_at=now_iso()))
    return 200, {"action": _action(action)}, {}


def server_action(req, server_id, name):
    server = _find_server(req, server_id)
    if server["status"] == "booting" or server["_pending"]:
        raise ApiError(423, "locked", "server is locked by another action")
    kind = PATH_ACTIONS[name]
    action = req.fleet.power(req.account, server, kind)
    action["command"] = COMMANDS[kind]
    return 201, {"action": _action(action)}, {}


def list_server_actions(req, server_id):
    server = _find_server(req, server_id)
    return _list(req, "actions", [_action(a) for a in req.account.actions.values() if a["resource_id"] == server["id"]])


def get_server_action(req, server_id, action_id):
    action = req.account.actions.get(_int(action_id, "action"))
    if action is None or action["resource_id"] != _int(server_id, "server"):
        raise not_found("action")
    return 200, {"action": _action(action)}, {}


def get_action(req, action_id):
    action = req.account.actions.get(_int(action_id, "action"))
    if action is None:
        raise not_found("action")
    return 200, {"action": _action(action)}, {}


def list_actions(req):
    ids = {int(i) for i in req.query_all.get("id", [])}
    return _list(req, "actions", [_action(a) for a in req.account.actions.values() if not ids or a["id"] in ids])


def list_keys(req):
    keys = _filter(req, list(req.account.ssh_keys.values()))
    fingerprint = req.query_one.get("fingerprint")
    if fingerprint:
        keys = [k for k in keys if k["fingerprint"] == fingerprint]
    return _list(req, "ssh_keys", [_key(k) for k in keys])


def create_key(req):
    body = req.body
    public_key = body["public_key"].strip()
    try:
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, ValueError):
        raise invalid("invalid public key")
    digest = hashlib.md5(blob).hexdigest()
    fingerprint = ":".join(digest[i:i + 2] for i in range(0, 32, 2))
    for key in req.account.ssh_keys.values():
        if key["name"] == body["name"]:
            raise ApiError(409, "uniqueness_error", "SSH key with the same name already exists")
        if key["fingerprint"] == fingerprint:
            raise ApiError(409, "uniqueness_error", "SSH key with the same fingerprint already exists")
    key = {"id": req.state.next_id(), "name": body["name"], "public_key": public_key, "fingerprint": fingerprint,
           "labels": _check_labels(body.get("labels")), "created": now_iso().replace("Z", "+00:00")}
    req.account.ssh_keys[key["id"]] = key
    return 201, {"ssh_key": _key(key)}, {}


def _find_key(req, key_id):
    key = req.account.ssh_keys.get(_int(key_id, "ssh_key"))
    if key is None:
        raise not_found("ssh_key")
    return key


def get_key(req, key_id):
    return 200, {"ssh_key": _key(_find_key(req, key_id))}, {}


def delete_key(req, key_id):
    del req.account.ssh_keys[_find_key(req, key_id)["id"]]
    return 204, None, {}


def _find_firewall(req, firewall_id):
    firewall = req.account.firewalls.get(_int(firewall_id, "firewall"))
    if firewall is None:
        raise not_found("firewall")
    return firewall


def _targets(req, targets):
    for target in targets:
        if target["type"] == "server":
            _find_server(req, str((target.get("server") or {}).get("id", "x")))
        else:
            try:
                labels.parse((target.get("label_selector") or {}).get("selector", ""))
            except ValueError as error:
                raise invalid(str(error))
    return [{"type": t["type"], "server": {"id": t["server"]["id"]}} if t["type"] == "server"
            else {"type": "label_selector", "label_selector": {"selector": t["label_selector"]["selector"]}}
            for t in targets]


def _firewall_action(req, firewall, command):
    action = req.fleet.new_action(req.account, command, firewall["id"], {"command": command, "resource_type": "firewall"})
    action.update(status="completed", completed_at=action["started_at"])
    return _action(action)


def list_firewalls(req):
    firewalls = _filter(req, list(req.account.firewalls.values()))
    return _list(req, "firewalls", [_firewall(req.account, f) for f in firewalls])


def create_firewall(req):
    body = req.body
    if any(f["name"] == body["name"] for f in req.account.firewalls.values()):
        raise ApiError(409, "uniqueness_error", "firewall name is already used")
    firewall = {"id": req.state.next_id(), "name": body["name"], "labels": _check_labels(body.get("labels")),
                "created": now_iso().replace("Z", "+00:00"), "rules": body.get("rules") or [],
                "apply_to": _targets(req, body.get("apply_to") or [])}
    for rule in firewall["rules"]:
        rule.setdefault("description", None)
        rule.setdefault("port", None)
        rule.setdefault("source_ips", [])
        rule.setdefault("destination_ips", [])
    req.account.firewalls[firewall["id"]] = firewall
    actions = [_firewall_action(req, firewall, "set_firewall_rules")]
    if firewall["apply_to"]:
        actions.append(_firewall_action(req, firewall, "apply_firewall"))
    return 201, {"firewall": _firewall(req.account, firewall), "actions": actions}, {}


def get_firewall(req, firewall_id):
    return 200, {"firewall": _firewall(req.account, _find_firewall(req, firewall_id))}, {}


def delete_firewall(req, firewall_id):
    firewall = _find_firewall(req, firewall_id)
    if firewall["apply_to"]:
        raise ApiError(422, "resource_in_use", "firewall is still applied to resources")
    del req.account.firewalls[firewall["id"]]
    return 204, None, {}


def apply_firewall(req, firewall_id):
    firewall = _find_firewall(req, firewall_id)
    targets = _targets(req, req.body["apply_to"])
    for target in targets:
        if target in firewall["apply_to"]:
            raise ApiError(422, "firewall_already_applied", "firewall is already applied to this resource")
    firewall["apply_to"].extend(targets)
    return 201, {"actions": [_firewall_action(req, firewall, "apply_firewall")]}, {}


def remove_firewall(req, firewall_id):
    firewall = _find_firewall(req, firewall_id)
    targets = _targets(req, req.body["remove_from"])
    for target in targets:
        if target not in firewall["apply_to"]:
            raise ApiError(422, "firewall_already_removed", "firewall is not applied to this resource")
    firewall["apply_to"] = [t for t in firewall["apply_to"] if t not in targets]
    return 201, {"actions": [_firewall_action(req, firewall, "remove_firewall")]}, {}


def list_images(req):
    images = catalog.HETZNER_IMAGES
    kinds = req.query_all.get("type")
    if kinds:
        images = [i for i in images if i["type"] in kinds]
    architecture = req.query_one.get("architecture")
    if architecture:
        images = [i for i in images if i["architecture"] == architecture]
    images = _filter(req, images)
    return _list(req, "images", [_image(i) for i in images])


def list_server_types(req):
    types = _filter(req, catalog.HETZNER_SERVER_TYPES, labels_of=lambda _: {})
    return _list(req, "server_types", [_server_type(t) for t in types])


def list_locations(req):
    locations = _filter(req, catalog.HETZNER_LOCATIONS, labels_of=lambda _: {})
    return _list(req, "locations", [_location(l) for l in locations])


def list_datacenters(req):
    centers = _filter(req, catalog.HETZNER_LOCATIONS, name_of=lambda l: l["datacenter"], labels_of=lambda _: {})
    status, body, headers = _list(req, "datacenters", [_datacenter(l) for l in centers])
    body["recommendation"] = catalog.HETZNER_LOCATIONS[0]["dc_id"]
    return status, body, headers


ROUTES = [
    ("GET", r"/servers", list_servers),
    ("POST", r"/servers", create_server),
    ("GET", r"/servers/([^/]+)", get_server),
    ("DELETE", r"/servers/([^/]+)", delete_server),
    ("GET", r"/servers/([^/]+)/actions", list_server_actions),
    ("POST", r"/servers/([^/]+)/actions/(poweron|poweroff|shutdown|reboot|reset)", server_action),
    ("GET", r"/servers/([^/]+)/actions/([^/]+)", get_server_action),
    ("GET", r"/actions", list_actions),
    ("GET", r"/actions/([^/]+)", get_action),
    ("GET", r"/ssh_keys", list_keys),
    ("POST", r"/ssh_keys", create_key),
    ("GET", r"/ssh_keys/([^/]+)", get_key),
    ("DELETE", r"/ssh_keys/([^/]+)", delete_key),
    ("GET", r"/firewalls", list_firewalls),
    ("POST", r"/firewalls", create_firewall),
    ("GET", r"/firewalls/([^/]+)", get_firewall),
    ("DELETE", r"/firewalls/([^/]+)", delete_firewall),
    ("POST", r"/firewalls/([^/]+)/actions/apply_to_resources", apply_firewall),
    ("POST", r"/firewalls/([^/]+)/actions/remove_from_resources", remove_firewall),
    ("GET", r"/images", list_images),
    ("GET", r"/server_types", list_server_types),
    ("GET", r"/locations", list_locations),
    ("GET", r"/datacenters", list_datacenters),
]


def inventory(account):
    return {
        "servers": [{"id": s["id"], "name": s["name"], "status": _status(s), "tags": [], "labels": dict(s["labels"]),
                     "ipv4": s["address"]} for s in account.servers.values()],
        "ssh_keys": [{"id": k["id"], "name": k["name"], "fingerprint": k["fingerprint"]} for k in account.ssh_keys.values()],
        "firewalls": [{"id": str(f["id"]), "name": f["name"]} for f in account.firewalls.values()],
        "tags": [],
    }
