"""The sns channel against a local SNS query API that checks ``Publish`` as AWS documents
it (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html) and recomputes each
request's Signature Version 4 itself, from the documented algorithm
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), not botocore."""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qsl, quote

import pytest

from tests.unit.channels.providers import Recorded, alert, context, notification, provider
from tocsin.channels import DeliveryError
from tocsin.channels.sns import SNSChannel, SNSConfig
from tocsin.testing import ConfigError, channel_config, make_config

KEY, SECRET, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:alerts"
OK = (200, '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
           "<MessageId>m-1</MessageId></PublishResult></PublishResponse>")
AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
                  r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
                  r"Signature=(?P<signature>[0-9a-f]{64})")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_problems(r: Recorded, secret: str) -> list[str]:
    """What AWS would refuse in the request's signature, computed here step by step."""
    m = AUTH.fullmatch(r.headers.get("Authorization", ""))
    if not m:
        return [f"Authorization is not SigV4: {r.headers.get('Authorization')!r}"]
    amz_date = r.headers.get("X-Amz-Date", "")
    problems = []
    if m["service"] != "sns" or m["region"] != REGION or not amz_date.startswith(m["date"]):
        problems.append(f"credential scope {m['date']}/{m['region']}/{m['service']} for {amz_date}")
    signed = m["signed"].split(";")
    if signed != sorted(signed) or not {"host", "x-amz-date", "content-type"} <= set(signed):
        problems.append(f"SignedHeaders {signed}")
    lower = {k.lower(): v for k, v in r.headers.items()}
    canonical_headers = "".join(f"{h}:{' '.join(lower.get(h, '').split())}\n" for h in signed)
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                               for k, v in sorted(r.query.items()))
    canonical = "\n".join([r.method, quote(r.path, safe="/-_.~"), canonical_query, canonical_headers,
                           m["signed"], hashlib.sha256(r.body).hexdigest()])
    scope = f"{m['date']}/{m['region']}/{m['service']}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(f"AWS4{secret}".encode(), m["date"])
    for part in (m["region"], m["service"], "aws4_request"):
        key = _hmac(key, part)
    if hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() != m["signature"]:
        problems.append("SignatureDoesNotMatch")
    return problems


def check(r: Recorded, secret: str = SECRET) -> list[str]:
    problems = sigv4_problems(r, secret)
    form_type = "application/x-www-form-urlencoded; charset=utf-8"
    if r.method != "POST" or r.headers.get("Content-Type") != form_type:
        problems.append("a form POST")
    form = dict(parse_qsl(r.body.decode(), keep_blank_values=True))
    if form.get("Action") != "Publish" or form.get("Version") != "2010-03-31":
        problems.append("Action=Publish&Version=2010-03-31")
    if sum(1 for k in ("TopicArn", "TargetArn", "PhoneNumber") if k in form) != 1:
        problems.append("exactly one of TopicArn, TargetArn, PhoneNumber")
    if not form.get("Message") or len(form["Message"].encode()) > 256 * 1024:
        problems.append("Message: 1 byte to 256 KiB")
    return problems


def form(r: Recorded) -> dict[str, str]:
    return dict(parse_qsl(r.body.decode(), keep_blank_values=True))


