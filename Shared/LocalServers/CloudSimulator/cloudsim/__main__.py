"""python3 -m cloudsim --port PORT --state-dir DIR [--action-seconds S] [--listing-delay-seconds S]
[--page-size-limit N]: serves the simulated DigitalOcean and Hetzner APIs on 127.0.0.1:PORT until SIGTERM
(or until its parent process exits), then stops every sshd it started."""
import argparse
import logging
import os
import signal
import sys
import threading
import time

from cloudsim import digitalocean, hetzner
from cloudsim.addresses import AddressPool
from cloudsim.faults import Faults
from cloudsim.fleet import Fleet
from cloudsim.httpserver import serve
from cloudsim.scheduler import Scheduler
from cloudsim.state import Options, State
from cloudsim.validation import Validator


class Simulator:
    def __init__(self, args):
        spec_directory = args.specs or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")
        self.providers = {"digitalocean": digitalocean, "hetzner": hetzner}
        self.validators = {name: Validator(name, spec_directory) for name in self.providers}
        self.state = State(Options(args.action_seconds, args.listing_delay_seconds, args.page_size_limit), AddressPool())
        self.faults = Faults()
        self.scheduler = Scheduler(self.state, self.shutdown)
        self.fleet = Fleet(self.state, self.scheduler, args.state_dir)
        self.http = serve(self, "127.0.0.1", args.port)
        self._down = threading.Event()

    def shutdown(self):
        if self._down.is_set():
            return
        self._down.set()
        logging.info("shutting down: stopping every server's sshd")
        threading.Thread(target=self.http.shutdown, daemon=True).start()
        self.fleet.shutdown()
        os._exit(0)


def main():
    parser = argparse.ArgumentParser(prog="cloudsim")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--specs")
    parser.add_argument("--action-seconds", type=float, default=1.0)
    parser.add_argument("--listing-delay-seconds", type=float, default=0.3)
    parser.add_argument("--page-size-limit", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    os.makedirs(args.state_dir, mode=0o755, exist_ok=True)
    sim = Simulator(args)
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        signal.signal(getattr(signal, name), lambda *_: threading.Thread(target=sim.shutdown).start())
    sim.scheduler.start()
    logging.info("listening on 127.0.0.1:%d after %.2f s; server addresses from 127.%d.0.0/16",
                 args.port, time.monotonic() - started, sim.state.addresses.octet)
    sim.http.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
