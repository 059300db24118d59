#!/usr/bin/env python3
"""Prints every Secret of the Kubernetes deployment, with fresh random values, for `kubectl apply -f -`.

    deploy/kubernetes/make-secrets.py | kubectl apply -f -

Nothing secret is committed: each run makes a new master key, admin token, Erlang cookie and a
password per RabbitMQ and Redis user. The service users and their rights mirror ServiceKind /
AMQPPermissions (Shared/Schemas/ServiceIdentity.swift) and StoreACL (Shared/Store/StoreACL.swift):
change them together. The hosts are the reference RabbitMQ and Redis (deploy/kubernetes/reference/);
with brokers of your own, edit the connections JSON of the output (docs/deploy.md).

Run it once: a second run makes new values, and applying them over a running deployment would
replace the master key that seals every stored secret.
"""
import base64
import hashlib
import json
import secrets
import sys

NAMESPACE = "paz-machine"
DRIVERS = ["generic", "ec2", "digitalocean", "hetzner"]  # the QEMU driver runs outside Kubernetes
DOMAIN = f"{NAMESPACE}.svc.cluster.local"
RABBIT_NODES = [f"rabbitmq-{i}.rabbitmq.{DOMAIN}" for i in range(3)]
REDIS_PRIMARY = f"redis-0.redis.{DOMAIN}"  # the first primary; REDIS_SENTINELS follows failovers

# RabbitMQ (ServiceKind.amqpPermissions): names each user may configure, write to and read from.
RETRY = [f"paz.retry.{s}s" for s in (1, 2, 5, 10, 30)]
CONFIGURE = ["paz.commands", "paz.events", "paz.dead-letter", "paz.dead-letters"] + RETRY
WRITE = ["paz.dead-letter", "paz.dead-letters"] + RETRY
READ = ["paz.dead-letter"] + RETRY
DEFAULT, REPLIES = "amq.default", "amq.rabbitmq.reply-to"


def amqp_rights(kind):
    if kind == "paz-gateway":
        own = ["paz.gateway.events", "paz.gateway.dead-letters"]
        return CONFIGURE + own, WRITE + ["paz.commands", DEFAULT] + own, READ + own + ["paz.events", REPLIES]
    if kind == "paz-status-collector":
        own = ["paz.collector.events"]
        return (CONFIGURE + own, WRITE + ["paz.commands", "paz.events", DEFAULT] + own,
                READ + own + ["paz.events", REPLIES])
    if kind == "paz-ssh-broker":
        own = ["paz.ssh-broker.rpc"]
        return CONFIGURE + own, WRITE + [DEFAULT], READ + own
    driver = kind.removeprefix("paz-driver-")
    own = [f"paz.driver.{driver}.commands", f"paz.driver.{driver}.queries"]
    return CONFIGURE + own, WRITE + ["paz.events", DEFAULT] + own, READ + own + ["paz.commands", REPLIES]


def pattern(names):
    """AMQPPermissions.pattern: ^(name|…)$, dots and dashes escaped; reply-to with its suffixes."""
    parts = [n.replace(".", "\\.").replace("-", "\\-") + ("(\\..*)?" if n == REPLIES else "") for n in names]
    return "^(" + "|".join(parts) + ")$"


# Redis (StoreACL.rules): key patterns, channels and commands. +role lets a client behind Sentinel check that it
# reached the primary (REDIS_SENTINELS).
T = "paz:t:*:"
SCRIPTS = ["evalsha", "script|load"]


def redis_rules(kind):
    if kind == "paz-gateway":
        keys = ["~paz:tenants", "~paz:tenant-names", "~paz:tokens", "%R~paz:registry:*", "~paz:registry-index"]
        keys += [f"~{T}{k}" for k in ("clusters", "cluster-names", "machines", "states", "status-version", "op:*",
                                      "idem:*", "idem-index", "machine-names", "rate:*", "driver-defaults:*", "driver-defaults-version",
                                      "outbox:*")]
        keys += ["~paz:outbox", "~paz:admin:idem:*", "~paz:admin:idem-index", f"%W~{T}*"]
        # The tracking cache's invalidations (RedisTrackingCache).
        keys += ["&__redis__:invalidate"]
        commands = ["get", "set", "del", "expire", "mget", "scan", "hset", "hsetnx", "hget", "hgetall", "hdel",
                    "hexists", "hlen", "incr", "incrby", "client|id", "client|tracking", "subscribe", "zadd", "zrem",
                    "zcard", "zremrangebyscore", "zrangebyscore"] + SCRIPTS
    elif kind == "paz-status-collector":
        keys = ["%R~paz:tenants", f"~{T}machines", f"~{T}states", f"~{T}status-version", "~paz:collector:poller-lease"]
        commands = ["hget", "hgetall", "hset", "hexists", "set", "get", "pexpire", "del"] + SCRIPTS
    elif kind == "paz-ssh-broker":
        keys = [f"%R~{T}machines", f"~{T}ssh-ca", f"~{T}ssh-audit"]
        commands = ["hget", "hgetall", "hset", "hsetnx", "xadd"]
    else:
        driver = kind.removeprefix("paz-driver-")
        keys = [f"~paz:registry:{driver}:*", "~paz:registry-index", f"%R~{T}secret:*", f"~{T}driver-data:*",
                f"~{T}journal:*", f"~{T}lease:*", "~paz:lease-fence", f"%R~{T}driver-defaults:{driver}"]
        commands = ["get", "set", "del", "hget", "hset", "hgetall", "exists", "incr", "pexpire", "zadd", "zrem",
                    "zremrangebyscore"] + SCRIPTS
    return ["resetkeys", "resetchannels", "-@all", "+ping", "+select", "+role"] + keys + ["+" + c for c in commands]


