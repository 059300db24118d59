"""The fixed catalogue: regions, sizes and images (DigitalOcean); locations, datacenters, server types and
images (Hetzner). Realistic names and numbers; `agent` says which first-boot agent an image runs."""

DO_REGIONS = [
    {"slug": "nyc3", "name": "New York 3"},
    {"slug": "ams3", "name": "Amsterdam 3"},
    {"slug": "fra1", "name": "Frankfurt 1"},
    {"slug": "sfo3", "name": "San Francisco 3"},
]
DO_FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"]
DO_SIZES = [
    {"slug": "s-1vcpu-512mb-10gb", "memory": 512, "vcpus": 1, "disk": 10, "transfer": 0.5, "price_monthly": 4.0},
    {"slug": "s-1vcpu-1gb", "memory": 1024, "vcpus": 1, "disk": 25, "transfer": 1.0, "price_monthly": 6.0},
    {"slug": "s-1vcpu-2gb", "memory": 2048, "vcpus": 1, "disk": 50, "transfer": 2.0, "price_monthly": 12.0},
    {"slug": "s-2vcpu-2gb", "memory": 2048, "vcpus": 2, "disk": 60, "transfer": 3.0, "price_monthly": 18.0},
    {"slug": "s-2vcpu-4gb", "memory": 4096, "vcpus": 2, "disk": 80, "transfer": 4.0, "price_monthly": 24.0},
    {"slug": "s-4vcpu-8gb", "memory": 8192, "vcpus": 4, "disk": 160, "transfer": 5.0, "price_monthly": 48.0},
]
# DigitalOcean retired its CoreOS image in 2020; Fedora CoreOS is uploaded as a custom image there. The
# simulator offers one as a distribution image so Ignition can be tested (a documented deviation).
DO_IMAGES = [
    {"id": 150000001, "slug": "debian-12-x64", "name": "12 x64", "distribution": "Debian", "agent": "cloud-init"},
    {"id": 150000002, "slug": "ubuntu-24-04-x64", "name": "24.04 (LTS) x64", "distribution": "Ubuntu", "agent": "cloud-init"},
    {"id": 150000003, "slug": "ubuntu-22-04-x64", "name": "22.04 (LTS) x64", "distribution": "Ubuntu", "agent": "cloud-init"},
    {"id": 150000004, "slug": "fedora-40-x64", "name": "40 x64", "distribution": "Fedora", "agent": "cloud-init"},
    {"id": 150000005, "slug": "rockylinux-9-x64", "name": "9 x64", "distribution": "Rocky Linux", "agent": "cloud-init"},
    {"id": 150000006, "slug": "fedora-coreos-40-x64", "name": "Fedora CoreOS 40 x64", "distribution": "CoreOS", "agent": "ignition"},
]

HETZNER_LOCATIONS = [
    {"id": 1, "name": "fsn1", "description": "Falkenstein DC Park 1", "country": "DE", "city": "Falkenstein",
     "latitude": 50.47612, "longitude": 12.370071, "network_zone": "eu-central", "datacenter": "fsn1-dc14", "dc_id": 4},
    {"id": 2, "name": "nbg1", "description": "Nuremberg DC Park 1", "country": "DE", "city": "Nuremberg",
     "latitude": 49.452102, "longitude": 11.076665, "network_zone": "eu-central", "datacenter": "nbg1-dc3", "dc_id": 2},
    {"id": 3, "name": "hel1", "description": "Helsinki DC Park 1", "country": "FI", "city": "Helsinki",
     "latitude": 60.169855, "longitude": 24.938379, "network_zone": "eu-central", "datacenter": "hel1-dc2", "dc_id": 3},
]
HETZNER_SERVER_TYPES = [
    {"id": 22, "name": "cx22", "description": "CX22", "cores": 2, "memory": 4.0, "disk": 40, "cpu_type": "shared",
     "architecture": "x86", "price": "4.5100"},
    {"id": 23, "name": "cx32", "description": "CX32", "cores": 4, "memory": 8.0, "disk": 80, "cpu_type": "shared",
     "architecture": "x86", "price": "7.7900"},
    {"id": 45, "name": "cax11", "description": "CAX11", "cores": 2, "memory": 4.0, "disk": 40, "cpu_type": "shared",
     "architecture": "arm", "price": "4.5100"},
    {"id": 96, "name": "ccx13", "description": "CCX13 Dedicated CPU", "cores": 2, "memory": 8.0, "disk": 80,
     "cpu_type": "dedicated", "architecture": "x86", "price": "14.8600"},
]
# Hetzner offers no CoreOS system image either; Fedora CoreOS comes as a snapshot (labelled os=fedora-coreos)
# as the Fedora CoreOS documentation describes.
HETZNER_IMAGES = [
    {"id": 114690387, "name": "debian-12", "description": "Debian 12", "os_flavor": "debian", "os_version": "12",
     "type": "system", "architecture": "x86", "agent": "cloud-init", "labels": {}},
    {"id": 161547269, "name": "ubuntu-24.04", "description": "Ubuntu 24.04", "os_flavor": "ubuntu", "os_version": "24.04",
     "type": "system", "architecture": "x86", "agent": "cloud-init", "labels": {}},
    {"id": 103908070, "name": "ubuntu-22.04", "description": "Ubuntu 22.04", "os_flavor": "ubuntu", "os_version": "22.04",
     "type": "system", "architecture": "x86", "agent": "cloud-init", "labels": {}},
    {"id": 114690389, "name": "debian-12", "description": "Debian 12", "os_flavor": "debian", "os_version": "12",
     "type": "system", "architecture": "arm", "agent": "cloud-init", "labels": {}},
    {"id": 176490811, "name": "fedora-40", "description": "Fedora 40", "os_flavor": "fedora", "os_version": "40",
     "type": "system", "architecture": "x86", "agent": "cloud-init", "labels": {}},
    {"id": 190000001, "name": None, "description": "Fedora CoreOS 40 (stable)", "os_flavor": "fedora",
     "os_version": None, "type": "snapshot", "architecture": "x86", "agent": "ignition",
     "labels": {"os": "fedora-coreos", "stream": "stable"}},
]
