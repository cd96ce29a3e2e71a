"""Stand-ins for what SES and Lambda's asynchronous invocation do around the mail functions.

- `receive(stack, raw)`: an SES receipt rule of template.yaml with an S3 action then a Lambda action: the raw
  message is stored under the action's prefix + SES message id, and the function is invoked with a
  real-shaped SES event (`Records[0].eventSource == "aws:ses"`, mail + receipt with verdicts).
- `publish_feedback(stack, notification)`: SES configuration set -> SNS topic -> subscribed function, as an
  SNS event carrying the SES bounce/complaint notification.
- `invoke_async(stack, function, event)`: Lambda's async invocation: the first attempt plus
  `EventInvokeConfig.MaximumRetryAttempts` retries (AWS waits ~1 and ~2 minutes between them; locally they
  follow at once), then the `OnFailure` destination queue gets Lambda's invocation record.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
import uuid
from email import message_from_bytes
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

from infra.local import template as tpl
from infra.local.stack import ACCOUNT, REGION, Stack

log = logging.getLogger("ecrm.local")


def _resolver(stack: Stack) -> tpl.Resolver:
    return tpl.Resolver(REGION, ACCOUNT, stack.params, stack.physical, stack.attributes)


def receipt_rule(stack: Stack) -> dict[str, Any]:
    """The first receipt rule of the template with an S3 action followed by a Lambda action."""
    for res in stack.sam["Resources"].values():
        if res.get("Type") != "AWS::SES::ReceiptRule":
            continue
        rule = _resolver(stack).resolve(res["Properties"]["Rule"])
        raw_rule = res["Properties"]["Rule"]
        s3 = next((a["S3Action"] for a in rule["Actions"] if "S3Action" in a), None)
        lam = next((a for a in raw_rule["Actions"] if "LambdaAction" in a), None)
        if s3 and lam:
            target = lam["LambdaAction"]["FunctionArn"]
            function = target["Fn::GetAtt"][0] if "Fn::GetAtt" in target else str(target.get("Ref"))
            return {
                "name": rule.get("Name", "rule"),
                "recipients": rule.get("Recipients", []),
                "bucket": s3["BucketName"],
                "prefix": s3.get("ObjectKeyPrefix", ""),
                "function": function,
                "invocation_type": lam["LambdaAction"].get("InvocationType", "Event"),
                "rule_set": rule.get("RuleSetName")
                or _resolver(stack).resolve(res["Properties"].get("RuleSetName")),
            }
    raise LookupError("template.yaml has no SES receipt rule with an S3 action and a Lambda action")


def _addresses(values: list[str]) -> list[str]:
    return [addr for _, addr in getaddresses(values) if addr]


def ses_event(
    stack: Stack, raw: bytes, message_id: str, verdicts: dict[str, str] | None = None
) -> dict[str, Any]:
    """The event SES gives a Lambda action (https://docs.aws.amazon.com/ses/latest/dg/receiving-email-action-lambda-event.html)."""
    rule = receipt_rule(stack)
    parsed = message_from_bytes(raw, policy=compat32)
    headers = [{"name": k, "value": str(v)[:2048]} for k, v in parsed.items()][:100]
    from_ = _addresses([str(v) for v in parsed.get_all("From", [])])
    to = _addresses([str(v) for v in parsed.get_all("To", [])])
    return_path = _addresses([str(parsed.get("Return-Path", ""))])
    destination = [a for a in to if a.lower() in {r.lower() for r in rule["recipients"]}] or rule[
        "recipients"
    ]
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    v = {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS", **(verdicts or {})}
    fn_name = f"ecrm-local-{rule['function']}"
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {
                    "mail": {
                        "timestamp": now,
                        "source": (return_path or from_ or ["unknown@invalid"])[0],
                        "messageId": message_id,
                        "destination": destination,
                        "headersTruncated": False,
                        "headers": headers,
                        "commonHeaders": {
                            "returnPath": (return_path or from_ or [""])[0],
                            "from": [str(v) for v in parsed.get_all("From", [])],
                            "date": str(parsed.get("Date", now)),
                            "to": [str(v) for v in parsed.get_all("To", [])],
                            "messageId": str(parsed.get("Message-ID", "")),
                            "subject": str(parsed.get("Subject", "")),
                        },
                    },
                    "receipt": {
                        "timestamp": now,
                        "processingTimeMillis": 12,
                        "recipients": destination,
                        "spamVerdict": {"status": v["spam"]},
                        "virusVerdict": {"status": v["virus"]},
                        "spfVerdict": {"status": v["spf"]},
                        "dkimVerdict": {"status": v["dkim"]},
                        "dmarcVerdict": {"status": v["dmarc"]},
                        "dmarcPolicy": "none",
                        "action": {
                            "type": "Lambda",
                            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn_name}",
                            "invocationType": rule["invocation_type"],
                        },
                    },
                },
            }
        ]
    }


