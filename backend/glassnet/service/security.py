"""Who may come in: one ASGI middleware (:class:`Guard`) in front of every route and socket.

In this order, for HTTP and WebSocket alike:

1. **Host allow-list** (DNS rebinding): the ``Host`` must be a loopback name, the bound address,
   a name of this machine when bound to all addresses, or one of ``allowed_hosts``; bound beyond
   loopback, any IP-address literal too (``192.0.2.2:8000``, ``[fd00::2]:8000``: rebinding needs a
   *name*, an address cannot be rebound); else 400 (a socket is refused before accept).
2. **Token** (when the server has one: ``GLASSNET_TOKEN``, or generated when it is bound beyond
   loopback or has a join code, and kept in the data dir's ``teacher-token`` for the next start):
   ``Authorization: Bearer <token>``, ``X-Glassnet-Token``, or the ``glassnet_token``
   cookie that ``GET /?token=<token>`` sets (HttpOnly, SameSite=Strict) for a browser. Without
   it: state-changing requests are 401; viewing (GET, a socket that only watches) is 401 too
   unless ``open_view`` is set. ``/healthz`` and ``/readyz`` stay open for monitors, and
   ``/api/join`` for students who bring the class's join code; with a join code, a browser that
   opens ``/`` without a token is sent (303) to the join page, which opens with the static files
   it loads (:func:`join_asset`), and nothing else. A student's own token
   (:mod:`.owners`) is accepted too: it acts on its holder's runs only.
3. **Origin** (CSRF): a state-changing request (POST, PUT, PATCH, DELETE) or a socket whose
   ``Origin`` (or, without one, ``Referer``) is foreign is refused with 403: allowed is the
   origin the request was made to — scheme, host and port (:func:`origin_allowed`; another
   port of the same host is another site's page, which a browser still sends the SameSite
   cookie from) — and ``allowed_origins``; ``Sec-Fetch-Site: cross-site`` is refused too.
   Requests without either header (curl, scripts) pass.

Who is asking (:class:`.owners.Identity`: the teacher, a student, a browser's own name without a
token, or a viewer) is put in the scope's ``state["identity"]`` for the routes.

Every HTTP response gets the security headers (:data:`SECURITY_HEADERS`): a CSP that runs only
the app's own scripts, ``nosniff``, no framing. With the default loopback bind and no token,
nothing changes for a local user.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import logging
import os
import secrets
import socket
import tempfile
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import send_error
from .owners import TEACHER_IDENTITY, VIEWER_IDENTITY, Identity, browser_owner, identity_of, student_of
from .settings import Settings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/api/join"})
JOIN_PAGE = "/join.html"
# What the join page needs, open (GET) without a token on a server with a join code: the page's
# own code and words, which hold no data (they ship in the wheel).
JOIN_FILES = frozenset({JOIN_PAGE, "/style.css", "/favicon.svg"})
JOIN_FOLDERS = ("/js/", "/i18n/")


def join_asset(path: str) -> bool:
    """Whether a path is the join page or one of the static files it loads."""
    return path in JOIN_FILES or (path.startswith(JOIN_FOLDERS) and ".." not in path and "\\" not in path)


TOKEN_COOKIE = "glassnet_token"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str | None:
    """``"example.org:8000"`` / ``"[::1]:8000"`` -> the lower-case name, None if malformed."""
    try:
        name = urlsplit(f"//{value}").hostname
    except ValueError:
        return None
    return name.lower() if name else None


@functools.lru_cache(maxsize=8)
def machine_names() -> frozenset[str]:
    """This machine's host names and their addresses (for a server bound to all addresses)."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for name in list(names):
        with contextlib.suppress(OSError):
            names |= {info[4][0].lower() for info in socket.getaddrinfo(name, None)}
    return frozenset(n for n in names if n)


