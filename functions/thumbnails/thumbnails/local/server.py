"""``python -m thumbnails serve``: the whole service on this machine, no AWS, no Docker.

`LocalService` wires the real handlers to local stand-ins of everything they talk to:

- a local S3 (moto's ``ThreadedMotoServer`` on loopback) holding a data bucket and the
  thumbnail bucket, so presigned URLs open in a browser;
- an embedded archive (`thumbnails.local.archive`) describing every FITS object of the data
  bucket by its header, with presigned URLs to the object, as the OCS archive does;
- a gateway (`thumbnails.local.gateway`) calling ``thumbnails.api.handler`` with the events
  API Gateway would send, and serving the gallery (`thumbnails.local.gallery`) at ``/``;
- a bucket watcher that hands every new or overwritten object of the data bucket to
  ``thumbnails.pregenerate.handler`` as an S3 event notification, as AWS would.

The handlers read their settings from the environment, so `LocalService.start` sets it (and
`stop` restores it) before importing them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..frame_objects import FITS_SUFFIXES, HEADER_BYTES
from ..versions import normalise_etag
from .notifications import BucketListing, s3_put_event

DEFAULT_FRAMES = Path("samples")
DATA_BUCKET = "frames-local"
THUMBNAIL_BUCKET = "thumbnails-local"
#: The API's default request and the pregeneration defaults, plus the gallery's size, so the
#: gallery of a fresh start is served from thumbnails pregenerated at start-up.
LOCAL_PRESETS = "width=200&height=200;width=1000&height=1000;width=300&height=300"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` subcommand's options."""
    parser.add_argument(
        "--frames",
        type=Path,
        default=DEFAULT_FRAMES,
        metavar="DIR",
        help="folder of FITS files to serve (default: samples/, filled with sample frames "
        "on first run)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=3000, help="API port (0: any free port)")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often the data bucket is checked for new frames (default 2)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the handlers' JSON logs and metrics"
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        metavar="FILE",
        help="once serving, write the service's URLs there as JSON (for scripts and tests)",
    )


def _is_fits(name: str) -> bool:
    return name.lower().endswith(FITS_SUFFIXES)


