"""Stand-ins for Lambda event source mappings: DynamoDB stream and SQS pollers, and schedules.

They build real-shaped events and honour what the template declares for the mapping: batch size,
ReportBatchItemFailures, retry attempts and the on-failure destination (stream), and the queue's redrive
policy to its DLQ (SQS: moto moves a message once its receive count passes maxReceiveCount).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from typing import Any

from infra.local.stack import ACCOUNT, REGION, LocalFunction, Stack

log = logging.getLogger("ecrm.local")


def _failed_ids(result: Any) -> set[str] | None:
    """Item identifiers the function reported as failed; None when it reported nothing."""
    if isinstance(result, dict) and "batchItemFailures" in result:
        return {f["itemIdentifier"] for f in result["batchItemFailures"]}
    return None


class Poller(threading.Thread):
    """Base: a daemon thread that polls until stopped."""

    interval = 0.2

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._stop_event = threading.Event()
        self.busy = False

    def stop(self) -> None:
        """Ask the thread to end after its current poll."""
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                worked = self.poll_once()
            except Exception:  # a poller must survive anything a function or moto throws
                log.error("%s: poll failed\n%s", self.name, traceback.format_exc())
                worked = False
            if not worked:
                self._stop_event.wait(self.interval)

    def poll_once(self) -> bool:
        """Do one round of work; True if there was any."""
        raise NotImplementedError


class SqsPoller(Poller):
    """SQS -> function, with partial batch failures and the queue's own redrive to its DLQ."""

    def __init__(
        self, fn: LocalFunction, queue_url: str, queue_arn: str, batch_size: int, retry_delay_s: int = 1
    ) -> None:
        super().__init__(f"sqs:{fn.spec.logical_id}")
        import boto3

        self.fn, self.queue_url, self.queue_arn = fn, queue_url, queue_arn
        self.batch_size = min(batch_size, 10)
        self.retry_delay_s = retry_delay_s
        self.sqs = boto3.client("sqs")

    def poll_once(self) -> bool:
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages = resp.get("Messages", [])
        if not messages:
            return False
        self.busy = True
        try:
            records = [self._record(m) for m in messages]
            try:
                failed = _failed_ids(self.fn.invoke({"Records": records}))
                failed = failed or set()
            except Exception:
                log.error("%s: invocation failed\n%s", self.name, traceback.format_exc())
                failed = {m["MessageId"] for m in messages}
            for m in messages:
                if m["MessageId"] in failed:
                    # Lambda leaves failed messages to the visibility timeout; locally a short one keeps
                    # retries (and the DLQ after maxReceiveCount) within seconds.
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url,
                        ReceiptHandle=m["ReceiptHandle"],
                        VisibilityTimeout=self.retry_delay_s,
                    )
                else:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        finally:
            self.busy = False
        return True

    def _record(self, m: dict[str, Any]) -> dict[str, Any]:
        attrs = {
            k: {
                "stringValue": v.get("StringValue"),
                "binaryValue": v.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": v["DataType"],
            }
            for k, v in m.get("MessageAttributes", {}).items()
        }
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": attrs,
            "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