def ip_literal(name: str) -> bool:
    """An IP address as written (IPv4 dotted, or IPv6 as :func:`host_name` gives it from
    ``[...]``), not a name that DNS could point elsewhere."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


# Private destinations a UDP socket is "connected" to, only to ask the kernel which local address
# its route would use: a UDP connect sends nothing.
ROUTE_PROBES = (
    (socket.AF_INET, "10.254.254.254"),
    (socket.AF_INET, "172.31.254.254"),
    (socket.AF_INET, "192.168.254.254"),
    (socket.AF_INET6, "fd00::1"),
)


def outward_addresses(ipv6: bool = False) -> list[str]:
    """This machine's addresses that other machines on the network could open (IPv4; IPv6 too
    when ``ipv6``), found from the routing table without sending a packet; loopback and
    link-local addresses are left out. Empty without a network."""
    found: list[str] = []
    for family, target in ROUTE_PROBES:
        if family == socket.AF_INET6 and not ipv6:
            continue
        with contextlib.suppress(OSError, ValueError), socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((target, 9))
            address = probe.getsockname()[0].split("%")[0].lower()
            ip = ipaddress.ip_address(address)
            if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local) and address not in found:
                found.append(address)
    return found


def served_links(host: str, port: int) -> tuple[str, list[str]]:
    """Addresses a browser can open for a server bound to ``host``: (the one for this machine,
    the ones for other machines). Bound to all addresses (``0.0.0.0``, ``::``), never the
    wildcard itself (no other machine can open it): loopback here, and the LAN addresses and the
    host name for the others."""

    def url(name: str) -> str:
        return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"

    if host.strip("[]") not in WILDCARD_BINDS:
        return url(host.strip("[]")), []
    ipv6 = ":" in host
    others = [url(a) for a in outward_addresses(ipv6=ipv6)]
    name = socket.gethostname()
    if name and not is_loopback(name) and not ip_literal(name):
        others.append(url(name))
    return url("::1" if ipv6 else "127.0.0.1"), others


def allowed_host_names(settings: Settings) -> frozenset[str] | None:
    """The Host names served (None: any, when ``allowed_hosts`` holds ``"*"``)."""
    extra = {h.lower().strip("[]") for h in settings.allowed_hosts}
    if "*" in extra:
        return None
    bind = settings.host.strip("[]").lower()
    names = set(LOOPBACK_NAMES) | extra
    if bind in WILDCARD_BINDS:
        names |= machine_names()
    else:
        names.add(bind)
    return frozenset(names)


DEFAULT_PORTS = {"http": 80, "https": 443}
ORIGIN_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def origin_parts(value: str) -> tuple[str, str, int] | None:
    """``"http://Example.org:8000"`` -> ``("http", "example.org", 8000)``: an origin as a browser
    sends it (scheme, host, port; the scheme's default port filled in), None for anything else:
    ``null``, ``file://``, a path, user info, or a port that is not a number (so
    ``http://127.0.0.1:8121.evil.com`` is no origin at all, not the host ``127.0.0.1``)."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[scheme]


def served_origin(scope: Scope, host_header: str) -> tuple[str, str, int] | None:
    """The origin this request was made to: the connection's scheme (``ws``/``wss`` as
    ``http``/``https``; behind a TLS proxy, uvicorn takes it from ``X-Forwarded-Proto`` when the
    proxy is trusted) and the ``Host`` header's name and port. None without a usable Host."""
    scheme = ORIGIN_SCHEMES.get(str(scope.get("scheme", "http")).lower(), "http")
    return origin_parts(f"{scheme}://{host_header}") if host_header else None


def origin_allowed(origin: str, own: tuple[str, str, int] | None, extra: list[str]) -> bool:
    """Whether ``origin`` is this server: the same scheme, host **and port** as the origin it is
    served at (another port of the same host is another origin: a dev server, a notebook or any
    other service there, whose pages a browser would still send a SameSite cookie from), or one
    of ``extra`` (``allowed_origins``, exact: a proxy's public address). A loopback name for the
    server's own loopback origin (``localhost`` for ``127.0.0.1``, same scheme and port) is the
    same server, so it passes too; loopback pages on other ports do not."""
    parts = origin_parts(origin)
    if parts is None:
        return False  # "null" (sandboxed frames, file://) and garbage
    if any(origin_parts(e) == parts for e in extra):
        return True
    if own is None:
        return False
    if parts == own:
        return True
    scheme, host, port = parts
    return (scheme, port) == (own[0], own[2]) and is_loopback(host) and is_loopback(own[1])


TOKEN_FILE = "teacher-token"  # in the data dir: the generated token, kept across restarts


def token_file(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_FILE


def needs_token(settings: Settings) -> bool:
    """A token is needed when the bind reaches beyond loopback or a class has a join code."""
    return not (is_loopback(settings.host) and not settings.join_code)


def kept_token(data_dir: Path) -> tuple[str, bool]:
    """The generated teacher's token kept in ``data_dir``: read from its file, or made now and
    written there (only the owner may read it: 0600; created atomically, a temporary file linked
    into place, so a crash or a second process never leaves half a token or replaces one in use).
    Returns the token and whether it was made now. Students' tokens derive from it, so keeping it
    keeps every student's link valid across restarts; deleting the file rotates it."""
    path = data_dir / TOKEN_FILE
    for _ in range(2):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"{path}: cannot read the kept token ({exc}); delete it to make a new one"
            ) from None
        else:
            if len(text) < 16 or not text.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"{path}: not a token glassnet wrote; delete it to make a new one")
            if path.stat().st_mode & 0o077:  # readable by others (copied, or umask): the owner's only
                path.chmod(0o600)
            return text, False
        data_dir.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{TOKEN_FILE}.", suffix=".tmp")  # 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(token + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)  # fails if another process made one meanwhile: read that one
            except FileExistsError:
                continue
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return token, True
    raise ValueError(f"{path}: cannot keep the token there")  # pragma: no cover (a file that comes and goes)


