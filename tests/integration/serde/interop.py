"""Python side of the serde interop test (tests/integration/serde/python-interop.test.ts).

Uses confluent-kafka's own AvroSerializer / AvroDeserializer (fastavro underneath) against the
same broker and Confluent-compatible schema registry as the TypeScript side:

  produce  --brokers B --registry R --topic T --schema-file S --value-file V
      Produce the JSON value V (an image.ingested record, timestamps as epoch millis) with the
      Avro schema S, keyed by its imageId; print {"schemaId": n}.
  consume  --brokers B --registry R --topic T --expect-file V [--timeout-s 30]
      Read the first record of T, decode it, compare it field by field with V; print
      {"schemaId": n, "diffs": [...]} and exit 1 when a field differs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def to_plain(value: Any) -> Any:
    """fastavro returns logical types as Python objects; the TS side uses epoch millis and strings."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return round(value.timestamp() * 1000)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every path where actual differs from expected."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(f"{sub}: missing")
            elif key not in expected:
                out.append(f"{sub}: unexpected {actual[key]!r}")
            else:
                out.extend(diff(expected[key], actual[key], sub))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: length {len(actual)} != {len(expected)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in diff(e, a, f"{path}[{i}]")]
    if type(expected) is not type(actual) and not (
        isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(actual, bool)
    ):
        return [f"{path}: {actual!r} ({type(actual).__name__}) != {expected!r} ({type(expected).__name__})"]
    return [] if expected == actual else [f"{path}: {actual!r} != {expected!r}"]


def produce(args: argparse.Namespace) -> int:
    registry = SchemaRegistryClient({"url": args.registry})
    with open(args.schema_file, encoding="utf-8") as f:
        schema_str = f.read()
    with open(args.value_file, encoding="utf-8") as f:
        value = json.load(f)
    serializer = AvroSerializer(registry, schema_str)
    ctx = SerializationContext(args.topic, MessageField.VALUE)
    payload = serializer(value, ctx)
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True})
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer.produce(args.topic, key=value["imageId"].encode(), value=payload, on_delivery=on_delivery)
    if producer.flush(30) != 0 or errors:
        print(json.dumps({"error": errors or ["flush timed out"]}))
        return 2
    print(json.dumps({"schemaId": int.from_bytes(payload[1:5], "big")}))
    return 0


def consume(args: argparse.Namespace) -> int:
    registry = SchemaRegistryClient({"url": args.registry})
    deserializer = AvroDeserializer(registry)
    with open(args.expect_file, encoding="utf-8") as f:
        expected = json.load(f)
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": f"interop-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    deadline = dt.datetime.now() + dt.timedelta(seconds=args.timeout_s)
    try:
        # Every partition assigned from its start, no group: what is under test is the record's
        # encoding, and a group join on a busy shared broker once hung this reader past its deadline.
        topics = consumer.list_topics(args.topic, timeout=args.timeout_s).topics
        partitions = sorted(topics[args.topic].partitions) if args.topic in topics else []
        if not partitions:
            print(json.dumps({"error": f"topic {args.topic} has no partitions in the broker's metadata"}))
            return 2
        consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])
        while dt.datetime.now() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                print(json.dumps({"error": str(msg.error())}))
                return 2
            raw = msg.value()
            value = deserializer(raw, SerializationContext(args.topic, MessageField.VALUE))
            diffs = diff(expected, to_plain(value))
            key = msg.key().decode() if msg.key() is not None else None
            if key != expected.get("imageId"):
                diffs.append(f"<key>: {key!r} != {expected.get('imageId')!r}")
            print(json.dumps({"schemaId": int.from_bytes(raw[1:5], "big"), "diffs": diffs}))
            return 0 if not diffs else 1
    finally:
        consumer.close()
    print(json.dumps({"error": f"no record on {args.topic} within {args.timeout_s}s"}))
    return 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("produce", "consume"):
        p = sub.add_parser(name)
        p.add_argument("--brokers", required=True)
        p.add_argument("--registry", required=True)
        p.add_argument("--topic", required=True)
        if name == "produce":
            p.add_argument("--schema-file", required=True)
            p.add_argument("--value-file", required=True)
        else:
            p.add_argument("--expect-file", required=True)
            p.add_argument("--timeout-s", type=float, default=30.0)
    args = parser.parse_args()
    return produce(args) if args.command == "produce" else consume(args)


if __name__ == "__main__":
    sys.exit(main())
