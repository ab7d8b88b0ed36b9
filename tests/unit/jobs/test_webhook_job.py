"""The WEBHOOK job connects to the address the SSRF guard checked, not to a fresh lookup."""

from __future__ import annotations

from moorage.domain.outbound import Destination
from moorage.jobs.tasks.webhook import _request_target


def test_pins_the_checked_address_and_keeps_the_name() -> None:
    dest = Destination("https://hooks.example.com:8443/in?x=1", "https", "hooks.example.com", 8443,
                       ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"))
    url, headers, extensions = _request_target(dest, dest.addresses[0])
    assert str(url) == "https://93.184.215.14:8443/in?x=1"
    assert headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}  # certificate checked against the name
    url, _, _ = _request_target(dest, dest.addresses[1])
    assert str(url) == "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/in?x=1"


def test_plain_http_and_literal_addresses_need_no_sni() -> None:
    dest = Destination("http://127.0.0.1:9000/hook", "http", "127.0.0.1", 9000, ("127.0.0.1",))
    url, headers, extensions = _request_target(dest, "127.0.0.1")
    assert (str(url), headers, extensions) == ("http://127.0.0.1:9000/hook", {"Host": "127.0.0.1:9000"}, {})