def sns(url: str, **entry: object) -> SNSConfig:
    return channel_config(SNSConfig, {"api_url": f"{url}/", "topic_arn": TOPIC,
                                      "sigv4": {"region": REGION, "access_key": KEY, "secret_key": SECRET},
                                      **entry})


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch, tmp_path):
    """No credentials, region or files of this machine's, and never the metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


async def test_publish_to_a_topic_signed_and_shaped_as_alertmanager_sends_it():
    n = notification(alert(labels={"instance": "db1"}, annotations={"summary": "full & <hot>"}))
    async with provider(check) as aws, context() as ctx:
        aws.answer = OK
        cfg = sns(aws.url, attributes={"team": "{{ commonLabels.instance }}", "b": "2"})
        await SNSChannel(cfg, ctx).send(n)
    [req] = aws.requests
    assert aws.problems == [[]]
    assert req.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY}/")
    body = req.body.decode()
    assert body.startswith("Action=Publish&Message=full+%26+%3Chot%3E%0A%0AAlerts+Firing%3A")
    assert form(req) == {
        "Action": "Publish",
        "Message": "full & <hot>\n\nAlerts Firing:\nLabels:\n - alertname = DiskFull\n - instance = db1\n"
                   "Annotations:\n - summary = full & <hot>\nSource: http://prometheus:9090/graph?g0.expr=up"
                   "\n\n\n\n",
        "MessageAttributes.entry.1.Name": "b",
        "MessageAttributes.entry.1.Value.DataType": "String",
        "MessageAttributes.entry.1.Value.StringValue": "2",
        "MessageAttributes.entry.2.Name": "team",
        "MessageAttributes.entry.2.Value.DataType": "String",
        "MessageAttributes.entry.2.Value.StringValue": "db1",
        "Subject": "[FIRING:1] DiskFull (db1)",
        "TopicArn": TOPIC,
        "Version": "2010-03-31",
    }
    assert list(form(req)) == sorted(form(req))


async def test_a_fifo_topic_gets_the_group_keys_hash_as_group_and_deduplication_id():
    async with provider(check) as aws, context() as ctx:
        aws.answer = OK
        n = notification()
        await SNSChannel(sns(aws.url, topic_arn=TOPIC + ".fifo"), ctx).send(n)
    digest = hashlib.sha256(n.group_key.encode()).hexdigest()
    assert aws.problems == [[]]
    f = form(aws.requests[0])
    assert f["MessageGroupId"] == f["MessageDeduplicationId"] == digest


async def test_an_sms_is_cut_to_1600_bytes_and_says_so():
    async with provider(check) as aws, context() as ctx:
        aws.answer = OK
        n = notification(alert(annotations={"summary": "ü" * 2000}))
        await SNSChannel(sns(aws.url, topic_arn="", phone_number="+15555550100"), ctx).send(n)
    f = form(aws.requests[0])
    assert aws.problems == [[]]
    assert f["PhoneNumber"] == "+15555550100"
    assert len(f["Message"].encode()) == 1600
    assert (f["MessageAttributes.entry.1.Name"], f["MessageAttributes.entry.1.Value.StringValue"]) == \
        ("truncated", "true")


async def test_credentials_and_region_from_the_environment_with_a_session_token(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    monkeypatch.setenv("AWS_REGION", REGION)
    async with provider(lambda r: check(r, "env-secret")) as aws, context() as ctx:
        aws.answer = OK
        cfg = channel_config(SNSConfig, {"api_url": f"{aws.url}/",
                                         "target_arn": "arn:aws:sns:x:1:endpoint/a"})
        await SNSChannel(cfg, ctx).send(notification())
    [req] = aws.requests
    assert aws.problems == [[]]
    assert req.headers["X-Amz-Security-Token"] == "session-token"
    assert "x-amz-security-token" in req.headers["Authorization"]
    assert "Credential=ASIAENV/" in req.headers["Authorization"]


async def test_a_wrong_signature_is_refused_and_not_retried():
    async with provider(lambda r: check(r, "another-secret")) as aws, context() as ctx:
        with pytest.raises(DeliveryError) as exc:
            await SNSChannel(sns(aws.url), ctx).send(notification())
    assert exc.value.retryable is False
    assert aws.problems == [["SignatureDoesNotMatch"]]


async def test_without_a_region_or_credentials_the_attempt_fails_naming_them():
    async with context() as ctx:
        with pytest.raises(DeliveryError, match=r"region not configured in sns\.sigv4\.region"):
            await SNSChannel(channel_config(SNSConfig, {"topic_arn": TOPIC}), ctx).send(notification())
        cfg = channel_config(SNSConfig, {"topic_arn": TOPIC, "sigv4": {"region": REGION},
                                         "api_url": "http://127.0.0.1:9/"})
        with pytest.raises(DeliveryError, match="no AWS credentials") as exc:
            await SNSChannel(cfg, ctx).send(notification())
        assert exc.value.retryable is False


def test_the_default_endpoint_is_snss_in_the_region():
    from tocsin.channels.sns.aws import default_endpoint

    assert default_endpoint("us-east-1") == "https://sns.us-east-1.amazonaws.com/"
    assert default_endpoint("cn-north-1") == "https://sns.cn-north-1.amazonaws.com.cn/"


@pytest.mark.parametrize(("entry", "where", "message"), [
    ("{sigv4: {region: r}}", "sns_configs[0].topic_arn", "either a Target ARN, Topic ARN, or Phone Number"),
    ("{topic_arn: a, phone_number: '1'}", "sns_configs[0].topic_arn", "either a Target ARN"),
    ("{topic_arn: a, sigv4: {access_key: k}}", "sns_configs[0].sigv4.access_key", "Secret Key"),
    ("{topic_arn: a, sigv4: {region: r, role: x}}", "sns_configs[0].sigv4.role", ""),
])
def test_config_errors_name_the_field(entry, where, message):
    with pytest.raises(ConfigError) as exc:
        make_config(f"route: {{receiver: r}}\nreceivers:\n  - name: r\n    sns_configs: [{entry}]\n")
    assert where in str(exc.value)
    assert message in str(exc.value)


def test_alertmanagers_own_test_lets_all_three_targets_through():
    cfg = channel_config(SNSConfig, {"topic_arn": "a", "phone_number": "1", "target_arn": "b"})
    assert cfg.send_resolved is True


ASSUMED = """<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey>
<SessionToken>role-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/alerts/tocsin</Arn>
<AssumedRoleId>AROA:tocsin</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"""


async def test_role_arn_is_assumed_through_sts_and_its_credentials_sign(monkeypatch):
    role = "arn:aws:iam::123456789012:role/alerts"

    def sts_check(r: Recorded) -> list[str]:
        problems: list[str] = []
        f = form(r)
        if (f.get("Action"), f.get("RoleArn"), f.get("RoleSessionName")) != ("AssumeRole", role, "tocsin"):
            problems.append(f"AssumeRole form {f}")
        auth = r.headers.get("Authorization", "")
        if f"Credential={KEY}/" not in auth or "/sts/" not in auth:
            problems.append("AssumeRole signed with the configured keys for sts")
        return problems

    async with provider(sts_check) as sts, provider(lambda r: check(r, "role-secret")) as aws, \
            context() as ctx:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
        sts.answer = (200, ASSUMED)
        aws.answer = OK
        ch = SNSChannel(sns(aws.url, sigv4={"region": REGION, "access_key": KEY, "secret_key": SECRET,
                                            "role_arn": role}), ctx)
        await ch.send(notification())
        await ch.send(notification())
    assert sts.problems == [[]]  # assumed once, kept until it expires
    assert aws.problems == [[], []]
    assert "Credential=ASIAROLE/" in aws.requests[0].headers["Authorization"]
    assert aws.requests[0].headers["X-Amz-Security-Token"] == "role-token"
