"""``sns_configs``: the entry's keys, Alertmanager 0.25's, with its defaults and checks."""

from __future__ import annotations

import msgspec

from tocsin.channels import ChannelConfig
from tocsin.channels.amtemplates import SNS_MESSAGE, SNS_SUBJECT
from tocsin.channels.http import HTTPConfig
from tocsin.config.types import ConfigBase, Secret
from tocsin.config.validate import field_error
from tocsin.notify.templates import Template

__all__ = ["SNSConfig", "SigV4Config"]


class SigV4Config(ConfigBase):
    """How requests are signed (Prometheus' ``sigv4`` block). With no keys, credentials come
    from the environment as the AWS SDKs find them (``AWS_ACCESS_KEY_ID``..., the shared
    credentials and config files, ``profile``, a container's or an instance's role)."""

    #: Default ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` or the profile's region.
    region: str = ""
    access_key: str = ""
    secret_key: Secret | None = None
    #: A file holding the secret key, read at each send.
    secret_key_file: str | None = None
    #: A profile of the shared AWS config and credentials files.
    profile: str = ""
    #: A role to assume (STS AssumeRole) with the credentials found above.
    role_arn: str = ""

    def __post_init__(self) -> None:
        if self.secret_key and self.secret_key_file:
            raise field_error("secret_key_file", "set secret_key or secret_key_file, not both")
        if bool(self.access_key) != bool(self.secret_key or self.secret_key_file):
            raise field_error("access_key", "must provide a AWS SigV4 Access key and Secret Key if "
                                            "credentials are specified in the SigV4 config")


class SNSConfig(ChannelConfig):
    #: The SNS endpoint (a template); default ``https://sns.<region>.amazonaws.com/``.
    api_url: Template = Template("")
    sigv4: SigV4Config = msgspec.field(default_factory=SigV4Config)
    #: Where to publish (templates): one of a topic, a phone number (SMS) or an endpoint ARN.
    topic_arn: Template = Template("")
    phone_number: Template = Template("")
    target_arn: Template = Template("")
    subject: Template = Template(SNS_SUBJECT)
    message: Template = Template(SNS_MESSAGE)
    #: Message attributes (names and values are templates), sent as String attributes.
    attributes: dict[str, Template] = {}
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        # Alertmanager's own test, an odd number of them unset (so all three set passes).
        if ((self.topic_arn == "") != (self.phone_number == "")) != (self.target_arn == ""):
            raise field_error("topic_arn", "must provide either a Target ARN, Topic ARN, or Phone "
                                           "Number for SNS config")
