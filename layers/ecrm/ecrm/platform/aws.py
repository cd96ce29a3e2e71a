"""boto3 clients, created lazily and once per container.

`AWS_ENDPOINT_URL` (honoured by botocore itself) points every client at the local moto server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ecrm.platform import coldstart


@cache
def _session() -> Any:
    import boto3  # deferred: a function that never calls AWS never pays for boto3

    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    """A cached boto3 client for `service`, with retries tuned for Lambda."""
    with coldstart.one_time_setup():  # a client (and boto3, on first use) lives as long as the container
        from botocore.config import Config

        return _session().client(service, config=Config(retries={"mode": "standard"}, connect_timeout=2))


def dynamodb() -> Any:
    """The low-level DynamoDB client."""
    return client("dynamodb")


def sqs() -> Any:
    """The SQS client."""
    return client("sqs")


def ses() -> Any:
    """The SES (v1) client: templated and raw sends."""
    return client("ses")


def s3() -> Any:
    """The S3 client."""
    return client("s3")