class _Environment:
    """Set environment variables, and put back exactly what was there before."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, name: str, value: str) -> None:
        self._saved.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def default(self, name: str, value: str) -> None:
        if name not in os.environ:
            self.set(name, value)

    def unset(self, name: str) -> None:
        self._saved.setdefault(name, os.environ.get(name))
        os.environ.pop(name, None)

    def restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()


class LocalService:
    """The API, a local S3, the embedded archive, pregeneration and the gallery, together.

    Use as a context manager, or call `start` and `stop`. One per process at a time: the
    environment is process-wide, and the handlers keep the clients they build on first use
    (as a warm Lambda container does), so a second service in the same process would reach
    the first one's servers.

    Parameters
    ----------
    frames_dir : Path
        FITS files uploaded into the data bucket at start-up (sub-folders become prefixes).
    host : str
        Address of every server (loopback by default).
    port : int
        The API's port; 0 picks a free one (see `api_url`).
    poll_interval : float
        Seconds between checks of the data bucket for new objects.
    log : callable, optional
        Receives one line per request and per pregeneration; ``print`` by default.
    verbose : bool
        Leave the handlers' logs at INFO and their metrics on (default: warnings only).
    """

    def __init__(
        self,
        frames_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        poll_interval: float = 2.0,
        log: Callable[[str], None] | None = print,
        verbose: bool = False,
    ) -> None:
        self.frames_dir = Path(frames_dir)
        self.host, self.port = host, port
        self.poll_interval = poll_interval
        self.verbose = verbose
        self._log = log or (lambda line: None)
        self._env = _Environment()
        self._stack: list[Callable[[], None]] = []  # undo actions, run in reverse by stop()
        self._api_lock = threading.Lock()  # one invocation at a time per function, as one
        self._pregenerate_lock = threading.Lock()  # warm Lambda container serves them
        self.storage_url = self.archive_url = self.api_url = ""
        self.archive: Any = None
        self.s3: Any = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> LocalService:
        """Start everything; on any failure, stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server and thread and restore the environment (safe to call twice)."""
        while self._stack:
            undo = self._stack.pop()
            try:
                undo()
            except Exception as error:  # keep stopping the rest
                print(f"stopping: {error}", file=sys.stderr)

    def _start(self) -> None:
        from moto.server import ThreadedMotoServer

        from .archive import ArchiveServer, LocalArchive
        from .gateway import GatewayServer

        self._stack.append(self._env.restore)
        if not self.verbose:  # moto's server logs every S3 request through werkzeug
            werkzeug = logging.getLogger("werkzeug")
            level = werkzeug.level
            werkzeug.setLevel(logging.WARNING)
            self._stack.append(lambda: werkzeug.setLevel(level))
        moto = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        moto.start()
        self._stack.append(lambda: _stop_moto(moto))
        host, port = moto.get_host_and_port()
        self.storage_url = f"http://{host}:{port}"

        self._configure_environment()
        self.s3 = _s3_client(self.storage_url)
        for bucket in (DATA_BUCKET, THUMBNAIL_BUCKET):
            self.s3.create_bucket(Bucket=bucket)

        self.archive = LocalArchive(self._presign)
        archive_server = ArchiveServer(self.archive, host=self.host).start()
        self._stack.append(archive_server.stop)
        self.archive_url = archive_server.url
        self._env.set("ARCHIVE_API_URL", self.archive_url)

        # Imported only now: the handlers build their settings from this environment.
        from .. import api, pregenerate

        self._api, self._pregenerate = api, pregenerate
        uploaded = self._upload_frames()
        self._log(f"uploaded {uploaded} frame(s) from {self.frames_dir} to s3://{DATA_BUCKET}/")
        listing = BucketListing(self.s3, DATA_BUCKET)
        new, deleted = listing.changes()
        self._catalogue(new, deleted)  # the archive knows every frame before the API answers
        self._stopping = threading.Event()
        watcher = threading.Thread(
            target=self._watch, args=(listing, new), name="local-watcher", daemon=True
        )
        watcher.start()
        self._stack.append(lambda: (self._stopping.set(), watcher.join()))

        gateway = GatewayServer(
            self._invoke_api,
            pages={"/": self._gallery_page},
            aliases={"/api": "/", "/api/": "/"},
            host=self.host,
            port=self.port,
            log=self._log,
        ).start()
        self._stack.append(gateway.stop)
        self.api_url = gateway.url

    def _configure_environment(self) -> None:
        env = self._env
        # Fake credentials: every client talks to the local S3 only, never to AWS.
        for name, value in {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "STORAGE_URL": self.storage_url,
            "THUMBNAIL_BUCKET": THUMBNAIL_BUCKET,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }.items():
            env.set(name, value)
        for name in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_BUCKET",
        ):
            env.unset(name)
        env.default("POWERTOOLS_SERVICE_NAME", "thumbnails")
        env.default("POWERTOOLS_METRICS_NAMESPACE", "Thumbnails")
        env.default("PREGENERATE_PRESETS", LOCAL_PRESETS)
        if not self.verbose:
            env.default("POWERTOOLS_LOG_LEVEL", "WARNING")
            env.default("POWERTOOLS_METRICS_DISABLED", "true")

    # ------------------------------------------------------------------ parts
    def _presign(self, key: str) -> str:
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": DATA_BUCKET, "Key": key}, ExpiresIn=86400
        )

    def _upload_frames(self) -> int:
        if not self.frames_dir.is_dir():
            return 0
        count = 0
        for path in sorted(self.frames_dir.rglob("*")):
            if path.is_file() and _is_fits(path.name):
                key = path.relative_to(self.frames_dir).as_posix()
                self.s3.upload_file(str(path), DATA_BUCKET, key)
                count += 1
        return count

    def _index(self, entry: Mapping[str, Any]) -> bool:
        """Describe one object in the archive from its header; False if it has none."""
        from ..errors import ThumbnailError
        from ..imaging import read_header
        from ..versions import of_download
        from .archive import frame_record

        key = entry["Key"]
        header, reason = None, "empty object"
        if int(entry.get("Size", 0)) == 0:
            self._log(f"archive: {key} is not listed, it is empty")
            return False
        for byte_range in (f"bytes=0-{HEADER_BYTES - 1}", None):  # a prefix, then all of it
            request = {"Bucket": DATA_BUCKET, "Key": key}
            if byte_range:
                request["Range"] = byte_range
            data = self.s3.get_object(**request)["Body"].read()
            try:
                header = read_header(data)
                break
            except ThumbnailError as error:
                reason = error.message
        if header is None:
            self._log(f"archive: {key} is not listed, its header is unreadable ({reason})")
            return False
        etag = normalise_etag(entry["ETag"])
        # Read again only when uploaded in parts (aws s3 cp of a large file): no MD5 ETag.
        md5 = of_download(
            lambda: self.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read(), etag
        )
        self.archive.add(
            frame_record(
                key,
                header,
                size=int(entry["Size"]),
                etag=etag,
                modified=entry["LastModified"].isoformat(),
                md5=md5,
            )
        )
        return True

    def _catalogue(self, new: list[dict[str, Any]], deleted: list[str]) -> None:
        """Bring the archive up to date with the data bucket's changes."""
        for key in deleted:
            self.archive.remove(key)
        for entry in new:
            if not _is_fits(entry["Key"]):
                continue
            try:
                self._index(entry)
            except Exception as error:  # one odd object must not stop the watcher
                self._log(f"archive: {entry['Key']} is not listed: {error!r}")

    def _watch(self, listing: BucketListing, first: list[dict[str, Any]]) -> None:
        """The watcher thread: pregenerate `first`, then poll the bucket until stopped."""
        new = first
        while not self._stopping.is_set():
            # Every new object is notified, as S3 would; the handler picks what it renders.
            for entry in new:
                if self._stopping.is_set():
                    return
                self._pregenerate_one(entry)
            if self._stopping.wait(self.poll_interval):
                return
            try:
                new, deleted = listing.changes()
            except Exception as error:  # retried at the next poll
                self._log(f"watcher: listing s3://{DATA_BUCKET} failed: {error!r}")
                new, deleted = [], []
            self._catalogue(new, deleted)

    def _pregenerate_one(self, entry: Mapping[str, Any]) -> None:
        from .gateway import LocalLambdaContext

        event = s3_put_event(DATA_BUCKET, entry, os.environ.get("AWS_DEFAULT_REGION", ""))
        started = time.perf_counter()
        try:
            with self._pregenerate_lock:
                result = self._pregenerate.handler(
                    event, LocalLambdaContext(function_name="thumbnails-pregenerate-local")
                )
        except Exception as error:  # in AWS: retried, then dead-lettered; here: reported
            self._log(f"pregenerate s3://{DATA_BUCKET}/{entry['Key']} failed: {error!r}")
            return
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        outcome = "failed (see the log above)" if failures else "done"
        elapsed = (time.perf_counter() - started) * 1000
        self._log(f"pregenerate s3://{DATA_BUCKET}/{entry['Key']} {outcome} ({elapsed:.0f} ms)")

    def _invoke_api(self, event: dict[str, Any]) -> Mapping[str, Any]:
        from .gateway import LocalLambdaContext

        with self._api_lock:
            return self._api.handler(
                event, LocalLambdaContext(function_name="thumbnails-api-local")
            )

    def _gallery_page(self) -> tuple[str, bytes]:
        from .gallery import render_gallery

        html = render_gallery(
            self.archive.frames(),
            archive_url=self.archive_url,
            storage_url=self.storage_url,
            data_bucket=DATA_BUCKET,
            thumbnail_bucket=THUMBNAIL_BUCKET,
            headers=self.archive.headers,
        )
        return "text/html; charset=utf-8", html.encode("utf-8")

    def urls(self) -> dict[str, str]:
        """What is running, by name (also what ``--ready-file`` writes)."""
        return {
            "gallery": self.api_url,
            "api": self.api_url,
            "api_docs": f"{self.api_url}api",
            "storage": self.storage_url,
            "archive": self.archive_url,
            "data_bucket": DATA_BUCKET,
            "thumbnail_bucket": THUMBNAIL_BUCKET,
        }


