#!/usr/bin/env python3
"""Checks and times a DynamoDB API endpoint on the calls KCL 3.x makes, in the shapes it makes them.

    scripts/dynamodb-probe.py http://127.0.0.1:8601 [--items 2000]

KCL's lease code (DynamoDBLeaseRefresher, the coordinator state and worker metrics tables, the
lock-based leader election) needs, of an emulator:
  * CreateTable in PAY_PER_REQUEST mode, DescribeTable (status, billing mode, index status);
  * UpdateTable adding the global secondary index `LeaseOwnerToLeaseKeyIndex`, and a Query on it;
  * PutItem with a legacy `Expected` map (`Exists: false`), UpdateItem with `Expected` and
    `AttributeUpdates` (PUT, ADD, DELETE) and `ReturnValuesOnConditionCheckFailure: ALL_OLD`,
    UpdateItem and PutItem with condition expressions, conditional DeleteItem, GetItem with
    consistent reads, Scan with a filter expression and a limit (paged);
  * ConditionalCheckFailedException when a condition fails.
Each check prints ok or what went wrong; then each call shape is timed over --items items on one
keep-alive connection (as each KCL client keeps its connections). Exit status 1 if a check failed.
Only the Python standard library is used, so any machine with python3 runs it.
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20240101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64)


class Client:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def call(self, op, body):
        data = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810." + op,
            "X-Amz-Date": "20240101T000000Z",
            "Authorization": AUTH,
        }
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", data, headers)
                r = self.conn.getresponse()
                payload = r.read()
                break
            except (http.client.HTTPException, OSError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        doc = json.loads(payload) if payload else {}
        if r.status >= 400:
            kind = str(doc.get("__type", "")).split("#")[-1]
            return None, kind or f"HTTP {r.status}", doc
        return doc, None, doc


FAILED = []


def check(name, ok, detail=""):
    print(f"  {'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + str(detail)[:300]}")
    if not ok:
        FAILED.append(name)


def wait_active(c, table, index=None, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        doc, err, _ = c.call("DescribeTable", {"TableName": table})
        if err is None:
            t = doc["Table"]
            if index is None and t.get("TableStatus") == "ACTIVE":
                return t
            if index is not None:
                for g in t.get("GlobalSecondaryIndexes", []):
                    if g["IndexName"] == index and g.get("IndexStatus") == "ACTIVE":
                        return t
        time.sleep(0.1)
    return None


def rate(label, n, fn):
    started = time.perf_counter()
    errors = 0
    for i in range(n):
        if fn(i) is not None:
            errors += 1
    took = time.perf_counter() - started
    print(f"  {label:<58} {n / took:9.0f} ops/s  ({took * 1000 / n:.2f} ms each, {errors} errors)")
    return n / took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("--items", type=int, default=2000)
    args = ap.parse_args()
    c = Client(args.endpoint)
    suffix = str(int(time.time() * 1000))
    lease, metrics, coord = f"probe-{suffix}", f"probe-{suffix}-WorkerMetricStats", f"probe-{suffix}-CoordinatorState"
    print(f"endpoint {args.endpoint}")
    print("checks (KCL's call shapes):")

    t0 = time.perf_counter()
    _, err, doc = c.call("CreateTable", {
        "TableName": lease, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "leaseKey", "AttributeType": "S"}],
        "Tags": [{"Key": "app", "Value": "probe"}]})
    check("CreateTable PAY_PER_REQUEST (lease table)", err is None, doc)
    t = wait_active(c, lease)
    check("DescribeTable reaches ACTIVE", t is not None)
    created_ms = (time.perf_counter() - t0) * 1000
    if t:
        check("DescribeTable reports PAY_PER_REQUEST",
              t.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST", t.get("BillingModeSummary"))
    for name, key in ((metrics, "wid"), (coord, "key")):
        _, err, doc = c.call("CreateTable", {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}]})
        check(f"CreateTable {name.split('-')[-1]}", err is None and wait_active(c, name) is not None, doc)
    _, err, doc = c.call("CreateTable", {
        "TableName": lease, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "leaseKey", "AttributeType": "S"}]})
    check("CreateTable again: ResourceInUseException", err == "ResourceInUseException", err)

    _, err, doc = c.call("UpdateTable", {
        "TableName": lease,
        "AttributeDefinitions": [{"AttributeName": "leaseOwner", "AttributeType": "S"},
                                 {"AttributeName": "leaseKey", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [{"Create": {
            "IndexName": "LeaseOwnerToLeaseKeyIndex",
            "KeySchema": [{"AttributeName": "leaseOwner", "KeyType": "HASH"},
                          {"AttributeName": "leaseKey", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}}]})
    check("UpdateTable adds the GSI LeaseOwnerToLeaseKeyIndex", err is None, doc)
    check("the GSI reaches ACTIVE", wait_active(c, lease, "LeaseOwnerToLeaseKeyIndex") is not None)

    item = lambda i, owner="w1": {"leaseKey": {"S": f"shardId-{i:012d}"}, "leaseCounter": {"N": "0"},
                                  "leaseOwner": {"S": owner}, "checkpoint": {"S": "TRIM_HORIZON"},
                                  "ownerSwitchesSinceCheckpoint": {"N": "0"}, "streamName": {"S": "s"}}
    _, err, doc = c.call("PutItem", {"TableName": lease, "Item": item(0),
                                     "Expected": {"leaseKey": {"Exists": False}}})
    check("PutItem with Expected Exists=false", err is None, doc)
    _, err, _ = c.call("PutItem", {"TableName": lease, "Item": item(0),
                                   "Expected": {"leaseKey": {"Exists": False}}})
    check("the same PutItem again: ConditionalCheckFailedException", err == "ConditionalCheckFailedException", err)

    key0 = {"leaseKey": {"S": "shardId-000000000000"}}
    upd = {"TableName": lease, "Key": key0,
           "Expected": {"leaseCounter": {"Value": {"N": "0"}}},
           "AttributeUpdates": {"leaseCounter": {"Action": "ADD", "Value": {"N": "1"}},
                                "leaseOwner": {"Action": "PUT", "Value": {"S": "w2"}},
                                "checkpointOwner": {"Action": "DELETE"}},
           "ReturnValues": "ALL_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    doc, err, raw = c.call("UpdateItem", upd)
    check("UpdateItem with Expected {Value} + AttributeUpdates (ADD, PUT, DELETE), ALL_NEW",
          err is None and doc.get("Attributes", {}).get("leaseCounter") == {"N": "1"}
          and doc["Attributes"].get("leaseOwner") == {"S": "w2"}, raw)
    _, err, raw = c.call("UpdateItem", upd)
    check("the same UpdateItem (counter moved): ConditionalCheckFailedException", err == "ConditionalCheckFailedException", err)
    check("  ... with the old item (ReturnValuesOnConditionCheckFailure ALL_OLD)",
          isinstance(raw.get("Item"), dict) and raw["Item"].get("leaseCounter") == {"N": "1"}, raw)
    _, err, raw = c.call("UpdateItem", {
        "TableName": lease, "Key": key0,
        "Expected": {"leaseKey": {"Exists": True, "Value": key0["leaseKey"]}},
        "AttributeUpdates": {"leaseOwner": {"Action": "PUT", "Value": {"S": "w2"}}}})
    check("UpdateItem with Expected {Exists: true, Value} on the key (KCL's existence expectation)", err is None, raw)

    doc, err, raw = c.call("UpdateItem", {
        "TableName": coord, "Key": {"key": {"S": "Leader"}},
        "UpdateExpression": "SET #o = :o, #r = :r",
        "ConditionExpression": "attribute_not_exists(#k) OR #r = :old",
        "ExpressionAttributeNames": {"#o": "ownerName", "#r": "recordVersionNumber", "#k": "key"},
        "ExpressionAttributeValues": {":o": {"S": "w1"}, ":r": {"S": "v2"}, ":old": {"S": "v1"}},
        "ReturnValues": "ALL_NEW"})
    check("UpdateItem with an update and a condition expression (leader lock)", err is None, raw)
    _, err, _ = c.call("PutItem", {
        "TableName": coord, "Item": {"key": {"S": "Leader"}, "ownerName": {"S": "w3"}},
        "ConditionExpression": "attribute_not_exists(#k)", "ExpressionAttributeNames": {"#k": "key"}})
    check("PutItem with attribute_not_exists on a present item: ConditionalCheckFailedException",
          err == "ConditionalCheckFailedException", err)
    doc, err, raw = c.call("GetItem", {"TableName": coord, "Key": {"key": {"S": "Leader"}}, "ConsistentRead": True})
    check("GetItem, consistent read", err is None and doc.get("Item", {}).get("ownerName") == {"S": "w1"}, raw)

    for i in range(1, 40):
        c.call("PutItem", {"TableName": lease, "Item": item(i, "w1" if i % 2 else "w3")})
    doc, err, raw = c.call("Query", {
        "TableName": lease, "IndexName": "LeaseOwnerToLeaseKeyIndex",
        "KeyConditionExpression": "#o = :o", "ExpressionAttributeNames": {"#o": "leaseOwner"},
        "ExpressionAttributeValues": {":o": {"S": "w3"}}})
    check("Query on the GSI by lease owner", err is None and doc.get("Count") == 19, raw if err else doc.get("Count"))
    seen, start, pages = 0, None, 0
    while True:
        body = {"TableName": lease, "Limit": 10, "FilterExpression": "streamName = :s",
                "ExpressionAttributeValues": {":s": {"S": "s"}}}
        if start:
            body["ExclusiveStartKey"] = start
        doc, err, raw = c.call("Scan", body)
        if err:
            break
        seen += len(doc.get("Items", []))
        pages += 1
        start = doc.get("LastEvaluatedKey")
        if not start or pages > 20:
            break
    check("Scan with a filter expression and a limit, paged", err is None and seen == 40, raw if err else f"{seen} items in {pages} pages")
    _, err, raw = c.call("DeleteItem", {"TableName": lease, "Key": {"leaseKey": {"S": "shardId-000000000001"}},
                                        "Expected": {"leaseOwner": {"Value": {"S": "nobody"}}}})
    check("DeleteItem whose expectation fails: ConditionalCheckFailedException", err == "ConditionalCheckFailedException", err)
    _, err, raw = c.call("DeleteItem", {"TableName": lease, "Key": {"leaseKey": {"S": "shardId-000000000001"}},
                                        "Expected": {"leaseOwner": {"Value": {"S": "w1"}}}})
    check("DeleteItem whose expectation holds", err is None, raw)

    n = args.items
    print(f"speed ({n} calls each, one connection; lease table created and ACTIVE in {created_ms:.0f} ms):")
    rate("PutItem, Expected Exists=false (create lease)", n, lambda i: c.call(
        "PutItem", {"TableName": lease, "Item": item(1000 + i), "Expected": {"leaseKey": {"Exists": False}}})[1])
    rate("UpdateItem, Expected counter + AttributeUpdates (renew lease)", n, lambda i: c.call("UpdateItem", {
        "TableName": lease, "Key": {"leaseKey": {"S": f"shardId-{1000 + i:012d}"}},
        "Expected": {"leaseCounter": {"Value": {"N": "0"}}},
        "AttributeUpdates": {"leaseCounter": {"Action": "ADD", "Value": {"N": "1"}}}})[1])
    rate("GetItem, consistent (read a checkpoint)", n, lambda i: c.call("GetItem", {
        "TableName": lease, "Key": {"leaseKey": {"S": f"shardId-{1000 + i:012d}"}}, "ConsistentRead": True})[1])
    rate("Query on the GSI (a worker's leases)", max(1, n // 10), lambda i: c.call("Query", {
        "TableName": lease, "IndexName": "LeaseOwnerToLeaseKeyIndex", "KeyConditionExpression": "#o = :o",
        "ExpressionAttributeNames": {"#o": "leaseOwner"}, "ExpressionAttributeValues": {":o": {"S": "w3"}}})[1])
    rate(f"Scan of the whole lease table ({n + 40} items, 1 MB pages)", max(1, n // 100), lambda i: scan_all(c, lease))
    for name in (lease, metrics, coord):
        c.call("DeleteTable", {"TableName": name})
    if FAILED:
        print(f"{len(FAILED)} check(s) failed: {', '.join(FAILED)}")
        sys.exit(1)
    print("all checks passed")


def scan_all(c, table):
    start = None
    while True:
        body = {"TableName": table}
        if start:
            body["ExclusiveStartKey"] = start
        doc, err, _ = c.call("Scan", body)
        if err:
            return err
        start = doc.get("LastEvaluatedKey")
        if not start:
            return None


if __name__ == "__main__":
    main()
