"""The URL fetcher: its SSRF policy, against a real HTTP(S) server on loopback (never the internet)."""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pgsimilar.errors import FetchFailed, InvalidInput, PgsimilarError, UrlRefused
from pgsimilar.media.fetch import (
    FetchLimits,
    allowed_address,
    check_url,
    fetch_url,
    refusal_reason,
    safe_filename,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
LOCAL = FetchLimits(allow_private_addresses=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest's output for the tests

    def do_GET(self) -> None:
        self.server.hits += 1
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        for prefix, route in ROUTES.items():
            if parts.path.startswith(prefix):
                try:
                    route(self, parts.path[len(prefix) :], query)
                except (ConnectionError, ssl.SSLError):
                    self.close_connection = True  # the client hung up, as some tests mean it to
                return
        self.send_error(404)

    def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def drip(self, declared: int, pieces: list[tuple[bytes, float]]) -> None:
        """Declare ``declared`` bytes, then send each piece after waiting its delay (or until stopped)."""
        self.send_response(200)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        for piece, delay in pieces:
            if self.server.stop.wait(delay):
                break
            self.wfile.write(piece)
            self.wfile.flush()
        self.close_connection = True


def _redirect(handler: _Handler, location: str, status: int = 302) -> None:
    handler.reply(status, Location=location)


def _sleepy_redirect(handler: _Handler) -> None:
    handler.server.stop.wait(0.4)
    _redirect(handler, "/redirect/sleepy")


def _chunked(handler: _Handler, size: int) -> None:
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    handler.wfile.write(b"0\r\n\r\n")


Route = Callable[[_Handler, str, dict[str, str]], None]
ROUTES: dict[str, Route] = {
    "/image.png": lambda h, rest, q: h.reply(200, PNG, Content_Type="image/png"),
    "/notes.txt": lambda h, rest, q: h.reply(
        200, "café".encode("latin-1"), Content_Type="Text/Plain; charset=ISO-8859-1"
    ),
    "/files/": lambda h, rest, q: h.reply(200, b"file"),
    "/disposition": lambda h, rest, q: h.reply(
        200, b"pdf", Content_Disposition="attachment; filename*=UTF-8''..%2F..%2Fr%C3%A9sum%C3%A9%07.pdf"
    ),
    "/echo-host": lambda h, rest, q: h.reply(
        200, (h.headers["Host"] or "").encode(), Content_Type="text/plain"
    ),
    "/redirect/relative": lambda h, rest, q: _redirect(h, "absolute"),
    "/redirect/absolute": lambda h, rest, q: _redirect(
        h, f"http://127.0.0.1:{h.server.server_address[1]}/image.png", 301
    ),
    "/redirect/loop": lambda h, rest, q: _redirect(h, "/redirect/loop"),
    "/redirect/no-location": lambda h, rest, q: h.reply(302),
    "/redirect/sleepy": lambda h, rest, q: _sleepy_redirect(h),
    "/chain/": lambda h, rest, q: (
        _redirect(h, f"/chain/{int(rest) - 1}", 307)
        if int(rest)
        else h.reply(200, PNG, Content_Type="image/png")
    ),
    "/to": lambda h, rest, q: _redirect(h, q["url"], int(q.get("status", "302"))),
    "/status/": lambda h, rest, q: h.send_error(int(rest)),
    "/slow": lambda h, rest, q: h.drip(100, [(b"x", 0.1)] * 100),
    "/stall": lambda h, rest, q: h.drip(100, [(b"x" * 10, 0.0), (b"x" * 10, 0.6), (b"x" * 10, 10.0)]),
    "/chunked": lambda h, rest, q: _chunked(h, int(q["size"])),
    "/declared-big": lambda h, rest, q: h.drip(10**9, [(b"x" * 10, 0.0)]),
    "/short": lambda h, rest, q: h.drip(100, [(b"x" * 10, 0.0)]),
}


class _Server(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], family: socket.AddressFamily = socket.AF_INET) -> None:
        self.address_family = family
        self.hits = 0
        self.stop = threading.Event()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-body is what several tests do on purpose


@dataclass
class Running:
    server: _Server
    url: str
    names: list[str | None] = field(default_factory=list)  # TLS server names (SNI) received
    cafile: Path | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def _serve(server: _Server, scheme: str, host: str) -> Iterator[Running]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Running(server, f"{scheme}://{host}:{server.server_address[1]}")
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def server() -> Iterator[Running]:
    yield from _serve(_Server(("127.0.0.1", 0)), "http", "127.0.0.1")


@pytest.fixture(scope="module")
def server6() -> Iterator[Running]:
    try:
        server = _Server(("::1", 0), socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    yield from _serve(server, "http", "[::1]")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """An HTTPS server whose certificate names only ``fetch.test``: no IP address, so a client that
    checked the certificate against the address it connects to would refuse it."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    command += " -subj /CN=fetch.test -addext subjectAltName=DNS:fetch.test"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = _Server(("127.0.0.1", 0))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in _serve(server, "https", "fetch.test"):
        running.names, running.cafile = names, cert
        yield running


@dataclass
class FakeDns:
    """Answers for made-up names; each lookup takes the next answer (the last one repeats)."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def __setitem__(self, name: str, addresses: list[str]) -> None:
        self.answers[name] = [addresses]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in fake.answers:
            return real(host, port, *args, **kwargs)  # address literals, on their way to connect()
        fake.lookups.append(host)
        queue = fake.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [info for address in addresses for info in real(address, port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


# The address policy, without any network


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:127.0.0.1", "embeds"),
        ("2002:7f00:1::", "embeds"),  # 6to4 around 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "embeds"),  # Teredo, client 192.0.2.45
        ("64:ff9b::a9fe:a9fe", "embeds"),  # NAT64 around 169.254.169.254
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
    ],
)
def test_refused_addresses(address: str, words: str) -> None:
    reason = refusal_reason(ipaddress.ip_address(address))
    assert reason is not None
    assert words in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "2002:808:808::"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_a_name_is_refused_when_any_of_its_addresses_is() -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["8.8.8.8", "10.0.0.7"]

    with pytest.raises(UrlRefused, match=r"10\.0\.0\.7 is a private.*PGSIMILAR_URL_ALLOW_PRIVATE_ADDRESSES"):
        allowed_address("mixed.test", 80, FetchLimits(), resolve)
    assert allowed_address("mixed.test", 80, LOCAL, resolve) == ipaddress.ip_address("8.8.8.8")
    assert allowed_address("public.test", 80, FetchLimits(), lambda h, p: ["2606:4700:4700::1111"]) == (
        ipaddress.ip_address("2606:4700:4700::1111")
    )


def test_a_name_that_does_not_resolve_fails() -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(FetchFailed, match=r"cannot resolve nowhere\.test"):
        allowed_address("nowhere.test", 80, FetchLimits(), resolve)
    with pytest.raises(FetchFailed, match="no addresses"):
        allowed_address("empty.test", 80, FetchLimits(), lambda h, p: [])


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/file", "only http and https"),
        ("gopher://example.com:70/_", "only http and https"),
        ("data:text/plain,hello", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http:///path-only", "no host"),
        ("http://user:pass@example.com/", "user name or password"),
        ("http://example.com/" + "a" * 2048, "at most 2048"),
        ("http://example.com:99999/", "port 99999"),
        ("http://127.0.0.1/", "loopback"),
        ("http://[::1]:8080/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ],
)
def test_check_url_refuses(url: str, words: str) -> None:
    with pytest.raises(UrlRefused, match=words):
        check_url(url, FetchLimits())


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.png",
        "https://example.com:8443/x?y=1",
        "http://example.com:1/",
        "HTTP://Example.COM/",
    ],
)
def test_check_url_accepts(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any) -> Any:
        raise AssertionError("check_url looked a name up")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    check_url(url, FetchLimits())


def test_address_literals_are_allowed_by_the_setting() -> None:
    check_url("http://127.0.0.1:8080/", LOCAL)
    check_url("http://[fd00:ec2::254]/", LOCAL)


def test_errors_fit_the_tree() -> None:
    assert issubclass(UrlRefused, InvalidInput)
    assert issubclass(FetchFailed, PgsimilarError)
    assert not issubclass(FetchFailed, InvalidInput)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("..\\windows\\system32.dll", "system32.dll"),
        ("bad\x00na\x1bme\x7f.txt", "badname.txt"),
        ("  .hidden.  ", "hidden"),
        ("..", "download"),
        ("", "download"),
        ("a" * 300 + ".jpeg", "a" * 195 + ".jpeg"),
        ("b" * 300, "b" * 200),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected


# Fetching from the loopback server


def test_fetch_an_image(server: Running) -> None:
    fetched = fetch_url(f"{server.url}/image.png", LOCAL)
    assert fetched.data == PNG
    assert fetched.content_type == "image/png"
    assert fetched.charset is None
    assert fetched.filename == "image.png"
    assert fetched.url == f"{server.url}/image.png"


def test_fetch_text_with_a_charset(server: Running) -> None:
    fetched = fetch_url(f"{server.url}/notes.txt", LOCAL)
    assert (fetched.content_type, fetched.charset) == ("text/plain", "iso-8859-1")
    assert fetched.data.decode("iso-8859-1") == "café"


@pytest.mark.parametrize(
    ("path", "filename"),
    [
        ("/files/r%C3%A9sum%C3%A9%20v2.pdf?download=1", "résumé v2.pdf"),
        ("/files/a%2F..%2Fb%00.txt", "b.txt"),
        ("/files/", "download"),
        ("/disposition", "résumé.pdf"),
    ],
)
def test_filenames_from_the_url_or_content_disposition(server: Running, path: str, filename: str) -> None:
    assert fetch_url(f"{server.url}{path}", LOCAL).filename == filename


def test_the_default_policy_refuses_loopback_without_connecting(server: Running) -> None:
    hits = server.server.hits
    for host in ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1"]:
        with pytest.raises(UrlRefused, match=r"127\.0\.0\.1 is a loopback.*PGSIMILAR_URL_ALLOW_PRIVATE"):
            fetch_url(f"http://{host}:{server.port}/image.png")
    with pytest.raises(UrlRefused, match="not a valid URL"):  # httpx will not guess at octal
        fetch_url(f"http://0177.0.0.1:{server.port}/image.png")
    assert server.server.hits == hits


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f.1"])
def test_numeric_and_named_hosts_reach_the_address_they_resolve_to(server: Running, host: str) -> None:
    fetched = fetch_url(f"http://{host}:{server.port}/echo-host", LOCAL)
    assert fetched.data == f"{host}:{server.port}".encode()


def test_ipv6_literals(server6: Running) -> None:
    with pytest.raises(UrlRefused, match="loopback"):
        fetch_url(f"{server6.url}/image.png")
    assert fetch_url(f"{server6.url}/echo-host", LOCAL).data == f"[::1]:{server6.port}".encode()


def test_the_connection_goes_to_the_address_that_was_checked(server: Running, dns: FakeDns) -> None:
    # A rebinding name: public-looking first, then an address that must never be connected to.
    dns.answers["rebind.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    fetched = fetch_url(f"http://rebind.test:{server.port}/echo-host", LOCAL)
    assert fetched.data == f"rebind.test:{server.port}".encode()
    assert fetched.url == f"http://rebind.test:{server.port}/echo-host"
    assert dns.lookups == ["rebind.test"]


def test_a_name_resolving_to_ipv6_is_connected_by_bracketed_literal(server6: Running, dns: FakeDns) -> None:
    dns["six.test"] = ["::1"]
    assert (
        fetch_url(f"http://six.test:{server6.port}/echo-host", LOCAL).data
        == f"six.test:{server6.port}".encode()
    )


def test_https_uses_the_real_name_for_sni_and_the_certificate(tls_server: Running, dns: FakeDns) -> None:
    dns["fetch.test"] = ["127.0.0.1"]
    verify = ssl.create_default_context(cafile=str(tls_server.cafile))
    with httpx.Client(verify=verify, trust_env=False) as client:
        fetched = fetch_url(f"{tls_server.url}/echo-host", LOCAL, client=client)
    assert fetched.data == f"fetch.test:{tls_server.port}".encode()
    assert tls_server.names[-1] == "fetch.test"


def test_https_checks_the_certificate_of_each_name(tls_server: Running, dns: FakeDns) -> None:
    # The certificate names fetch.test only. Another name at the same address must not ride on the
    # connection (and certificate check) made for fetch.test, and the bare address must fail too.
    dns["fetch.test"] = dns["other.test"] = ["127.0.0.1"]
    verify = ssl.create_default_context(cafile=str(tls_server.cafile))
    with httpx.Client(verify=verify, trust_env=False) as client:
        fetch_url(f"{tls_server.url}/echo-host", LOCAL, client=client)
        for host in ["other.test", "127.0.0.1"]:
            with pytest.raises(FetchFailed, match=r"CERTIFICATE_VERIFY_FAILED"):
                fetch_url(f"https://{host}:{tls_server.port}/echo-host", LOCAL, client=client)


def test_the_request_names_the_address_and_keeps_host_and_sni(dns: FakeDns) -> None:
    dns["public.test"] = ["93.184.216.34"]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok")

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        fetched = fetch_url("https://public.test/doc.pdf", client=client)  # the default policy
    assert fetched.data == b"ok"
    [request] = seen
    assert str(request.url) == "https://93.184.216.34/doc.pdf"
    assert request.headers["host"] == "public.test"
    assert request.extensions["sni_hostname"] == "public.test"


# Redirects


def test_relative_and_absolute_redirects(server: Running) -> None:
    fetched = fetch_url(f"{server.url}/redirect/relative", LOCAL)
    assert fetched.data == PNG
    assert fetched.url == f"{server.url}/image.png"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_statuses(server: Running, status: int) -> None:
    assert fetch_url(f"{server.url}/to?status={status}&url=/notes.txt", LOCAL).filename == "notes.txt"


def test_at_most_max_redirects(server: Running) -> None:
    assert (
        fetch_url(f"{server.url}/chain/3", FetchLimits(max_redirects=3, allow_private_addresses=True)).data
        == PNG
    )
    with pytest.raises(FetchFailed, match="more than 3 redirects"):
        fetch_url(f"{server.url}/chain/4", FetchLimits(max_redirects=3, allow_private_addresses=True))
    with pytest.raises(FetchFailed, match="more than 5 redirects"):
        fetch_url(f"{server.url}/redirect/loop", LOCAL)


def test_a_redirect_without_location_fails(server: Running) -> None:
    with pytest.raises(FetchFailed, match="302"):
        fetch_url(f"{server.url}/redirect/no-location", LOCAL)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/_"])
def test_redirects_to_other_schemes_are_refused(server: Running, target: str) -> None:
    with pytest.raises(UrlRefused, match=r"redirected to a refused URL.*only http and https"):
        fetch_url(f"{server.url}/to?url={target}", LOCAL)


def test_redirects_are_followed_by_hand_even_if_the_client_would(server: Running) -> None:
    with (
        httpx.Client(follow_redirects=True) as client,
        pytest.raises(UrlRefused, match="only http and https"),
    ):
        fetch_url(f"{server.url}/to?url=file:///etc/passwd", LOCAL, client=client)


def test_each_hop_is_resolved_and_checked(dns: FakeDns) -> None:
    # A public host redirecting inside: the default policy lets the first hop through and no other.
    dns["public.test"] = ["93.184.216.34"]
    dns["metadata.test"] = ["169.254.169.254"]
    targets = ["http://metadata.test/latest/meta-data/", "http://0x0a.1/admin", "http://[::ffff:10.0.0.1]/"]
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        return httpx.Response(302, headers={"Location": targets[len(requests) - 1]})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        for words in ["169.254.169.254 is a cloud metadata", "10.0.0.1 is a private", "embeds"]:
            with pytest.raises(UrlRefused, match=rf"redirected to a refused URL.*{re.escape(words)}"):
                fetch_url("http://public.test/start", client=client)
    assert requests == ["http://93.184.216.34/start"] * 3


# Limits and failures


def test_the_deadline_covers_a_slow_body(server: Running) -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="took longer than 1 s"):
        fetch_url(f"{server.url}/slow", FetchLimits(timeout_seconds=1, allow_private_addresses=True))
    assert 0.9 < time.monotonic() - started < 1.5


def test_the_deadline_spans_redirects(server: Running) -> None:
    # Each hop takes 0.4 s, well within 1 s; the third one runs out of the time the first two left.
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="took longer than 1 s"):
        fetch_url(
            f"{server.url}/redirect/sleepy", FetchLimits(timeout_seconds=1, allow_private_addresses=True)
        )
    assert 0.9 < time.monotonic() - started < 1.5


