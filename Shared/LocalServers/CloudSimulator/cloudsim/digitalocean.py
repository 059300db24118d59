"""DigitalOcean API v2 routes (the droplet driver's subset). Handlers get a Request and return
(status, body or None, extra headers); they run under the state lock."""
import base64
import hashlib
import re
import time
import urllib.parse
import uuid

from cloudsim import catalog
from cloudsim.state import ApiError, now_iso

PROVIDER = "digitalocean"
USER_DATA_LIMIT = 64 * 1024
NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$")
TAG = re.compile(r"^[a-zA-Z0-9_\-:]{1,255}$")


def error_body(code, message):
    return {"id": code, "message": message, "request_id": str(uuid.uuid4())}


def unauthorized():
    return ApiError(401, "Unauthorized", "Unable to authenticate you")


def rate_limit_headers(fault=None):
    reset = int(time.time()) + (fault["retry_after"] if fault and fault["retry_after"] else 60)
    headers = {"ratelimit-limit": "5000", "ratelimit-remaining": "0" if fault and fault["status"] == 429 else "4999",
               "ratelimit-reset": str(reset)}
    if fault and fault["retry_after"] is not None:
        headers["Retry-After"] = str(fault["retry_after"])
    return headers


def fault_error(fault):
    codes = {429: ("too_many_requests", "API Rate limit exceeded."), 500: ("server_error", "Server Error"),
             503: ("service_unavailable", "Service Unavailable")}
    code, message = codes.get(fault["status"], ("server_error", "Simulated fault"))
    return ApiError(fault["status"], code, message)


def fingerprint(public_key):
    try:
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, ValueError):
        raise ApiError(422, "unprocessable_entity", "Key invalid, key should be of the format `type key [comment]`")
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


# ---- serializers

def _region(slug):
    region = next(r for r in catalog.DO_REGIONS if r["slug"] == slug)
    return {"slug": region["slug"], "name": region["name"], "available": True, "features": catalog.DO_FEATURES,
            "sizes": [s["slug"] for s in catalog.DO_SIZES]}


def _size(size):
    return {"slug": size["slug"], "memory": size["memory"], "vcpus": size["vcpus"], "disk": size["disk"],
            "transfer": size["transfer"], "price_monthly": size["price_monthly"],
            "price_hourly": round(size["price_monthly"] / 730, 5), "regions": [r["slug"] for r in catalog.DO_REGIONS],
            "available": True, "description": "Basic"}


def _image(image):
    return {"id": image["id"], "slug": image["slug"], "name": image["name"], "distribution": image["distribution"],
            "type": "base", "public": True, "regions": [r["slug"] for r in catalog.DO_REGIONS],
            "created_at": "2024-06-01T00:00:00Z", "min_disk_size": 10, "size_gigabytes": 2.5,
            "description": f"{image['distribution']} {image['name']}", "tags": [], "status": "available",
            "error_message": ""}


def _droplet(server):
    size = server["_size"]
    status = {"booting": "new", "running": "active", "off": "off"}[server["status"]]
    return {
        "id": server["id"], "name": server["name"], "memory": size["memory"], "vcpus": size["vcpus"],
        "disk": size["disk"], "disk_info": [{"type": "local", "size": {"amount": size["disk"], "unit": "gib"}}],
        "locked": False, "status": status, "kernel": None, "created_at": server["created"],
        "features": ["droplet_agent", "private_networking"], "backup_ids": [], "next_backup_window": None,
        "snapshot_ids": [], "image": _image(server["_image"]), "volume_ids": [], "size": _size(size),
        "size_slug": size["slug"],
        # The public address is a loopback address of this machine; no private network (a deviation).
        "networks": {"v4": [{"ip_address": server["address"], "netmask": "255.255.255.255", "gateway": server["address"],
                             "type": "public"}], "v6": []},
        "region": _region(server["_region"]), "tags": list(server["tags"]),
        "vpc_uuid": "00000000-0000-4000-8000-" + server["_region"].encode().hex().ljust(12, "0")[:12],
    }


def _action(action, account):
    server = account.servers.get(action["resource_id"])
    region = server["_region"] if server else action.get("_region", "nyc3")
    return {"id": action["id"], "status": action["status"], "type": action["type"], "started_at": action["started_at"],
            "completed_at": action["completed_at"], "resource_id": action["resource_id"], "resource_type": "droplet",
            "region": _region(region), "region_slug": region}


def _key(key):
    return {"id": key["id"], "fingerprint": key["fingerprint"], "public_key": key["public_key"], "name": key["name"]}


