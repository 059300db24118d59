"""Faults on demand: the next `count` requests of an account matching a method and a path pattern get
`status` (429 with Retry-After, 500, 503 …) instead of their answer."""
import re
import threading


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []

    def add(self, provider, token, method, path_pattern, status, count, retry_after):
        re.compile(path_pattern)
        with self._lock:
            self._rules.append({
                "provider": provider, "token": token, "method": method.upper(), "pattern": re.compile(path_pattern),
                "status": status, "left": count, "retry_after": retry_after,
            })

    def take(self, provider, token, method, path):
        """The rule this request trips (and uses up one of its count), or None."""
        with self._lock:
            for rule in self._rules:
                if (rule["left"] > 0 and rule["provider"] == provider and rule["token"] == token
                        and rule["method"] in (method.upper(), "*") and rule["pattern"].search(path)):
                    rule["left"] -= 1
                    return rule
            self._rules = [rule for rule in self._rules if rule["left"] > 0]
        return None