def ensure_token(settings: Settings) -> Settings:
    """Settings with a token whenever the bind reaches beyond loopback or a class has a join code:
    ``GLASSNET_TOKEN`` when set, else the one kept in the data dir (:func:`kept_token`, made on the
    first start): the teacher's."""
    if settings.token or not needs_token(settings):
        return settings
    token, _ = kept_token(settings.data_dir)
    return settings.model_copy(update={"token": token})


class Guard:
    """ASGI middleware: Host, token and Origin checks; security headers on every response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = allowed_host_names(settings)
        # Beyond loopback, an address typed as an address is served (it cannot be rebound).
        self.any_address = not is_loopback(settings.host)
        self.token = settings.token.encode() if settings.token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        http = scope["type"] == "http"
        method = scope.get("method", "GET") if http else "GET"
        path = scope.get("path", "")
        own = host_name(headers.get("host", ""))
        if self.hosts is not None and (
            own is None or (own not in self.hosts and not (self.any_address and ip_literal(own)))
        ):
            shown = headers.get("host", "")[:100]
            await self.refuse(
                scope,
                receive,
                send,
                400,
                f"Host {shown!r} is not served here; add it to GLASSNET_ALLOWED_HOSTS if it is this server",
            )
            return
        cookies = read_cookies(headers.get("cookie", ""))
        state = scope.setdefault("state", {})
        if self.token is None:  # one person's loopback server: the teacher, by the browser's name
            state["identity"] = Identity(browser_owner(headers, cookies), teacher=True)
        elif path in OPEN_PATHS:
            state["identity"] = self.authorised(headers, cookies) or VIEWER_IDENTITY
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            offered = query.get("token", [None])[0]
            if http and method == "GET" and offered is not None and self.who(offered):
                location = local_location(path, query)
                if location is None:
                    await self.refuse(scope, receive, send, 400, "the address holds a control character")
                    return
                await self.set_cookie(send, location, offered)  # a browser's way in: the address
                return
            identity = self.authorised(headers, cookies) or (
                None if http or offered is None else self.who(offered)
            )
            state["identity"] = identity or VIEWER_IDENTITY
            if identity is None and http and method == "GET" and self.settings.join_code:
                # A student who has only the address and the class's code: the dashboard
                # sends them to the join page, which (and only its assets) opens without a token.
                if path == "/" and not self.settings.open_view:
                    await self.redirect(send, JOIN_PAGE)
                    return
                if join_asset(path):
                    state["read_only"] = True
                    await self.app(scope, receive, self.with_headers(send))
                    return
            if identity is None:
                if method in STATE_CHANGING or not self.settings.open_view:
                    await self.refuse(
                        scope,
                        receive,
                        send,
                        401,
                        "this server needs its token: send 'Authorization: Bearer <token>', or open the "
                        "address with ?token=<token> that glassnet serve printed",
                    )
                    return
                state["read_only"] = True  # viewing only
        if method in STATE_CHANGING or not http:
            problem = self.foreign(headers, served_origin(scope, headers.get("host", "")))
            if problem:
                await self.refuse(scope, receive, send, 403, problem)
                return
        if not http:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self.with_headers(send))

    @staticmethod
    def with_headers(send: Send) -> Send:
        """``send`` adding the security headers to the response's start."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in SECURITY_HEADERS if h[0] not in present),
                ]
            await send(message)

        return send_with_headers

    # -- checks ----------------------------------------------------------------------------------
    def valid(self, offered: str) -> bool:
        assert self.token is not None
        return secrets.compare_digest(offered.encode(), self.token)

    def who(self, offered: str) -> Identity | None:
        """The teacher (the server's token), a student (a token signed with it), or None."""
        assert self.token is not None
        if self.valid(offered):
            return TEACHER_IDENTITY
        name = student_of(self.token.decode(), offered)
        return None if name is None else Identity(name, teacher=False)

    def authorised(self, headers: dict[str, str], cookies: dict[str, str]) -> Identity | None:
        auth = headers.get("authorization", "")
        offered = [auth[7:].strip()] if auth.lower().startswith("bearer ") else []
        offered += [headers[k] for k in ("x-glassnet-token",) if k in headers]
        offered += [cookies[TOKEN_COOKIE]] if TOKEN_COOKIE in cookies else []
        for token in offered:
            identity = self.who(token)
            if identity is not None:
                return identity
        return None

    def foreign(self, headers: dict[str, str], own: tuple[str, str, int] | None) -> str | None:
        """Why a state-changing request (or a socket) looks cross-site, or None."""
        if headers.get("sec-fetch-site") == "cross-site":
            return "cross-site request refused (Sec-Fetch-Site: cross-site)"
        extra = self.settings.allowed_origins
        origin = headers.get("origin")
        if origin is not None:
            if not origin_allowed(origin, own, extra):
                return f"cross-site request refused: Origin {origin[:100]!r} is not this server"
            return None
        referer = headers.get("referer")
        if referer:
            try:
                parts = urlsplit(referer)
                ref_origin = f"{parts.scheme}://{parts.netloc}"
            except ValueError:
                ref_origin = "null"
            if not origin_allowed(ref_origin, own, extra):
                return f"cross-site request refused: Referer from {ref_origin[:100]!r}"
        return None

    # -- answers ---------------------------------------------------------------------------------
    async def refuse(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        """An error answer before any route runs. A socket that is refused gets the HTTP answer
        REST gives (401 with ``WWW-Authenticate`` without a valid token, 403 for a foreign origin,
        each with the ``ErrorBody`` naming the problem), through the ASGI denial response where the
        server has it (uvicorn does), so a program can tell "log in" from "not allowed" and read
        why; elsewhere it closes before accept (1008: the server answers the handshake with 403)."""
        extra = [(b"www-authenticate", b'Bearer realm="glassnet"')] if status == 401 else []
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            if "websocket.http.response" in scope.get("extensions", {}):
                _REFUSED_SOCKET.set(True)  # see QuietRefusedHandshakes
                await send_error(send, status, detail, extra + SECURITY_HEADERS, prefix="websocket.")
                return
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        await send_error(send, status, detail, extra + SECURITY_HEADERS)

    @staticmethod
    async def redirect(send: Send, location: str) -> None:
        """303 to ``location`` on this server."""
        headers = [
            (b"location", location.encode()),
            (b"content-length", b"0"),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 303, "headers": headers + SECURITY_HEADERS})
        await send({"type": "http.response.body", "body": b""})

    async def set_cookie(self, send: Send, location: str, token: str) -> None:
        """303 to ``location`` (:func:`local_location`), the token now in a strict cookie."""
        cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        headers = [
            (b"location", location.encode("ascii")),
            (b"set-cookie", cookie.encode()),
            (b"content-length", b"0"),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 303, "headers": headers + SECURITY_HEADERS})
        await send({"type": "http.response.body", "body": b""})