def _tag(account, name):
    count = sum(1 for s in account.servers.values() if name in s["tags"])
    return {"name": name, "resources": {"count": count, "droplets": {"count": count}}}


def _firewall(firewall):
    return {k: v for k, v in firewall.items() if not k.startswith("_")}


def _list(req, key, items, total=None):
    page_items, page, per_page, last = req.state.page(items, req.query_one, 20)
    pages = {}

    def url(number):
        query = [(k, v) for k, v in req.query_pairs if k not in ("page", "per_page")] + [
            ("page", str(number)), ("per_page", str(per_page))]
        return f"{req.base_url}{req.path}?{urllib.parse.urlencode(query)}"

    if page < last:
        pages["next"], pages["last"] = url(page + 1), url(last)
    if page > 1:
        pages["first"], pages["prev"] = url(1), url(page - 1)
    return 200, {key: page_items, "links": {"pages": pages}, "meta": {"total": len(items) if total is None else total}}, {}


# ---- handlers

def _find_droplet(req, droplet_id):
    server = req.account.servers.get(int(droplet_id))
    if server is None:
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    return server


def _find_key(req, identifier):
    for key in req.account.ssh_keys.values():
        if str(key["id"]) == identifier or key["fingerprint"] == identifier:
            return key
    raise ApiError(404, "not_found", "The resource you were accessing could not be found.")


def get_account(req):
    account = req.account
    return 200, {"account": {"droplet_limit": account.server_limit, "floating_ip_limit": 3, "email": f"sim{account.number}@example.com",
                             "name": f"Simulated account {account.number}", "uuid": uuid.UUID(int=account.number).hex,
                             "email_verified": True, "status": "active", "status_message": ""}}, {}


def list_droplets(req):
    tag = req.query_one.get("tag_name")
    servers = [s for s in req.account.servers.values() if req.state.listed(s) and (tag is None or tag in s["tags"])]
    return _list(req, "droplets", [_droplet(s) for s in sorted(servers, key=lambda s: s["id"])])