def _s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config)


def _stop_moto(moto: Any) -> None:
    import requests

    host, port = moto.get_host_and_port()
    try:  # free the buckets' memory: moto keeps its state in this process
        requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10)
    except requests.RequestException as error:
        print(f"stopping: could not reset the local S3: {error}", file=sys.stderr)
    moto.stop()
    # stop() shuts the accept loop down and joins its thread; werkzeug's serve_forever closes
    # the listening socket as it returns (its `finally`), so the socket is closed by now. The
    # extra server_close() is a harmless no-op kept for servers whose loop does not close it.
    server = getattr(moto, "_server", None)
    if server is not None:
        server.server_close()


def _banner(service: LocalService) -> str:
    from .gallery import colour_sets, shared_basenames, thumbnail_url

    shared = shared_basenames(service.archive.frames())
    frames = [f for f in service.archive.frames() if f["basename"] not in shared]
    lines = [
        "",
        f"FITS thumbnails, running locally ({len(service.archive.frames())} frames):",
        f"  gallery      {service.api_url}",
        f"  API docs     {service.api_url}api",
    ]
    base = service.api_url.rstrip("/")
    sets = colour_sets(frames)
    in_sets = {f["id"] for channels in sets for f in channels.values()}
    # The example: a reduced frame of its own if there is one, else any frame.
    single = [f for f in frames if f["reduction_level"] == 91 and f["id"] not in in_sets]
    if single or frames:
        url = thumbnail_url((single or frames)[0]["basename"], width=500, height=500, image=True)
        lines.append(f"  a thumbnail  {base}{url}")
    for channels in sets[:1]:
        url = thumbnail_url(
            channels["red"]["basename"], width=500, height=500, image=True, color=True
        )
        lines.append(f"  in colour    {base}{url}")
    lines += [
        f"  local S3     {service.storage_url}  (buckets {DATA_BUCKET}, {THUMBNAIL_BUCKET})",
        f"  archive      {service.archive_url}frames/",
        f"New FITS files put into s3://{DATA_BUCKET}/ are pregenerated and join the gallery.",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM, then stop everything; the exit code."""
    frames: Path = args.frames
    if not frames.exists() and frames != DEFAULT_FRAMES:
        print(f"thumbnails serve: error: no such folder: {frames}", file=sys.stderr)
        return 2
    if frames == DEFAULT_FRAMES and not any(_is_fits(p.name) for p in _files(frames)):
        from .samples import write_samples

        written = write_samples(frames)
        print(f"made {len(written)} sample frames in {frames}/")

    # SIGTERM stops the service as Ctrl-C does: both raise KeyboardInterrupt in the main
    # thread. (Setting an Event from a signal handler could deadlock: the handler may run
    # while the main thread holds that Event's lock inside wait().)
    previous = {sig: signal.signal(sig, _interrupt) for sig in _SIGNALS}
    service = LocalService(
        frames,
        host=args.host,
        port=args.port,
        poll_interval=args.poll_interval,
        verbose=args.verbose,
        log=lambda line: print(line, flush=True),
    )
    try:
        service.start()
        print(_banner(service), flush=True)
        if args.ready_file is not None:  # written whole, then renamed: never seen half-done
            partial = args.ready_file.with_name(args.ready_file.name + ".partial")
            partial.write_text(json.dumps(service.urls()))
            partial.replace(args.ready_file)
        # Until a signal handler raises KeyboardInterrupt. Not one untimed wait: the kernel
        # may deliver the signal to any of the service's threads, and then a main thread
        # blocked on a lock is never woken to run the handler (the stop tests hung about one
        # run in three). Python runs pending handlers each time this sleep returns.
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    except OSError as error:  # the port is taken, most likely
        print(f"thumbnails serve: error: cannot start: {error}", file=sys.stderr)
        return 2
    finally:
        for sig in _SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped: nothing left running.", flush=True)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
