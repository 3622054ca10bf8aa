"""Type stubs for the native core (src/bindings)."""

import builtins
from collections.abc import Callable
from typing import Any, final

__version__: str
BUILD_PROFILE: str  # "release" or "debug"

__all__ = [
    "Request",
    "AsgiBridge",
    "RouteTable",
    "Server",
    "StreamSender",
    "InMemoryConnection",
    "MiddlewareStage",
    "StageState",
    "PendingEncoder",
    "CachedAnswer",
    "static_file_path",
    "choose_encoding",
    "WsgiServer",
    "WsgiExchange",
    "WsgiInput",
    "_server_shutdown",
    "_install_helpers",
    "json_dumps",
    "response_from_result",
    "encode_uri",
    "__version__",
    "BUILD_PROFILE",
]

@final
class Request:
    """An HTTP request; attributes decode lazily and are cached."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def raw_path(self) -> str: ...
    @property
    def query_string(self) -> str: ...
    @property
    def query(self) -> Any: ...  # hyperdjango.datastructures.QueryDict
    @property
    def headers(self) -> Any: ...  # hyperdjango.datastructures.Headers
    @property
    def cookies(self) -> dict[str, str]: ...
    @property
    def form(self) -> Any: ...  # hyperdjango.datastructures.FormData
    @property
    def json(self) -> Any: ...
    @property
    def text(self) -> str: ...
    @property
    def bytes(self) -> builtins.bytes: ...
    @property
    def body(self) -> builtins.bytes: ...
    @property
    def path_params(self) -> dict[str, Any]: ...
    @property
    def http_version(self) -> str: ...
    @property
    def client(self) -> tuple[str, int]: ...
    @property
    def client_ip(self) -> str: ...
    @property
    def is_secure(self) -> bool: ...
    @property
    def body_in_memory(self) -> bool: ...
    @property
    def state(self) -> Any: ...
    @property
    def _handler(self) -> Any: ...
    def _router_response(self) -> Any: ...

@final
class RouteTable:
    def __new__(cls) -> RouteTable: ...
    def add(self, methods: list[str], pattern: str, route_id: int) -> None: ...
    @staticmethod
    def parse_pattern(pattern: str) -> list[tuple[str, str]]: ...
    @staticmethod
    def converter_matches(converter: str, value: str) -> bool: ...
    def resolve(self, method: str, path: str) -> tuple[Any, ...]: ...
    def routes(self) -> list[tuple[str, str, int]]: ...

@final
class Server:
    def __new__(
        cls,
        routes: RouteTable,
        targets: list[tuple[Callable[..., Any], bool, list[tuple[str, str]]]],
        dispatcher: Any,
        *,
        host: str,
        port: int,
        prod: bool,
        max_body_size: int,
        trusted_proxies: list[str] | None = None,
        static_root: str | None = None,
        worker_threads: int | None = None,
        middleware: tuple[Callable[..., Any], Callable[..., Any]] | None = None,
        native_middleware: list[MiddlewareStage] | None = None,
        limits: dict[str, float | int] | None = None,
        listen_fd: int | None = None,
        supervised: bool = False,
        shutdown_timeout: float = 30.0,
        pid_file: str | None = None,
    ) -> Server: ...
    def start(self, handle_signals: bool = False) -> tuple[str, int]: ...
    def start_in_memory(self) -> None: ...
    def connect(self) -> InMemoryConnection: ...
    def replace_routes(
        self, routes: list[tuple[list[str], str, Callable[..., Any], bool, list[tuple[str, str]]]]
    ) -> None: ...
    def fileno(self) -> int: ...
    def drain(self) -> bool: ...
    def complete(self, request: Request, result: Any) -> None: ...
    def fail_with(self, request: Request, exception: BaseException) -> None: ...
    def begin_shutdown(self) -> None: ...
    def finish_shutdown(self, timeout: float) -> None: ...
    def in_flight(self) -> int: ...
    def started(self, request: Request) -> None: ...
    def queue_depth(self) -> int: ...
    def open_requests(self) -> int: ...
    def deadline_passed(self) -> bool: ...
    def request_shutdown(self) -> None: ...

@final
class InMemoryConnection:
    """The client end of an in-memory connection (hyperdjango.testing)."""

    def send(self, data: bytes) -> None: ...
    def shutdown_write(self) -> None: ...
    def receive(self, max_bytes: int = 65536, timeout: float = 10.0) -> bytes: ...

def _server_shutdown() -> None: ...
def _install_helpers(
    headers_class: type,
    query_class: type,
    http_exception: type,
    response_class: type,
    form_class: type,
    uploaded_file_class: type,
) -> None: ...
def json_dumps(value: Any) -> bytes: ...
def encode_uri(url: str) -> str:
    """``url`` percent-encoded to a valid RFC 3986 URI reference (valid escapes kept)."""

@final
class StreamSender:
    """Feeds a streamed response body (used by `hyperdjango._serving`)."""

    def try_send(self, chunk: builtins.bytes | str) -> bool: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    @property
    def closed(self) -> bool: ...

@final
class AsgiBridge:
    """Per-application native state for the ASGI adapter (built once)."""

    def __new__(cls, trusted_proxies: list[str], static_root: str | None = None) -> AsgiBridge: ...
    def request(
        self,
        method: str,
        raw_path: builtins.bytes,
        query_string: builtins.bytes,
        headers: list[tuple[builtins.bytes, builtins.bytes]],
        body: builtins.bytes,
        client: tuple[str, int] | None,
        secure: bool,
        http_10: bool,
        host: str,
        path_params: dict[str, Any] | None = None,
        endpoint: Any = None,
    ) -> Request: ...
    def response(self, result: Any, request: Request) -> Any: ...
    def stream_head(self, response: Any) -> Any: ...
    def static_file(self, relative: str, request: Request) -> Any: ...

@final
class StageState:
    """What `before` learned, for `after`."""

@final
class PendingEncoder:
    """A compressor waiting for its stream to start (set on a `StreamResponse`)."""

    def compress(self, chunk: builtins.bytes) -> builtins.bytes: ...
    def finish(self) -> builtins.bytes: ...

@final
class CachedAnswer:
    """The native answer a `Response` was built from, and what it looked like then."""

@final
class MiddlewareStage:
    """One built-in middleware's native part."""

    @staticmethod
    def cors(
        origins: Any,
        methods: Any,
        headers: Any,
        max_age: Any,
        allow_credentials: bool,
        expose_headers: Any,
    ) -> MiddlewareStage: ...
    @staticmethod
    def security(
        hsts: bool,
        hsts_max_age: int,
        hsts_include_subdomains: bool,
        hsts_preload: bool,
        frame_deny: bool,
        content_type_nosniff: bool,
        referrer_policy: str | None,
        csp: str | None,
    ) -> MiddlewareStage: ...
    @staticmethod
    def timing() -> MiddlewareStage: ...
    @staticmethod
    def rate_limit(rate: str) -> MiddlewareStage: ...
    @staticmethod
    def parse_rate(rate: str) -> tuple[int, int]: ...
    @staticmethod
    def compression(min_size: int, level: int, brotli: bool) -> MiddlewareStage: ...
    def hit(self, key: str) -> tuple[bool, int, int, int]: ...
    def before(self, request: Request) -> tuple[StageState | None, Any]: ...
    def after(self, state: StageState | None, response: Any) -> None: ...

