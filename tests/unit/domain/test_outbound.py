"""The SSRF guard: which addresses outbound requests (webhooks) may reach."""

from __future__ import annotations

import ipaddress

import pytest

from moorage.core.errors import BadRequest
from moorage.domain.outbound import OutboundGuard, OutboundRefused


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.1.2.3:8080/hook", "http://[::1]/", "http://localhost/",
    "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/", "http://10.0.0.1/", "http://172.16.5.4/",
    "http://192.168.1.1/", "http://[fd00::1]/", "http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/",
    "http://[ff02::1]/", "http://100.64.0.1/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::]/", "http://[64:ff9b::a00:1]/", "http://2130706433/", "http://0x7f.1/",
    "https://127.0.0.1:8443/",
])
async def test_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await OutboundGuard([]).resolve(url)
    assert caught.value.status == 400
    assert "outbound.allowed_networks" in caught.value.message


async def test_refusal_names_the_class() -> None:
    guard = OutboundGuard([])
    for url, reason in [("http://127.0.0.1/", "loopback"), ("http://169.254.169.254/", "link-local"),
                        ("http://10.0.0.1/", "private"), ("http://[fd12::1]/", "unique-local"),
                        ("http://239.1.1.1/", "multicast"), ("http://0.0.0.0/", "unspecified")]:
        with pytest.raises(OutboundRefused, match=reason):
            await guard.resolve(url)


async def test_public_addresses_pass() -> None:
    dest = await OutboundGuard([]).resolve("https://93.184.215.14:8443/hook?x=1")
    assert (dest.scheme, dest.host, dest.port, dest.addresses) == ("https", "93.184.215.14", 8443, ("93.184.215.14",))
    assert (await OutboundGuard([]).resolve("http://[2606:4700::1111]/")).addresses == ("2606:4700::1111",)


async def test_allowed_networks_let_private_addresses_through() -> None:
    guard = OutboundGuard(["127.0.0.0/8", "10.1.0.0/16"])
    assert (await guard.resolve("http://127.0.0.1:9000/")).addresses == ("127.0.0.1",)
    assert (await guard.resolve("http://10.1.2.3/")).port == 80
    assert (await OutboundGuard(["127.0.0.0/8", "::1/128"]).resolve("http://localhost/")).addresses
    assert (await guard.resolve("http://[::ffff:127.0.0.1]/")).addresses == ("::ffff:7f00:1",)
    with pytest.raises(OutboundRefused):
        await guard.resolve("http://10.2.0.1/")
    with pytest.raises(OutboundRefused):
        await guard.resolve("http://169.254.169.254/")


def test_refusal_judges_embedded_ipv4() -> None:
    guard = OutboundGuard([])
    assert guard.refusal(ipaddress.ip_address("8.8.8.8")) is None
    assert guard.refusal(ipaddress.ip_address("::ffff:8.8.8.8")) is None  # judged by the IPv4 address it maps
    assert guard.refusal(ipaddress.ip_address("::ffff:10.0.0.1")) is not None
    assert "127.0.0.1" in (guard.refusal(ipaddress.ip_address("2002:7f00:1::")) or "")


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http:///nohost",
                                 "example.com", "http://[::1/", "http://host:99999/"])
async def test_rejects_malformed_urls(url: str) -> None:
    with pytest.raises(BadRequest):
        await OutboundGuard([]).resolve(url)


async def test_unresolvable_host_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="cannot resolve"):
        await OutboundGuard([]).resolve("http://no-such-host.invalid/")


def test_bad_allowed_network_is_an_error() -> None:
    with pytest.raises(ValueError):
        OutboundGuard(["not-a-cidr"])
