"""AWS credentials and Signature Version 4 for the SNS channel, by botocore.

botocore finds credentials as the AWS SDKs do (the keys in ``sigv4``, else the
environment, the shared files and ``profile``, a container's or an instance's role),
assumes ``sigv4.role_arn`` through STS when it is set (refreshing before expiry), and
signs: :func:`signed_headers` returns the headers of a signed request, which aiohttp
then sends. Finding credentials may read files or call the network (STS, instance
metadata), so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    Credentials,
    DeferredRefreshableCredentials,
    ReadOnlyCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError

from tocsin.channels import DeliveryError
from tocsin.channels.http import secret_from_file
from tocsin.channels.sns.config import SigV4Config

__all__ = ["AWSCredentials", "default_endpoint", "signed_headers"]

#: The session name tocsin gives an assumed role.
ROLE_SESSION_NAME = "tocsin"


def default_endpoint(region: str) -> str:
    """SNS's public endpoint in ``region``."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sns.{region}.{suffix}/"


class AWSCredentials:
    """The region and the credentials of one ``sigv4`` block; what botocore resolves is
    kept (and refreshed by botocore when it can expire)."""

    def __init__(self, config: SigV4Config) -> None:
        self.config = config
        self._session: botocore.session.Session | None = None
        self._resolved: Credentials | None = None
        self._lock = asyncio.Lock()

    def _botocore(self) -> botocore.session.Session:
        if self._session is None:
            self._session = botocore.session.Session(profile=self.config.profile or None)
        return self._session

    def region(self) -> str:
        if self.config.region:
            return self.config.region
        if os.environ.get("AWS_REGION"):  # the Go SDK's variable, which botocore does not read
            return os.environ["AWS_REGION"]
        try:
            region = self._botocore().get_config_variable("region")
        except BotoCoreError as exc:
            raise DeliveryError(f"sigv4: {exc}", retryable=False) from None
        if not region:
            raise DeliveryError("region not configured in sns.sigv4.region or in default credentials chain "
                                "(AWS_REGION, AWS_DEFAULT_REGION, the profile)", retryable=False)
        return str(region)

    def _source(self) -> Credentials:
        c = self.config
        if c.access_key:
            secret = secret_from_file(c.secret_key_file, "sigv4.secret_key_file") if c.secret_key_file \
                else (c.secret_key or "")
            return Credentials(c.access_key, secret)
        found = self._botocore().get_credentials()
        if found is None:
            raise DeliveryError("no AWS credentials: set sigv4.access_key and sigv4.secret_key, or provide "
                                "them as the AWS SDKs look for them (AWS_ACCESS_KEY_ID..., ~/.aws, a role)",
                                retryable=False)
        return found

    def _resolve(self) -> ReadOnlyCredentials:
        if self._resolved is None or self.config.secret_key_file:  # a file is read at each send
            source = self._source()
            if self.config.role_arn:
                source = self._assume_role(source)
            self._resolved = source
        return self._resolved.get_frozen_credentials()

    def _assume_role(self, source: Credentials) -> Credentials:
        create = functools.partial(self._botocore().create_client, region_name=self.region())
        fetcher = AssumeRoleCredentialFetcher(
            create, source, self.config.role_arn, extra_args={"RoleSessionName": ROLE_SESSION_NAME})
        return DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method="assume-role")

    async def frozen(self) -> ReadOnlyCredentials:
        """The credentials to sign with now."""
        async with self._lock:
            try:
                return await asyncio.to_thread(self._resolve)
            except DeliveryError:
                raise
            except ClientError as exc:  # STS refused (AssumeRole)
                self._resolved = None
                raise DeliveryError(f"sigv4.role_arn: {exc}", retryable=False) from None
            except BotoCoreError as exc:
                self._resolved = None
                raise DeliveryError(f"sigv4: {exc}") from None


def signed_headers(creds: ReadOnlyCredentials, region: str, url: str, body: bytes,
                   headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus those of SigV4 (``X-Amz-Date``, ``Authorization`` and, for temporary
    credentials, ``X-Amz-Security-Token``) for a POST of ``body`` to ``url``."""
    req = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(creds, "sns", region).add_auth(req)
    out: dict[str, Any] = dict(req.headers.items())
    return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in out.items()}
