"""The WEBHOOK job: POST one event's rendered payload to one target.  A non-2xx answer or a
network error fails the attempt (retried with backoff); each attempt's outcome goes to the
task log.  The target is re-checked by the SSRF guard and the request pinned to the checked
address; redirects are not followed."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from moorage.config.settings import OutboundSettings, WebhookSettings
from moorage.domain.outbound import Destination, OutboundRefused
from moorage.domain.webhooks import WEBHOOK_JOB, WebhookService
from moorage.jobs.registry import JobSpec, TaskContext, TaskStopped

USER_AGENT = "moorage-webhook"


class DeliveryFailed(Exception):
    """The receiver did not accept the delivery (the attempt is retried)."""


def _request_target(dest: Destination, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL with its host replaced by the checked address, the Host header and, for HTTPS to
    a name, the SNI/certificate name: the connection goes where the guard looked."""
    url = httpx.URL(dest.url)
    headers = {"Host": url.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if dest.scheme == "https" and dest.host not in dest.addresses:
        extensions["sni_hostname"] = dest.host
    return url.copy_with(host=address), headers, extensions


async def _post(ctx: TaskContext, dest: Destination, content: bytes, headers: dict[str, str], verify: bool,
                timeout: float) -> httpx.Response:
    """POST to the first address that accepts a connection."""
    failure: Exception | None = None
    async with httpx.AsyncClient(verify=verify, timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for address in dest.addresses:
            url, host, extensions = _request_target(dest, address)
            try:
                return await client.post(url, content=content, headers={**headers, **host}, extensions=extensions)
            except httpx.ConnectError as exc:
                await ctx.log(f"attempt {ctx.attempt}: cannot connect to {address}: {exc or type(exc).__name__}")
                failure = exc
    assert failure is not None
    raise failure


def webhook_job(webhooks: WebhookService, outbound: OutboundSettings, settings: WebhookSettings) -> JobSpec:
    async def run(ctx: TaskContext) -> None:
        params = ctx.params
        address = str(params["address"])
        auth = await webhooks.auth_header(int(params["policy_id"]), int(params.get("target_index", -1)), address)
        if auth is None:
            await ctx.log(f"webhook policy {params['policy_id']} was deleted: nothing delivered")
            raise TaskStopped()
        if await ctx.stopping():
            raise TaskStopped()
        started = time.monotonic()
        try:
            dest = await webhooks.guard.resolve(address)
        except OutboundRefused as exc:
            await ctx.log(f"attempt {ctx.attempt}: {exc.message}")
            raise DeliveryFailed(exc.message) from None
        headers = {"Content-Type": str(params.get("content_type") or "application/json"), "User-Agent": USER_AGENT}
        if auth:
            headers["Authorization"] = auth
        content = json.dumps(params.get("body"), separators=(",", ":")).encode()
        try:
            response = await _post(ctx, dest, content, headers, not params.get("skip_cert_verify"),
                                   outbound.timeout_seconds)
        except httpx.HTTPError as exc:
            elapsed = int((time.monotonic() - started) * 1000)
            message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await ctx.log(f"attempt {ctx.attempt}: POST {address} failed after {elapsed} ms: {message}")
            raise DeliveryFailed(f"POST {address} failed: {message}") from None
        elapsed = int((time.monotonic() - started) * 1000)
        await ctx.log(f"attempt {ctx.attempt}: POST {address} ({params.get('event_type')}, "
                      f"{params.get('payload_format')}) -> {response.status_code} in {elapsed} ms")
        if not 200 <= response.status_code < 300:
            snippet = response.text[:200].replace("\n", " ")
            raise DeliveryFailed(f"{address} answered {response.status_code}" + (f": {snippet}" if snippet else ""))

    return JobSpec(WEBHOOK_JOB, run, max_retries=settings.max_retries,
                   timeout_seconds=outbound.timeout_seconds * 3 + 30, backoff_seconds=settings.backoff_seconds)
