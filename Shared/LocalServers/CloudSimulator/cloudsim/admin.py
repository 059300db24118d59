"""The simulator's own API under /_sim (not part of either provider's API, not validated):
accounts, inventory, faults and violations. Tokens travel in JSON bodies, never in URLs (so never in logs)."""


def handle(sim, method, path, body):
    """Returns (status, JSON body)."""
    state = sim.state
    if method == "GET" and path == "/_sim/health":
        return 200, {"ok": True, "address_block": f"127.{state.addresses.octet}.0.0/16"}
    if method == "POST" and path == "/_sim/accounts":
        provider = body.get("provider")
        if provider not in sim.providers:
            return 400, {"error": f"unknown provider {provider!r}"}
        account = state.make_account(provider, int(body.get("server_limit", 25)))
        return 201, {"token": account.token, "account": account.label()}
    if method == "POST" and path in ("/_sim/inventory", "/_sim/faults", "/_sim/violations"):
        account = None
        if "token" in body or path != "/_sim/violations":
            account = state.account(body.get("provider"), body.get("token"))
            if account is None:
                return 404, {"error": "no such account"}
        if path == "/_sim/inventory":
            with state.lock:
                return 200, sim.providers[account.provider].inventory(account)
        if path == "/_sim/faults":
            try:
                sim.faults.add(account.provider, account.token, body.get("method", "*"), body["path_pattern"],
                               int(body["status"]), int(body.get("count", 1)), body.get("retry_after_seconds"))
            except (KeyError, ValueError, TypeError) as error:
                return 400, {"error": f"bad fault: {error}"}
            return 201, {}
        with state.lock:
            return 200, {"violations": list(account.violations if account else state.violations)}
    return 404, {"error": f"no admin route {method} {path}"}