def password():
    return secrets.token_hex(32)


def acl_user(name, pw, rules):
    return f"user {name} on #{hashlib.sha256(pw.encode()).hexdigest()} " + " ".join(rules)


def secret(name, data, part_of="paz-machine"):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": part_of}},
            "stringData": data}


def main():
    kinds = ["paz-gateway", "paz-status-collector", "paz-ssh-broker"] + [f"paz-driver-{d}" for d in DRIVERS]
    rabbit = {kind: password() for kind in kinds}
    redis = {kind: password() for kind in kinds}
    admin_rabbit, admin_redis, replication, sentinel = password(), password(), password(), password()

    docs = [
        secret("paz-master-key", {"master-key": base64.b64encode(secrets.token_bytes(32)).decode() + "\n"}),
        secret("paz-admin-token", {"admin-token": secrets.token_urlsafe(32) + "\n"}),
    ]
    for kind in kinds:
        connections = {
            # `urls` (AMQP_URLS) names every node, tried in turn, and wins over `url` (the RabbitMQ
            # Service, any ready node), which stays for tools that take one URL.
            "amqp": {"url": f"amqp://{kind}:{rabbit[kind]}@rabbitmq-amqp.{DOMAIN}:5672/",
                     "urls": ",".join(f"amqp://{kind}:{rabbit[kind]}@{node}:5672/" for node in RABBIT_NODES)},
            "redis": {"url": f"redis://{kind}:{redis[kind]}@{REDIS_PRIMARY}:6379/0"},
        }
        docs.append(secret(f"{kind}-connections", {"connections.json": json.dumps(connections, indent=2) + "\n"}))

    users = [{"name": "paz-admin", "password": admin_rabbit, "tags": "administrator"}]
    users += [{"name": kind, "password": rabbit[kind], "tags": ""} for kind in kinds]
    permissions = [{"user": "paz-admin", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
    for kind in kinds:
        configure, write, read = amqp_rights(kind)
        permissions.append({"user": kind, "vhost": "/", "configure": pattern(configure), "write": pattern(write),
                            "read": pattern(read)})
    definitions = {"users": users, "vhosts": [{"name": "/"}], "permissions": permissions}
    docs.append(secret("rabbitmq-definitions", {"definitions.json": json.dumps(definitions, indent=2) + "\n"},
                       part_of="rabbitmq"))
    docs.append(secret("rabbitmq-erlang-cookie", {"cookie": secrets.token_hex(32)}, part_of="rabbitmq"))

    acl = ["user default off", acl_user("paz-admin", admin_redis, ["~*", "&*", "+@all"]),
           # Replicas copy the primary; Sentinels watch, promote and repoint (Redis's documented rights).
           acl_user("paz-replication", replication, ["+psync", "+replconf", "+ping"]),
           acl_user("paz-sentinel", sentinel, ["allchannels", "+multi", "+slaveof", "+ping", "+exec", "+subscribe",
                                               "+config|rewrite", "+role", "+publish", "+info", "+client|setname",
                                               "+client|kill", "+script|kill"])]
    acl += [acl_user(kind, redis[kind], redis_rules(kind)) for kind in kinds]
    docs.append(secret("redis-auth", {
        "users.acl": "\n".join(acl) + "\n",
        "replication.conf": f"masteruser paz-replication\nmasterauth {replication}\n",
        "sentinel.conf": f"sentinel auth-user paz paz-sentinel\nsentinel auth-pass paz {sentinel}\n",
    }, part_of="redis"))

    sys.stdout.write("".join("---\n" + json.dumps(doc, indent=2) + "\n" for doc in docs))


if __name__ == "__main__":
    # `--redis-rules KIND`: only the Redis ACL rules of one service (Tests/StoreTests compares them
    # with StoreACL, which this file copies).
    if len(sys.argv) == 3 and sys.argv[1] == "--redis-rules":
        print(" ".join(redis_rules(sys.argv[2])))
    else:
        main()
