"""Loopback addresses for servers: 127.<b>.<c>.<d>, <b> chosen at start from 100-199.

A simulator claims its <b> by binding 127.<b>.255.254:22 for its whole life (that address is never handed
out); a second simulator that picks the same <b> fails to bind and picks again."""
import random
import socket
import threading


class AddressPool:
    def __init__(self):
        self._claim = None
        for _ in range(200):
            octet = random.randint(100, 199)
            claim = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                claim.bind((f"127.{octet}.255.254", 22))
            except OSError:
                claim.close()
                continue
            self._claim = claim
            self.octet = octet
            break
        else:
            raise RuntimeError("no free 127.<100-199>.x.x block for server addresses")
        self._lock = threading.Lock()
        self._next = 2
        self._free = []
        self._in_use = set()

    def take(self):
        with self._lock:
            if self._free:
                number = self._free.pop(0)
            else:
                number = self._next
                self._next += 1
                if number >= 256 * 255:
                    raise RuntimeError("out of server addresses")
            self._in_use.add(number)
            return f"127.{self.octet}.{number // 256}.{number % 256}"

    def release(self, address):
        parts = address.split(".")
        number = int(parts[2]) * 256 + int(parts[3])
        with self._lock:
            if number in self._in_use:
                self._in_use.remove(number)
                self._free.append(number)

    def in_use(self):
        with self._lock:
            return len(self._in_use)
