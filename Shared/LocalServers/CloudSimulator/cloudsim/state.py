"""Everything the simulator holds: accounts (one per bearer token), their resources, actions, faults and
the validation violations. One lock guards it all; handlers take it for the whole request."""
import datetime
import itertools
import secrets
import threading
import time


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """A provider error: `code` is DigitalOcean's `id` or Hetzner's `error.code`."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class Account:
    def __init__(self, number, provider, token, server_limit):
        self.number = number
        self.provider = provider
        self.token = token
        self.server_limit = server_limit
        self.servers = {}      # id -> dict
        self.ssh_keys = {}     # id -> dict
        self.firewalls = {}    # id -> dict
        self.tags = {}         # name -> dict (DigitalOcean)
        self.actions = {}      # id -> dict
        self.violations = []

    def label(self):
        """How logs name the account (never by its token)."""
        return f"{self.provider}#{self.number}"


class Options:
    def __init__(self, action_seconds, listing_delay_seconds, page_size_limit):
        self.action_seconds = action_seconds
        self.listing_delay_seconds = listing_delay_seconds
        self.page_size_limit = page_size_limit


class State:
    def __init__(self, options, addresses):
        self.lock = threading.RLock()
        self.options = options
        self.addresses = addresses
        self.accounts = {}     # token -> Account
        self.violations = []   # every violation, also those of requests without a known account
        self._numbers = itertools.count(1)
        self._ids = itertools.count(int(time.time()) % 100000 * 1000 + 1)

    def next_id(self):
        return next(self._ids)

    def make_account(self, provider, server_limit):
        with self.lock:
            token = ("dop_v1_" if provider == "digitalocean" else "") + secrets.token_hex(32)
            account = Account(next(self._numbers), provider, token, server_limit)
            self.accounts[token] = account
            return account

    def account(self, provider, token):
        with self.lock:
            account = self.accounts.get(token)
            return account if account is not None and account.provider == provider else None

    def record_violation(self, account, text):
        with self.lock:
            self.violations.append(text)
            if account is not None:
                account.violations.append(text)

    def listed(self, server):
        """Eventual listing: a new server shows in list calls only after the delay."""
        return time.monotonic() >= server["_created_mono"] + self.options.listing_delay_seconds

    def page(self, items, query, default_per_page):
        """Slices `items` by `page`/`per_page`, honouring at most `page_size_limit` per page."""
        try:
            page = max(1, int(query.get("page", "1")))
            per_page = max(1, int(query.get("per_page", str(default_per_page))))
        except ValueError:
            page, per_page = 1, default_per_page
        per_page = min(per_page, self.options.page_size_limit)
        last = max(1, -(-len(items) // per_page))
        return items[(page - 1) * per_page: page * per_page], page, per_page, last