class StreamPoller(Poller):
    """DynamoDB stream -> function, in order, with partial batch failures, retries and an on-failure queue."""

    def __init__(
        self, fn: LocalFunction, stream_arn: str, props: dict[str, Any], on_failure_url: str | None
    ) -> None:
        super().__init__(f"stream:{fn.spec.logical_id}")
        import boto3

        self.fn, self.stream_arn = fn, stream_arn
        self.batch_size = int(props.get("BatchSize", 100))
        self.max_retries = int(props.get("MaximumRetryAttempts", 5))
        self.on_failure_url = on_failure_url
        self.streams = boto3.client("dynamodbstreams")
        self.sqs = boto3.client("sqs")
        self.last_sequence: dict[str, str] = {}
        self.shard_of: dict[str, str] = {}
        self.pending: list[dict[str, Any]] = []
        self.attempts = 0

    def _fresh_iterator(self, shard_id: str) -> str:
        # A fresh iterator on every poll: moto replaces a table's stream shard object when it rolls back a
        # cancelled transaction, and an old iterator would then never see another record.
        last = self.last_sequence.get(shard_id)
        kwargs = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
            if last
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        return self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **kwargs)[
            "ShardIterator"
        ]

    def poll_once(self) -> bool:
        if not self.pending:
            desc = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
            for shard in desc["Shards"]:
                sid = shard["ShardId"]
                resp = self.streams.get_records(
                    ShardIterator=self._fresh_iterator(sid), Limit=self.batch_size
                )
                for r in resp.get("Records", []):
                    r["eventSourceARN"] = self.stream_arn
                    self.pending.append(r)
                    self.last_sequence[sid] = r["dynamodb"]["SequenceNumber"]
                    self.shard_of[r["dynamodb"]["SequenceNumber"]] = sid
            self.attempts = 0
        if not self.pending:
            return False
        self.busy = True
        try:
            batch = self.pending[: self.batch_size]
            try:
                failed = _failed_ids(self.fn.invoke({"Records": json.loads(json.dumps(batch, default=str))}))
            except Exception:
                log.error("%s: invocation failed\n%s", self.name, traceback.format_exc())
                failed = {batch[0]["dynamodb"]["SequenceNumber"]}
            if not failed:
                del self.pending[: len(batch)]
                return True
            # Resume from the first failed record, as Lambda does with ReportBatchItemFailures.
            seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
            first = min(seqs.index(s) for s in failed if s in seqs) if failed & set(seqs) else 0
            del self.pending[:first]
            self.attempts += 1
            if self.attempts > self.max_retries:
                self._send_to_on_failure(self.pending[0])
                del self.pending[0]
                self.attempts = 0
            else:
                time.sleep(0.2 * self.attempts)
            return True
        finally:
            self.busy = False

    def _send_to_on_failure(self, record: dict[str, Any]) -> None:
        seq = record["dynamodb"]["SequenceNumber"]
        log.error(
            "%s: record %s failed %d times; sent to on-failure destination", self.name, seq, self.max_retries
        )
        if not self.on_failure_url:
            return
        # The shape Lambda sends to an on-failure destination for stream sources (metadata, not the record).
        body = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.max_retries + 1,
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.fn.spec.logical_id}",
            },
            "DDBStreamBatchInfo": {
                "shardId": self.shard_of.get(seq, ""),
                "startSequenceNumber": seq,
                "endSequenceNumber": seq,
                "batchSize": 1,
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.on_failure_url, MessageBody=json.dumps(body))


class SchedulePoller(Poller):
    """EventBridge schedules: run every `every_s` seconds locally, and on demand."""

    def __init__(self, fn: LocalFunction, event_name: str, props: dict[str, Any], every_s: float) -> None:
        super().__init__(f"schedule:{fn.spec.logical_id}:{event_name}")
        self.fn, self.event_name, self.props = fn, event_name, props
        self.interval = every_s
        self._last = time.monotonic()

    def fire(self) -> Any:
        """One scheduled invocation now, with an EventBridge-shaped event."""
        from ecrm.platform import clock

        event = {
            "version": "0",
            "id": str(time.time_ns()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": clock.iso(clock.now())[:19] + "Z",
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{self.event_name}"],
            "detail": (self.props.get("Input") and json.loads(self.props["Input"])) or {},
        }
        return self.fn.invoke(event)

    def poll_once(self) -> bool:
        if time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            self.fire()
        return False


def pollers_for(stack: Stack, schedule_every_s: float = 60.0) -> list[Poller]:
    """One poller per event source mapping declared in template.yaml."""
    from infra.local.template import Resolver

    resolver = Resolver(REGION, ACCOUNT, stack.params, stack.physical, stack.attributes)
    by_arn = {a.get("Arn"): name for name, a in stack.attributes.items()}
    result: list[Poller] = []
    for fn in stack.functions.values():
        for ev in fn.spec.events:
            props = resolver.resolve(ev.properties)
            if ev.type == "SQS":
                queue = by_arn[props["Queue"]]
                result.append(
                    SqsPoller(fn, stack.queue_url(queue), props["Queue"], int(props.get("BatchSize", 10)))
                )
            elif ev.type == "DynamoDB":
                dest = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                dest_url = stack.queue_url(by_arn[dest]) if dest in by_arn else None
                result.append(StreamPoller(fn, props["Stream"], props, dest_url))
            elif ev.type in {"Schedule", "ScheduleV2"}:
                result.append(SchedulePoller(fn, ev.name, props, schedule_every_s))
    return result