def test_the_deadline_cuts_a_read_stalled_late(server: Running) -> None:
    # The stall starts 0.6 s in: a read timeout alone (1 s from then) would end it at 1.6 s.
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="took longer than 1 s"):
        fetch_url(f"{server.url}/stall", FetchLimits(timeout_seconds=1, allow_private_addresses=True))
    assert 0.9 < time.monotonic() - started < 1.4


def test_a_chunked_body_over_the_limit_is_cut(server: Running) -> None:
    limits = FetchLimits(max_bytes=200_000, allow_private_addresses=True)
    assert len(fetch_url(f"{server.url}/chunked?size=131072", limits).data) == 131072
    with pytest.raises(FetchFailed, match=r"larger than 200000 bytes$"):
        fetch_url(f"{server.url}/chunked?size=4194304", limits)


def test_a_declared_length_over_the_limit_is_refused_before_reading(server: Running) -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"larger than 1000 bytes \(Content-Length 1000000000\)"):
        fetch_url(f"{server.url}/declared-big", FetchLimits(max_bytes=1000, allow_private_addresses=True))
    assert time.monotonic() - started < 0.5


def test_a_body_shorter_than_declared_fails(server: Running) -> None:
    with pytest.raises(FetchFailed, match="RemoteProtocolError"):
        fetch_url(f"{server.url}/short", LOCAL)


@pytest.mark.parametrize("status", [404, 500])
def test_error_statuses(server: Running, status: int) -> None:
    with pytest.raises(FetchFailed, match=f"HTTP {status}"):
        fetch_url(f"{server.url}/status/{status}", LOCAL)


def test_connection_refused() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(FetchFailed, match="ConnectError"):
        fetch_url(f"http://127.0.0.1:{port}/", LOCAL)


def test_a_name_that_does_not_resolve(dns: FakeDns) -> None:
    dns["nowhere.test"] = []
    with pytest.raises(FetchFailed, match=r"cannot resolve nowhere\.test"):
        fetch_url("http://nowhere.test/x.png")
