"""Webhook targets: what the notifier may post to, checked on the URL as httpx parses it and on
the addresses a name resolves to; URLs shown with their credentials masked."""

from __future__ import annotations

import ipaddress

import pytest

from magickbox.models.webhooks import TargetRefused, check_address, check_target, masked_url, resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/",
        "http://metadata.google.internal/",
        "http://METADATA.google.internal./",
        "http://metadata/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.100.100.200/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://[::1",
        "http://a..b/",
        "http://xn--/",
        "ftp://example.org/",
    ],
)
def test_metadata_link_local_obfuscated_and_unsendable_targets_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_target(url)


def test_loopback_lan_and_names_pass_and_a_setting_allows_more() -> None:
    for url in (
        "http://127.0.0.1:9/hook",
        "https://hooks.example.org/x",
        "http://10.1.2.3/",
        "http://[::1]:80/",
    ):
        check_target(url)
    check_target("http://169.254.169.254/", ["169.254.169.254/32"])
    check_address(ipaddress.ip_address("fe80::1"), ["fe80::/10"])


def test_the_address_a_name_resolves_to_is_checked_and_used() -> None:
    target = resolve("http://localhost:8080/hook?a=1")
    assert target.url.host in ("127.0.0.1", "::1") and target.url.port == 8080
    assert target.host_header == "localhost:8080" and target.extensions() == {"sni_hostname": "localhost"}
    with pytest.raises(TargetRefused, match="link-local"):
        check_address(ipaddress.ip_address("::ffff:169.254.1.1"))


def test_credentials_are_masked_for_showing() -> None:
    shown = masked_url("https://bob:pw123@h.example.org/p?api_key=K1&x=2&access_token=T1")
    assert "pw123" not in shown and "bob" not in shown and "K1" not in shown and "T1" not in shown
    assert shown.startswith("https://********@h.example.org/p?") and "x=2" in shown
    assert "pw" not in masked_url("http://u:pw@[::1/x?token=zz").replace("http", "")
    assert masked_url("http://h.example.org/x") == "http://h.example.org/x"


def test_a_name_that_resolves_to_a_metadata_address_is_refused_at_send_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DNS rebinding: the name was harmless when saved and resolves to the metadata service now.
    def rebound(host: str, port: int, **_kwargs: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", ("169.254.169.254", port))]

    check_target("http://hooks.example.org/x")
    monkeypatch.setattr("socket.getaddrinfo", rebound)
    with pytest.raises(TargetRefused, match=r"169\.254\.169\.254 is link-local"):
        resolve("http://hooks.example.org/x")
