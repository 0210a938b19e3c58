"""Fetching user-supplied http(s) URLs without becoming a proxy into our own network (SSRF).

Threat model: whoever submits an upload job chooses the URL, and the fetch runs from inside our
network. Left alone, it could read cloud metadata (169.254.169.254 hands out credentials), admin
interfaces on loopback or private addresses, or local files through ``file:``. So:

* only ``http``/``https`` URLs with a host, no userinfo, at most 2,048 characters;
* every address the host resolves to must be globally routable (IPv4 embedded in IPv6 included),
  unless ``allow_private_addresses`` (``PGSIMILAR_URL_ALLOW_PRIVATE_ADDRESSES``) says otherwise;
* the connection goes to the very address that was checked, so a DNS answer that changes between
  the check and the connect (DNS rebinding) cannot redirect it; TLS still verifies the real name;
* redirects are followed by hand, each hop checked like the first;
* one deadline covers the whole fetch, and the body stops at ``max_bytes``, so a slow or endless
  server costs a bounded amount of time and memory.
"""

from __future__ import annotations

import contextlib
import email.message
import ipaddress
import socket
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from pgsimilar.errors import FetchFailed, UrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048
MAX_FILENAME_LENGTH = 200
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ALLOW_SETTING = "PGSIMILAR_URL_ALLOW_PRIVATE_ADDRESSES"
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
# Prefixes whose last 32 bits are an IPv4 address the packet may end up at (NAT64, IPv4-compatible).
IPV4_TAIL_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96"))


@dataclass(frozen=True)
class FetchLimits:
    """How much a fetch may cost, and whether it may reach non-public addresses."""

    max_bytes: int = 20 * 1024 * 1024
    timeout_seconds: float = 30.0  # the whole fetch, redirects and body included
    max_redirects: int = 5
    allow_private_addresses: bool = False


@dataclass(frozen=True)
class Fetched:
    """A fetched body and what the server said about it."""

    url: str  # the final URL, after redirects
    content_type: str  # media type without parameters, lower-case; '' when absent
    charset: str | None  # lower-case
    filename: str  # sanitised; 'download' when neither the URL nor the headers give one
    data: bytes


def refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be fetched from by default, or None when it is a public address."""
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        reason = refusal_reason(embedded) if embedded is not None else None
        if reason is not None:
            return f"{ip} embeds an IPv4 address: {reason}"
    for flag, kind in (
        (ip.is_unspecified, "an unspecified"),
        (ip.is_loopback, "a loopback"),
        (ip.is_link_local, "a link-local"),
        (ip.is_multicast, "a multicast"),
        (ip.is_private, "a private"),
        (not ip.is_global, "a non-public"),
    ):
        if flag:
            return f"{ip} is {kind} address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.is_loopback or ip.is_unspecified:  # ::1 and :: lie in ::/96 but embed nothing
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in network for network in IPV4_TAIL_NETWORKS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _refused(url: str, reason: str) -> UrlRefused:
    return UrlRefused(f"refusing to fetch {url[:200]}: {reason}")


def _refused_address(where: str, reason: str) -> UrlRefused:
    return _refused(where, f"{reason}; set {ALLOW_SETTING}=true to allow non-public addresses")


def check_url(url: str, limits: FetchLimits) -> None:
    """Refuse (:class:`UrlRefused`) a URL by its form alone: scheme, host, userinfo, port, length.

    A host written as an IP address is checked against the address policy too; names are only
    checked when :func:`fetch_url` resolves them."""
    _parse(url, limits)


def _parse(url: str, limits: FetchLimits) -> httpx.URL:
    if len(url) > MAX_URL_LENGTH:
        raise _refused(url, f"a URL of {len(url)} characters (at most {MAX_URL_LENGTH})")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise _refused(url, f"not a valid URL ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise _refused(url, "only http and https URLs are fetched")
    if not parsed.raw_host:
        raise _refused(url, "the URL has no host")
    if parsed.userinfo:  # not echoed: it may be a password
        raise _refused(parsed.host, "URLs with a user name or password are not fetched")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise _refused(url, f"port {parsed.port} does not exist")
    try:
        literal: IPAddress | None = ipaddress.ip_address(parsed.host)
    except ValueError:
        literal = None  # a name: checked once resolved
    reason = refusal_reason(literal) if literal is not None else None
    if reason is not None and not limits.allow_private_addresses:
        raise _refused_address(url, reason)
    return parsed


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, as the system resolver gives them (first is preferred)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def allowed_address(host: str, port: int, limits: FetchLimits, resolve: Resolver = resolve_host) -> IPAddress:
    """Resolve ``host`` once and return the address to connect to.

    Refuses the host when any of its addresses is refused, not only the first: which one a later
    lookup or connect would pick is not ours to predict. Numeric forms such as ``2130706433`` or
    ``0x7f.1`` are resolved by the system too, so the policy sees the address they really mean."""
    try:
        addresses = [ipaddress.ip_address(a.partition("%")[0]) for a in resolve(host, port)]
    except (OSError, UnicodeError) as exc:
        raise FetchFailed(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise FetchFailed(f"cannot resolve {host}: no addresses")
    if not limits.allow_private_addresses:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                raise _refused_address(f"{host} ({address})", reason)
    return addresses[0]


def fetch_url(
    url: str, limits: FetchLimits = FetchLimits(), *, client: httpx.Client | None = None
) -> Fetched:
    """GET ``url`` under the SSRF policy and ``limits``, following redirects by hand.

    Raises :class:`UrlRefused` for a URL (or redirect target) the policy refuses, and
    :class:`FetchFailed` for an error status, a timeout, too many redirects, a body over
    ``max_bytes``, or a network or DNS failure.

    ``client`` is used as given, proxy settings included; it should serve nothing else, as a
    connection it keeps open to the same address could carry a request meant for another name.
    Without one, a client that ignores proxy variables is made and closed here."""
    deadline = time.monotonic() + limits.timeout_seconds
    _parse(url, limits)  # before building a client, which costs more than a refusal
    http = client or httpx.Client(trust_env=False)
    current, previous = url, None
    try:
        for _ in range(limits.max_redirects + 1):
            try:
                result = _fetch_once(http, _parse(current, limits), limits, deadline)
            except UrlRefused as exc:
                if previous is None:
                    raise
                raise UrlRefused(f"{previous[:200]} redirected to a refused URL: {exc}") from exc
            if isinstance(result, Fetched):
                return result
            current, previous = result, current
        raise FetchFailed(f"fetching {url[:200]} took more than {limits.max_redirects} redirects")
    finally:
        if client is None:
            http.close()


def _fetch_once(http: httpx.Client, url: httpx.URL, limits: FetchLimits, deadline: float) -> Fetched | str:
    """One request: the fetched body, or the URL a redirect points to (not checked yet)."""
    host = url.raw_host.decode("ascii")
    address = allowed_address(host, url.port or (443 if url.scheme == "https" else 80), limits)
    # The request names the checked address, so no second lookup can swap it; the Host header and
    # the TLS server name (SNI, and the name the certificate must match) stay the original host's.
    # "Connection: close" keeps the pool, keyed by address, from reusing this connection (and its
    # certificate check) for another name at the same address.
    target = url.copy_with(host=str(address))
    headers = {"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity", "Connection": "close"}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    try:
        with http.stream(
            "GET",
            target,
            headers=headers,
            extensions=extensions,
            timeout=httpx.Timeout(_time_left(deadline, url, limits)),
            follow_redirects=False,
        ) as response:
            status = response.status_code
            if status in REDIRECT_STATUSES and "location" in response.headers:
                return _join(url, response.headers["location"])
            if not 200 <= status < 300:  # 4xx and 5xx, and the 3xx we do not follow
                raise FetchFailed(f"fetching {url} failed: HTTP {status} {response.reason_phrase}".rstrip())
            data = _read_body(response, url, limits, deadline)
            return _fetched(url, response, data)
    except httpx.HTTPError as exc:
        if time.monotonic() >= deadline:
            raise _too_slow(url, limits) from exc
        raise FetchFailed(f"fetching {url} failed: {type(exc).__name__}: {exc}") from exc


def _join(url: httpx.URL, location: str) -> str:
    try:
        return str(url.join(location))  # a relative Location is relative to the URL asked for
    except httpx.InvalidURL:
        return location  # refused as invalid by the next hop's check


def _time_left(deadline: float, url: httpx.URL, limits: FetchLimits) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _too_slow(url, limits)
    return left


def _too_slow(url: httpx.URL, limits: FetchLimits) -> FetchFailed:
    return FetchFailed(f"fetching {url} took longer than {limits.timeout_seconds:g} s")


def _read_body(response: httpx.Response, url: httpx.URL, limits: FetchLimits, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchFailed(f"{url} is larger than {limits.max_bytes} bytes (Content-Length {declared})")
    chunks: list[bytes] = []
    size = 0
    # The limit counts decoded bytes: a server may compress although we asked it not to.
    with _cut_off_at(deadline, response):
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limits.max_bytes:
                raise FetchFailed(f"{url} is larger than {limits.max_bytes} bytes")
            _time_left(deadline, url, limits)
            chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def _cut_off_at(deadline: float, response: httpx.Response) -> Iterator[None]:
    """Shut the connection down at the deadline, should a read still be waiting then.

    httpx's read timeout is per read and fixed when the request starts, so a server that stalls
    late in the body could keep a read blocked past the deadline; shutting the socket down wakes
    it. Without a socket to reach (a custom transport), the read timeout is the only bound."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket):
        yield
        return
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), _shut_down, (sock,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


def _shut_down(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: the latter unwraps TLS under the reading
    # thread's feet; shutting down the TCP socket below is enough to end its read.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _fetched(url: httpx.URL, response: httpx.Response, data: bytes) -> Fetched:
    # email.message knows the header grammar: quoted parameters, and RFC 2231's filename*=UTF-8''...
    headers = email.message.Message()
    for name in ("content-type", "content-disposition"):
        if name in response.headers:
            headers[name] = response.headers[name]
    last_segment = url.raw_path.decode("ascii").partition("?")[0].rpartition("/")[2]
    return Fetched(
        url=str(url),
        content_type=response.headers.get("content-type", "").partition(";")[0].strip().lower(),
        charset=headers.get_content_charset(),
        filename=safe_filename(headers.get_filename() or unquote(last_segment)),
        data=data,
    )


def safe_filename(name: str) -> str:
    """``name`` made safe to store: its last path component, without control characters or
    leading/trailing dots and spaces, at most 200 characters (keeping a short extension)."""
    name = name.replace("\\", "/").rpartition("/")[2]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip(" .")
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, suffix = name.rpartition(".")
        if dot and 0 < len(suffix) <= 16:
            name = stem[: MAX_FILENAME_LENGTH - len(suffix) - 1] + "." + suffix
        else:
            name = name[:MAX_FILENAME_LENGTH]
    return name or "download"
