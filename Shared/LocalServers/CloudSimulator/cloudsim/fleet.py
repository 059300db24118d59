"""What both providers do with servers: boot (address, sshd), power actions and deletion, on the
scheduler's clock. Server records are dicts; keys starting with `_` are internal.

Canonical server states: `booting` (DO `new`, Hetzner `initializing`/`starting`), `running`
(DO `active`), `off`; `_pending` says `stopping`/`starting` while a power action runs."""
import logging
import os
import time

from cloudsim.machines import Machine
from cloudsim.state import now_iso

log = logging.getLogger("cloudsim.fleet")


class Fleet:
    def __init__(self, state, scheduler, directory):
        self.state = state
        self.scheduler = scheduler
        self.directory = directory

    def new_action(self, account, kind, server_id, extra=None):
        action = {
            "id": self.state.next_id(), "type": kind, "status": "in-progress", "started_at": now_iso(),
            "completed_at": None, "resource_id": server_id, "_error": None,
        }
        if extra:
            action.update(extra)
        account.actions[action["id"]] = action
        return action

    def _finish(self, action, error):
        action["status"] = "errored" if error else "completed"
        action["completed_at"] = now_iso()
        action["_error"] = str(error) if error else None

    def create(self, account, server, user_data, agent, registered_keys):
        """Takes an address and schedules the boot: after action_seconds sshd runs and the server is running."""
        server["address"] = self.state.addresses.take()
        server["status"] = "booting"
        server["_pending"] = None
        server["_created_mono"] = time.monotonic()
        server["_machine"] = Machine(
            os.path.join(self.directory, f"server-{server['id']}"), server["address"], user_data, agent,
            registered_keys, server["name"],
        )
        account.servers[server["id"]] = server
        action = self.new_action(account, "create", server["id"])
        self._power(account, server, action, start=True)
        return action

    def _power(self, account, server, action, start, restart=False):
        machine = server["_machine"]

        def work():
            if restart or not start:
                machine.stop()
            if start:
                machine.start()

        def commit(error):
            self._finish(action, error)
            if account.servers.get(server["id"]) is not server:
                # Deleted meanwhile: make sure nothing keeps running.
                self.scheduler.at(0, machine.remove, lambda _: None)
                return
            server["_pending"] = None
            if error:
                server["status"] = "off"
                log.error("%s server %s: %s", account.label(), server["id"], error)
            else:
                server["status"] = "running" if start else "off"

        self.scheduler.at(time.monotonic() + self.state.options.action_seconds, work, commit)

    def power(self, account, server, kind):
        """`kind`: power_on, power_off, shutdown, reboot, power_cycle (DigitalOcean names)."""
        action = self.new_action(account, kind, server["id"])
        if kind == "power_on":
            server["_pending"] = "starting"
            self._power(account, server, action, start=True)
        elif kind in ("power_off", "shutdown"):
            server["_pending"] = "stopping"
            self._power(account, server, action, start=False)
        else:
            self._power(account, server, action, start=True, restart=True)
        return action

    def delete(self, account, server):
        """Removes the server at once: sshd stops, the address is released."""
        account.servers.pop(server["id"], None)
        machine = server["_machine"]
        machine.remove()
        self.state.addresses.release(server["address"])

    def shutdown(self):
        with self.state.lock:
            machines = [s["_machine"] for a in self.state.accounts.values() for s in a.servers.values()]
        for machine in machines:
            machine.remove()