def local_location(path: str, query: dict[str, list[str]]) -> str | None:
    """The address a ``?token=`` login goes on to: the same path on this server, without the
    token, as an ASCII path relative to this origin; None when the path holds a control character.

    Leading slashes and backslashes fold into one (``//evil.example/`` and ``/\\evil.example/``
    are addresses on another host to a browser), and the rest is percent-encoded, so the answer
    never leaves this server and never carries raw bytes into a header."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return None
    local = "/" + quote(path.lstrip("/\\"), safe="/-._~!$&'()*+,;=:@")
    rest = {k: v for k, v in query.items() if k != "token"}
    return local + (f"?{urlencode(rest, doseq=True)}" if rest else "")


def read_cookies(header: str) -> dict[str, str]:
    """``Cookie`` header -> name: value ({} when malformed: a bad header is no token)."""
    cookie = SimpleCookie()
    try:
        cookie.load(header)
    except Exception:
        return {}
    return {name: morsel.value for name, morsel in cookie.items()}


def client_of(scope_or_request: Any) -> str:
    """The client a quota counts against: its address."""
    client = (
        scope_or_request.client if hasattr(scope_or_request, "client") else scope_or_request.get("client")
    )
    return client[0] if client else "unknown"


def quota_client(scope_or_request: Any) -> str:
    """Whom a run's or an upload's quota counts against: a student by name (a class behind one
    address, a school's NAT or proxy, is many people, and joins are capped per address so one
    machine cannot mint names to get past it), the teacher and anyone else by address."""
    identity = identity_of(scope_or_request)
    return client_of(scope_or_request) if identity.teacher else f"student {identity.owner}"


#: Set in the connection's task when :meth:`refuse` answered a socket with an HTTP response.
_REFUSED_SOCKET: contextvars.ContextVar[bool] = contextvars.ContextVar("refused_socket", default=False)
UNFINISHED_HANDSHAKE = "ASGI callable returned without completing handshake."


class QuietRefusedHandshakes(logging.Filter):
    """Drops uvicorn's "returned without completing handshake" ERROR for a socket glassnet refused
    on purpose. uvicorn 0.54's websockets-sansio protocol sends the denial response (the 401 or
    403 the client reads) but does not count it as the handshake's end, so every foreign origin
    or missing token wrote an ERROR line. The mark is a context variable of the connection's task,
    so the same line for any other socket (a real fault) still reaches the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == UNFINISHED_HANDSHAKE and _REFUSED_SOCKET.get())


def quiet_refused_handshakes() -> None:
    """Install :class:`QuietRefusedHandshakes` on uvicorn's error logger (once)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietRefusedHandshakes) for f in logger.filters):
        logger.addFilter(QuietRefusedHandshakes())