def static_file_path(root: str, relative: str) -> str | None: ...
def choose_encoding(accept_encoding: str, brotli: bool = True) -> str | None: ...
def response_from_result(result: Any, request: Request) -> Any: ...

@final
class WsgiServer:
    """The native server serving one WSGI application."""

    def __new__(
        cls,
        base_environ: dict[str, Any],
        *,
        host: str,
        port: int,
        prod: bool,
        max_body_size: int,
        trusted_proxies: list[str],
        script_name: str = ...,
        worker_threads: int | None = None,
    ) -> WsgiServer: ...
    def start(self) -> tuple[str, int]: ...
    def next(self, timeout: float) -> Any: ...
    def request_shutdown(self) -> None: ...
    def begin_shutdown(self) -> None: ...
    def finish_shutdown(self, timeout: float) -> None: ...
    def in_flight(self) -> int: ...
    @property
    def shutdown_requested(self) -> bool: ...

@final
class WsgiExchange:
    """The way to answer one WSGI request."""

    def respond(
        self, status: str, headers: list[tuple[str, str]], body: builtins.bytes
    ) -> None: ...
    def start_stream(self, status: str, headers: list[tuple[str, str]]) -> StreamSender: ...
    def send_file(
        self,
        status: str,
        headers: list[tuple[str, str]],
        fd: int,
        offset: int,
        length: int | None = None,
    ) -> None: ...

@final
class WsgiInput:
    """`wsgi.input`: the request body, from memory or from its spool file."""

    def __iter__(self) -> WsgiInput: ...
    def __next__(self) -> builtins.bytes: ...
    def read(self, size: int | None = None) -> builtins.bytes: ...
    def readline(self, size: int | None = None) -> builtins.bytes: ...
    def readlines(self, hint: int | None = None) -> list[builtins.bytes]: ...
