"""``edgehar web``: serve the page, LiteRT.js and a bundle's ``model_stream.tflite``.

Only a fixed table of files is served (no directory listing, nothing outside it): the page's
own files from this package, the LiteRT.js files the page imports, the stream file with the
facts the page needs from the manifest (``/model/bundle.json``), and the shipped sample
recording for ``#selftest``. The page needs nothing else, so it runs without any network
beyond this server, and, once loaded over a secure context, without this server too (its
service worker keeps the files).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import threading
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..runtime.assets import PRETRAINED, SAMPLE_LOG
from ..runtime.errors import EdgeharError
from ..runtime.files import sha256
from ..runtime.manifest import read_manifest
from . import litertjs

PAGE_DIR = Path(__file__).resolve().parent
PAGE_FILES = ("index.html", "app.js", "csvlog.js", "units.js", "resample.js", "stream.js",
              "timeline.js", "sw.js")
STREAM_FILENAME = "model_stream.tflite"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".wasm": "application/wasm", ".json": "application/json",
         ".csv": "text/csv; charset=utf-8", ".tflite": "application/octet-stream"}


@dataclass(frozen=True)
class Site:
    """URL path -> (file or bytes, content type)."""

    routes: dict[str, tuple[Path | bytes, str]]
    bundle: Path
    litertjs: Path


def bundle_facts(bundle: Path) -> dict:
    """What the page needs from the manifest: the window contract and the stream file's
    signature and state; the stream file is checked against its sha256."""
    manifest = read_manifest(bundle)
    entry = manifest.files.get(STREAM_FILENAME)
    path = bundle / STREAM_FILENAME
    if entry is None or entry.stream is None or not path.is_file():
        raise EdgeharError(bundle, f"no {STREAM_FILENAME} in this bundle (export --int8 writes it)")
    if sha256(path) != entry.sha256:
        raise EdgeharError(path, "sha256 does not match manifest.json (corrupt or replaced)")
    spec = manifest.spec
    return {"bundle": bundle.name, "labels": list(spec.labels), "sample_rate": spec.sample_rate,
            "window": spec.window, "hop": spec.hop, "model_file": STREAM_FILENAME,
            "sha256": entry.sha256, "stream": entry.stream.to_dict()}


def build_site(bundle: str | os.PathLike[str] | None = None,
               litertjs_dir: str | os.PathLike[str] | None = None) -> Site:
    bundle = Path(bundle) if bundle is not None else PRETRAINED
    facts = bundle_facts(bundle)
    lib = litertjs.find(litertjs_dir)
    routes: dict[str, tuple[Path | bytes, str]] = {
        "/": (PAGE_DIR / "index.html", TYPES[".html"])}
    for name in PAGE_FILES:
        routes[f"/{name}"] = (PAGE_DIR / name, TYPES[Path(name).suffix])
    for name in litertjs.FILES:
        routes[f"/litertjs/{name}"] = (lib / name, TYPES[Path(name).suffix])
    routes[f"/model/{STREAM_FILENAME}"] = (bundle / STREAM_FILENAME, TYPES[".tflite"])
    routes["/model/bundle.json"] = (json.dumps(facts).encode(), TYPES[".json"])
    routes["/sample.csv"] = (SAMPLE_LOG, TYPES[".csv"])
    return Site(routes, bundle, lib)


class Handler(BaseHTTPRequestHandler):
    server_version = "edgehar-web"

    def __init__(self, *args, site: Site, quiet: bool, **kwargs):
        self.site, self.quiet = site, quiet
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._send(body=True)

    def do_HEAD(self) -> None:
        self._send(body=False)

    def _send(self, body: bool) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        route = self.site.routes.get(path)
        if route is None:
            self.send_error(404)
            return
        source, ctype = route
        data = source if isinstance(source, bytes) else source.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        # the service worker answers offline; online the page always gets this server's files
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        if not self.quiet:
            super().log_message(fmt, *args)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # a browser that closes a connection mid-file (a reload, a closed tab) is not an error
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def make_server(site: Site, host: str = "127.0.0.1", port: int = 8000,
                tls: tuple[str, str] | None = None, quiet: bool = True) -> ThreadingHTTPServer:
    """A bound server (port 0: any free port); ``tls`` (certificate, key) makes it HTTPS."""
    try:
        server = Server((host, port), partial(Handler, site=site, quiet=quiet))
    except OSError as e:
        raise EdgeharError(None, f"cannot listen on {host}:{port} ({e.strerror or e}); "
                                 "pick another with --port") from None
    if tls is not None:
        cert, key = tls
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            server.server_close()
            raise EdgeharError(cert, f"cannot use it with key {key} for TLS ({e})") from None
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server


def url_of(server: ThreadingHTTPServer, tls: bool) -> str:
    host, port = server.server_address[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


def serve_forever(bundle=None, host: str = "127.0.0.1", port: int = 8000,
                  tls: tuple[str, str] | None = None, litertjs_dir=None, echo=print) -> None:
    site = build_site(bundle, litertjs_dir)
    server = make_server(site, host, port, tls, quiet=True)
    url = url_of(server, tls is not None)
    echo(f"edgehar web: {site.bundle} ({STREAM_FILENAME}) on {url}  (LiteRT.js "
         f"{litertjs.VERSION} from {site.litertjs}); Ctrl-C stops")
    if tls is None and host not in ("127.0.0.1", "localhost", "::1"):
        echo("note: phones give motion sensors only to secure contexts: serve with --tls CERT "
             "KEY, or open http://localhost:PORT through adb reverse (docs/web.md)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:   # the way a server is stopped: not an error
        pass
    finally:
        server.server_close()


def serve_in_thread(site: Site, host: str = "127.0.0.1", port: int = 0,
                    tls: tuple[str, str] | None = None) -> tuple[ThreadingHTTPServer, str]:
    """For tests and scripts: the server running on a daemon thread, and its URL; stop it
    with ``server.shutdown(); server.server_close()``."""
    server = make_server(site, host, port, tls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, url_of(server, tls is not None)