def new_ses_message_id() -> str:
    """An id shaped like SES's inbound message ids (lower-case alphanumerics)."""
    return uuid.uuid4().hex + os.urandom(6).hex()[:8]


def receive(
    stack: Stack, raw: bytes, verdicts: dict[str, str] | None = None, message_id: str | None = None
) -> dict[str, Any]:
    """What SES does for one message the receipt rule matches: S3 action, then the Lambda action."""
    import boto3

    rule = receipt_rule(stack)
    message_id = message_id or new_ses_message_id()
    boto3.client("s3").put_object(Bucket=rule["bucket"], Key=rule["prefix"] + message_id, Body=raw)
    event = ses_event(stack, raw, message_id, verdicts)
    return {"message_id": message_id, **invoke_async(stack, rule["function"], event)}


def feedback_function(stack: Stack) -> tuple[str, str]:
    """(function, topic ARN) of the function subscribed to the SES configuration set's SNS destination."""
    topics = set()
    for res in stack.sam["Resources"].values():
        if res.get("Type") == "AWS::SES::ConfigurationSetEventDestination":
            sns = res["Properties"]["EventDestination"].get("SnsDestination") or {}
            topics.add(str((sns.get("TopicARN") or {}).get("Ref")))
    for name, fn in stack.functions.items():
        for ev in fn.spec.events:
            if ev.type == "SNS" and str((ev.properties.get("Topic") or {}).get("Ref")) in topics:
                return name, _resolver(stack).resolve(ev.properties["Topic"])
    raise LookupError("no function subscribed to the SES feedback topic in template.yaml")


def publish_feedback(stack: Stack, notification: dict[str, Any]) -> dict[str, Any]:
    """SES -> SNS -> function: an SNS event carrying one SES notification."""
    function, topic_arn = feedback_function(stack)
    message_id = str(uuid.uuid4())
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": None,
                    "Message": json.dumps(notification),
                    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "SignatureVersion": "1",
                    "Signature": "bG9jYWw=",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-local.pem",
                    "UnsubscribeUrl": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&s={message_id}",
                    "MessageAttributes": {},
                },
            }
        ]
    }
    return invoke_async(stack, function, event)


def invoke_async(stack: Stack, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Lambda's asynchronous invocation with the function's EventInvokeConfig (retries, OnFailure queue)."""
    props = stack.sam["Resources"][function]["Properties"]
    config = props.get("EventInvokeConfig") or {}
    retries = int(config.get("MaximumRetryAttempts", 2))
    fn = stack.functions[function]
    error: BaseException | None = None
    for attempt in range(1, retries + 2):
        try:
            return {"invocations": attempt, "result": fn.invoke(event)}
        except Exception as err:  # what the Lambda service sees as a function error
            error = err
            log.warning("%s: async invocation %d failed: %s", function, attempt, err)
    dest = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    sent_to = None
    if dest is not None:
        arn = _resolver(stack).resolve(dest)
        queue = next((n for n, a in stack.attributes.items() if a.get("Arn") == arn), None)
        if queue:
            import boto3

            record = {
                "version": "1.0",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ecrm-local-{function}"
                    + ":$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": retries + 1,
                },
                "requestPayload": event,
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "responsePayload": {
                    "errorMessage": str(error)[:1000],
                    "errorType": type(error).__name__,
                    "stackTrace": traceback.format_exception(error)[-3:] if error else [],
                },
            }
            boto3.client("sqs").send_message(QueueUrl=stack.queue_url(queue), MessageBody=json.dumps(record))
            sent_to = queue
    return {"invocations": retries + 1, "error": f"{type(error).__name__}: {error}", "dead_letter": sent_to}
