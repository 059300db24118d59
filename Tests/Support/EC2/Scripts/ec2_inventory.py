#!/usr/bin/env python3
"""Lists every EC2 resource a moto server holds, with its tags, as JSON on stdout: the independent
check of no-leak tests (boto3, never the driver's code).

  AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… ec2_inventory.py --endpoint URL --region R [--region R2 …]

Output: {"resources": [{"region", "type", "id", "name", "state", "tags": {key: value}, "default",
"attachedTo"}]}; "attachedTo" is the instance a volume or network interface is attached to.
"default" marks what exists without anybody asking: the default VPC, its subnets, default security
groups and network ACLs, main route tables. Snapshots are those of the caller's account (moto also
lists the snapshots behind its default AMIs, whatever owner is asked for); images are the account's.
Tags come from each resource's own Describe answer: DescribeTags in moto keeps the tags of deleted
resources and of ids that never existed.
"""
import argparse
import json
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError


def tags_of(item):
    return {tag["Key"]: tag["Value"] for tag in item.get("Tags") or []}


def entry(region, kind, item, id_key, name=None, state=None, default=False, attached_to=None):
    return {"region": region, "type": kind, "id": item[id_key], "name": name, "state": state,
            "tags": tags_of(item), "default": bool(default), "attachedTo": attached_to}


def pages(client, operation, key, **parameters):
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**parameters):
            yield from page.get(key) or []
    else:
        yield from getattr(client, operation)(**parameters).get(key) or []


def inventory(ec2, region, account):
    found = []
    for reservation in pages(ec2, "describe_instances", "Reservations"):
        for item in reservation["Instances"]:
            found.append(entry(region, "instance", item, "InstanceId", state=item["State"]["Name"]))
    for item in pages(ec2, "describe_security_groups", "SecurityGroups"):
        found.append(entry(region, "security-group", item, "GroupId", name=item["GroupName"],
                           default=item["GroupName"] == "default"))
    for item in pages(ec2, "describe_key_pairs", "KeyPairs"):
        found.append(entry(region, "key-pair", item, "KeyPairId", name=item["KeyName"]))
    for item in pages(ec2, "describe_volumes", "Volumes"):
        attachments = item.get("Attachments") or [{}]
        found.append(entry(region, "volume", item, "VolumeId", state=item["State"],
                           attached_to=attachments[0].get("InstanceId")))
    for item in pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"]):
        if item.get("OwnerId") == account:
            found.append(entry(region, "snapshot", item, "SnapshotId", state=item.get("State")))
    for item in pages(ec2, "describe_images", "Images", Owners=["self"]):
        found.append(entry(region, "image", item, "ImageId", name=item.get("Name"), state=item.get("State")))
    for item in pages(ec2, "describe_network_interfaces", "NetworkInterfaces"):
        found.append(entry(region, "network-interface", item, "NetworkInterfaceId", state=item.get("Status"),
                           attached_to=(item.get("Attachment") or {}).get("InstanceId")))
    for item in pages(ec2, "describe_addresses", "Addresses"):
        found.append(entry(region, "address", item, "AllocationId" if "AllocationId" in item else "PublicIp"))
    for item in pages(ec2, "describe_vpcs", "Vpcs"):
        found.append(entry(region, "vpc", item, "VpcId", state=item.get("State"), default=item.get("IsDefault")))
    for item in pages(ec2, "describe_subnets", "Subnets"):
        found.append(entry(region, "subnet", item, "SubnetId", state=item.get("State"),
                           default=item.get("DefaultForAz")))
    for item in pages(ec2, "describe_internet_gateways", "InternetGateways"):
        found.append(entry(region, "internet-gateway", item, "InternetGatewayId"))
    for item in pages(ec2, "describe_route_tables", "RouteTables"):
        main = any(association.get("Main") for association in item.get("Associations") or [])
        found.append(entry(region, "route-table", item, "RouteTableId", default=main))
    for item in pages(ec2, "describe_network_acls", "NetworkAcls"):
        found.append(entry(region, "network-acl", item, "NetworkAclId", default=item.get("IsDefault")))
    for item in pages(ec2, "describe_nat_gateways", "NatGateways"):
        found.append(entry(region, "nat-gateway", item, "NatGatewayId", state=item.get("State")))
    for item in pages(ec2, "describe_launch_templates", "LaunchTemplates"):
        found.append(entry(region, "launch-template", item, "LaunchTemplateId", name=item.get("LaunchTemplateName")))
    for item in pages(ec2, "describe_spot_instance_requests", "SpotInstanceRequests"):
        found.append(entry(region, "spot-instance-request", item, "SpotInstanceRequestId", state=item.get("State")))
    return found


def taken_again_on_server_errors(take, attempts=3):
    """moto answers an occasional 500 (an HTML page, which botocore cannot parse and does not retry)
    while other tests change its state at the same moment: the region's whole listing is taken
    again, so the snapshot stays one listing."""
    for attempt in range(attempts):
        try:
            return take()
        except (ResponseParserError, ClientError) as error:
            status = getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
            if attempt + 1 == attempts or status < 500:
                raise
            time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", action="append", required=True)
    args = parser.parse_args()
    if not args.endpoint.startswith("http://127."):
        parser.error("the endpoint must be a loopback URL")
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    found = []
    for region in args.region:
        session = boto3.session.Session(region_name=region)
        account = taken_again_on_server_errors(
            lambda: session.client("sts", endpoint_url=args.endpoint, config=config).get_caller_identity()["Account"])
        ec2 = session.client("ec2", endpoint_url=args.endpoint, config=config)
        found += taken_again_on_server_errors(lambda: inventory(ec2, region, account))
    print(json.dumps({"resources": found}))


if __name__ == "__main__":
    main()
