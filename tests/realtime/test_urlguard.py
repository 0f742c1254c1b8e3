"""Webhook destinations: public addresses only, checked on the resolved address."""

from __future__ import annotations

import asyncio

import pytest

from segmint.realtime.urlguard import (
    REFUSED,
    DestinationPolicy,
    DestinationRefused,
    DestinationUnresolved,
    resolve_destination,
)

NAMES = {
    "public.example": ["93.184.216.34"],
    "internal.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "loop.example": ["127.0.0.1"],
    "mixed.example": ["93.184.216.34", "192.168.1.1"],  # one private answer is enough
    "v6private.example": ["fd12::1"],
}


async def fake_resolver(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise OSError("no such name")
    return NAMES[host]


def check(url: str, policy: DestinationPolicy | None = None, resolver=fake_resolver):
    return asyncio.run(resolve_destination(url, policy or DestinationPolicy(), resolver))


HOSTILE = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://172.31.255.255/",
    "http://192.168.0.10/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://192.0.2.1/",  # documentation
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, IPv4-mapped
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://2130706433/",  # 127.0.0.1 in decimal
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://8.8.8.8.8/x",  # not a host at all
    "http://internal.example/hook",
    "http://metadata.example/",
    "http://loop.example/",
    "http://mixed.example/",
    "http://v6private.example/",
    "http://unknown.example/",  # does not resolve: refused at registration
    "ftp://public.example/",
    "file:///etc/passwd",
    "http:///nohost",
    "http://public.example:99999/",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_destinations_refused_with_one_message(url):
    with pytest.raises(DestinationRefused) as info:
        check(url)
    assert str(info.value) == REFUSED  # the same words whatever the reason: no probing


def test_public_destinations_pass_and_give_the_checked_address():
    dest = check("https://public.example/hook?x=1")
    assert (dest.host, dest.port, dest.address) == ("public.example", 443, "93.184.216.34")
    assert check("http://93.184.216.34:8080/").port == 8080
    assert check("http://[2606:4700::1111]/").address == "2606:4700::1111"


def test_unresolved_name_is_its_own_kind():
    with pytest.raises(DestinationUnresolved):
        check("http://unknown.example/")


def test_localhost_refused_through_the_real_resolver():
    with pytest.raises(DestinationRefused):
        check("http://localhost:8080/hook", resolver=None)


def test_loopback_flag_lets_loopback_only():
    policy = DestinationPolicy(allow_loopback=True, own_port=8000)
    assert check("http://127.0.0.1:9000/", policy).address == "127.0.0.1"
    assert check("http://[::1]:9000/", policy).address == "::1"
    assert check("http://loop.example:9000/", policy).address == "127.0.0.1"
    assert check("http://localhost:9000/", policy, resolver=None).address in ("127.0.0.1", "::1")
    for url in (
        "http://127.0.0.1:8000/",  # the service itself
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fd00:ec2::254]/",
        "http://internal.example/",
        "http://0.0.0.0:9000/",
    ):
        with pytest.raises(DestinationRefused):
            check(url, policy)


def test_rebinding_name_is_checked_on_every_resolution():
    answers = [["93.184.216.34"], ["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    assert check("http://rebind.example/", resolver=rebinding).address == "93.184.216.34"
    with pytest.raises(DestinationRefused):  # the second look (delivery) sees the new answer
        check("http://rebind.example/", resolver=rebinding)