def create_droplets(req):
    body = req.body
    names = body["names"] if "names" in body else [body["name"]]
    account = req.account
    if len(names) > 10:
        raise ApiError(422, "unprocessable_entity", "You may only create up to 10 Droplets at once.")
    for name in names:
        if not NAME.match(name):
            raise ApiError(422, "unprocessable_entity",
                           "Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
    size = next((s for s in catalog.DO_SIZES if s["slug"] == body["size"]), None)
    if size is None:
        raise ApiError(422, "unprocessable_entity", "You specified an invalid size for Droplet creation.")
    region = body.get("region") or "nyc3"
    if region not in [r["slug"] for r in catalog.DO_REGIONS]:
        raise ApiError(422, "unprocessable_entity", "You specified an invalid region for Droplet creation.")
    image = next((i for i in catalog.DO_IMAGES if str(body["image"]) in (i["slug"], str(i["id"]))), None)
    if image is None:
        raise ApiError(422, "unprocessable_entity", "You specified an invalid image for Droplet creation.")
    user_data = body.get("user_data")
    if user_data is not None and len(user_data.encode()) > USER_DATA_LIMIT:
        raise ApiError(422, "unprocessable_entity", "user_data is too long (maximum is 64 KiB)")
    keys = []
    for identifier in body.get("ssh_keys") or []:
        try:
            keys.append(_find_key(req, str(identifier)))
        except ApiError:
            raise ApiError(422, "unprocessable_entity", f"You specified an invalid ssh key: {identifier}.")
    tags = list(dict.fromkeys(body.get("tags") or []))
    for tag in tags:
        if not TAG.match(tag):
            raise ApiError(422, "unprocessable_entity", f"tag name {tag!r} is invalid")
    if len(account.servers) + len(names) > account.server_limit:
        raise ApiError(422, "unprocessable_entity",
                       f"creating this/these droplet(s) will exceed your droplet limit ({account.server_limit})")
    for tag in tags:
        account.tags.setdefault(tag, {"name": tag})
    created, actions = [], []
    for name in names:
        server = {"id": req.state.next_id(), "name": name, "created": now_iso(), "tags": tags, "_size": size,
                  "_region": region, "_image": image}
        action = req.fleet.create(account, server, user_data, image["agent"], [k["public_key"] for k in keys])
        action["_region"] = region
        created.append(server)
        actions.append(action)
    links = {"actions": [{"id": a["id"], "rel": "create", "href": f"{req.base_url}/v2/actions/{a['id']}"} for a in actions]}
    if "names" in body:
        return 202, {"droplets": [_droplet(s) for s in created], "links": links}, {}
    return 202, {"droplet": _droplet(created[0]), "links": links}, {}


def delete_droplets_by_tag(req):
    tag = req.query_one.get("tag_name")
    if not tag:
        raise ApiError(422, "unprocessable_entity", "tag_name is required")
    for server in [s for s in req.account.servers.values() if tag in s["tags"]]:
        req.fleet.delete(req.account, server)
    return 204, None, {}


def get_droplet(req, droplet_id):
    return 200, {"droplet": _droplet(_find_droplet(req, droplet_id))}, {}


def delete_droplet(req, droplet_id):
    req.fleet.delete(req.account, _find_droplet(req, droplet_id))
    return 204, None, {}


POWER = {"power_on", "power_off", "shutdown", "reboot", "power_cycle"}


def droplet_action(req, droplet_id):
    server = _find_droplet(req, droplet_id)
    kind = req.body.get("type")
    if kind not in POWER:
        raise ApiError(422, "unprocessable_entity", f"the simulator does not implement the {kind} action")
    if server["status"] == "booting" or server["_pending"]:
        raise ApiError(422, "unprocessable_entity", "Droplet already has a pending event.")
    if kind == "power_on" and server["status"] == "running":
        raise ApiError(422, "unprocessable_entity", "Droplet is already powered on.")
    if kind in ("power_off", "shutdown") and server["status"] == "off":
        raise ApiError(422, "unprocessable_entity", "Droplet is already powered off.")
    action = req.fleet.power(req.account, server, kind)
    action["_region"] = server["_region"]
    return 201, {"action": _action(action, req.account)}, {}


def list_droplet_actions(req, droplet_id):
    server = _find_droplet(req, droplet_id)
    actions = [a for a in req.account.actions.values() if a["resource_id"] == server["id"]]
    return _list(req, "actions", [_action(a, req.account) for a in actions])


def get_droplet_action(req, droplet_id, action_id):
    action = req.account.actions.get(int(action_id))
    if action is None or action["resource_id"] != int(droplet_id):
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    return 200, {"action": _action(action, req.account)}, {}


def get_action(req, action_id):
    action = req.account.actions.get(int(action_id))
    if action is None:
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    return 200, {"action": _action(action, req.account)}, {}


def list_actions(req):
    return _list(req, "actions", [_action(a, req.account) for a in req.account.actions.values()])


def list_keys(req):
    return _list(req, "ssh_keys", [_key(k) for k in req.account.ssh_keys.values()])


def create_key(req):
    public_key = req.body["public_key"].strip()
    print_ = fingerprint(public_key)
    if any(k["fingerprint"] == print_ for k in req.account.ssh_keys.values()):
        raise ApiError(422, "unprocessable_entity", "SSH Key is already in use on your account")
    key = {"id": req.state.next_id(), "name": req.body["name"], "public_key": public_key, "fingerprint": print_}
    req.account.ssh_keys[key["id"]] = key
    return 201, {"ssh_key": _key(key)}, {}


def get_key(req, identifier):
    return 200, {"ssh_key": _key(_find_key(req, identifier))}, {}


def delete_key(req, identifier):
    del req.account.ssh_keys[_find_key(req, identifier)["id"]]
    return 204, None, {}


def list_tags(req):
    return _list(req, "tags", [_tag(req.account, name) for name in sorted(req.account.tags)])


def create_tag(req):
    name = req.body["name"]
    if not TAG.match(name):
        raise ApiError(422, "unprocessable_entity", "tag name is invalid")
    req.account.tags.setdefault(name, {"name": name})
    return 201, {"tag": _tag(req.account, name)}, {}


def get_tag(req, name):
    if name not in req.account.tags:
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    return 200, {"tag": _tag(req.account, name)}, {}


def delete_tag(req, name):
    if req.account.tags.pop(name, None) is None:
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    for server in req.account.servers.values():
        if name in server["tags"]:
            server["tags"] = [t for t in server["tags"] if t != name]
    for firewall in req.account.firewalls.values():
        firewall["tags"] = [t for t in firewall["tags"] if t != name]
    return 204, None, {}


def _find_firewall(req, firewall_id):
    firewall = req.account.firewalls.get(firewall_id)
    if firewall is None:
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    return firewall


def _check_tags(req, tags):
    for tag in tags:
        if tag not in req.account.tags:
            raise ApiError(422, "unprocessable_entity", f"tag {tag} does not exist")


def list_firewalls(req):
    return _list(req, "firewalls", [_firewall(f) for f in req.account.firewalls.values()])


def create_firewall(req):
    body = req.body
    tags = list(body.get("tags") or [])
    _check_tags(req, tags)
    droplet_ids = list(body.get("droplet_ids") or [])
    for droplet_id in droplet_ids:
        _find_droplet(req, droplet_id)
    firewall = {"id": str(uuid.uuid4()), "name": body["name"], "status": "succeeded", "created_at": now_iso(),
                "pending_changes": [], "inbound_rules": body.get("inbound_rules") or [],
                "outbound_rules": body.get("outbound_rules") or [], "droplet_ids": droplet_ids, "tags": tags}
    req.account.firewalls[firewall["id"]] = firewall
    return 202, {"firewall": _firewall(firewall)}, {}


def get_firewall(req, firewall_id):
    return 200, {"firewall": _firewall(_find_firewall(req, firewall_id))}, {}


def delete_firewall(req, firewall_id):
    del req.account.firewalls[_find_firewall(req, firewall_id)["id"]]
    return 204, None, {}


def add_firewall_tags(req, firewall_id):
    firewall = _find_firewall(req, firewall_id)
    tags = list(req.body.get("tags") or [])
    _check_tags(req, tags)
    firewall["tags"] = list(dict.fromkeys(firewall["tags"] + tags))
    return 204, None, {}


def remove_firewall_tags(req, firewall_id):
    firewall = _find_firewall(req, firewall_id)
    firewall["tags"] = [t for t in firewall["tags"] if t not in (req.body.get("tags") or [])]
    return 204, None, {}


def list_images(req):
    kind = req.query_one.get("type")
    private = req.query_one.get("private") == "true"
    tag = req.query_one.get("tag_name")
    images = [] if private or tag or kind == "application" else catalog.DO_IMAGES
    return _list(req, "images", [_image(i) for i in images])


def list_sizes(req):
    return _list(req, "sizes", [_size(s) for s in catalog.DO_SIZES])


def list_regions(req):
    return _list(req, "regions", [_region(r["slug"]) for r in catalog.DO_REGIONS])


ROUTES = [
    ("GET", r"/v2/account", get_account),
    ("GET", r"/v2/droplets", list_droplets),
    ("POST", r"/v2/droplets", create_droplets),
    ("DELETE", r"/v2/droplets", delete_droplets_by_tag),
    ("GET", r"/v2/droplets/(\d+)", get_droplet),
    ("DELETE", r"/v2/droplets/(\d+)", delete_droplet),
    ("GET", r"/v2/droplets/(\d+)/actions", list_droplet_actions),
    ("POST", r"/v2/droplets/(\d+)/actions", droplet_action),
    ("GET", r"/v2/droplets/(\d+)/actions/(\d+)", get_droplet_action),
    ("GET", r"/v2/actions", list_actions),
    ("GET", r"/v2/actions/(\d+)", get_action),
    ("GET", r"/v2/account/keys", list_keys),
    ("POST", r"/v2/account/keys", create_key),
    ("GET", r"/v2/account/keys/([^/]+)", get_key),
    ("DELETE", r"/v2/account/keys/([^/]+)", delete_key),
    ("GET", r"/v2/tags", list_tags),
    ("POST", r"/v2/tags", create_tag),
    ("GET", r"/v2/tags/([^/]+)", get_tag),
    ("DELETE", r"/v2/tags/([^/]+)", delete_tag),
    ("GET", r"/v2/firewalls", list_firewalls),
    ("POST", r"/v2/firewalls", create_firewall),
    ("GET", r"/v2/firewalls/([^/]+)", get_firewall),
    ("DELETE", r"/v2/firewalls/([^/]+)", delete_firewall),
    ("POST", r"/v2/firewalls/([^/]+)/tags", add_firewall_tags),
    ("DELETE", r"/v2/firewalls/([^/]+)/tags", remove_firewall_tags),
    ("GET", r"/v2/images", list_images),
    ("GET", r"/v2/sizes", list_sizes),
    ("GET", r"/v2/regions", list_regions),
]


def inventory(account):
    return {
        "servers": [{"id": s["id"], "name": s["name"], "status": _droplet(s)["status"], "tags": list(s["tags"]),
                     "labels": {}, "ipv4": s["address"]} for s in account.servers.values()],
        "ssh_keys": [{"id": k["id"], "name": k["name"], "fingerprint": k["fingerprint"]} for k in account.ssh_keys.values()],
        "firewalls": [{"id": f["id"], "name": f["name"]} for f in account.firewalls.values()],
        "tags": sorted(account.tags),
    }
