"""The ``sns`` channel: Amazon SNS, as Alertmanager 0.25 publishes to it.

:mod:`~tocsin.channels.sns.config` holds the entry's keys (Alertmanager's, plus
``sigv4.secret_key_file``); :mod:`~tocsin.channels.sns.channel` builds and posts the
``Publish`` request; :mod:`~tocsin.channels.sns.aws` finds credentials and signs with
AWS Signature Version 4, both by botocore. This module is the plugin (entry point ``sns``).

Failures: SNS answers 200; a 4xx (a bad ARN, a refused signature, no permission) is not
retried, 5xx is (and 408 / 429). Credentials that cannot be found or a role that cannot
be assumed fail the attempt for good, naming the ``sigv4`` key.
"""

from __future__ import annotations

from tocsin import hookimpl
from tocsin.channels import ChannelKind
from tocsin.channels.sns.channel import SNSChannel
from tocsin.channels.sns.config import SigV4Config, SNSConfig

__all__ = ["SNSChannel", "SNSConfig", "SigV4Config", "tocsin_channel_kinds"]


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("sns", SNSConfig, SNSChannel)]
