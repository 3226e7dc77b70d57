"""``hush``: run the server, or process files locally without one.

hush serve [--host 127.0.0.1] [--port 8000] [--workers N]
hush worker [--concurrency N]      (HUSH_BACKEND=cluster: a Celery worker)
hush worker --check                (exit 0 while a worker of this host has a live heartbeat)
hush keys add|list|disable|enable|remove|credit ...
hush denoise IN OUT [--amount 1..100]
hush vad IN [--min-non-speech S]
hush declick IN OUT
hush enhance IN OUT --flag remove_noise --flag normalize ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import logging.config
import math
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app import __version__

__all__ = ["main"]

#: The option of the local commands that sets each DSP parameter (spelled as `python -m dsp`
#: spells them), so that an error names what the user typed, not the parameter behind it.
_OPTIONS = {
    "amount": "--amount",
    "detection_mult": "--detection-mult",
    "click_len_ms": "--click-len",
    "min_non_speech_s": "--min-non-speech",
}

#: Local enhance flags and the steps they map to, in chain order (the AudioCleaner chain:
#: echo, reverb, noise, EQ, loudness last); flags without an engine are refused.


def _enhance_flags() -> list[str]:
    """The AudioCleaner enhance flags, as the server takes them (one table: the dialect's)."""
    from app.dialects.audiocleaner import FLAGS

    return list(FLAGS)


def _runnable_flags() -> list[str]:
    """The enhance flags this build has an engine for (``--help`` offers only those)."""
    from app.dialects.audiocleaner import FLAGS

    return [name for name, steps in FLAGS.items() if steps is not None]


def _number(text: str) -> float:
    """A finite number for an option (argparse names the option when this raises)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_number.__name__ = "number"  # argparse: "argument --amount: invalid number value: 'nan'"


def _err(msg: str) -> None:
    sys.stderr.write(f"hush: {msg}\n")


def _engines(setting: str) -> list[str]:
    """The engines a setting (``denoise_engine``, ``vad_engine``) names, as the settings list them."""
    from typing import get_args

    from app.settings import Settings

    return list(get_args(Settings.model_fields[setting].annotation))


def _whole(lo: int, hi: int | None = None, *, why: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number in ``[lo, hi]`` (argparse names the option in its error)."""
    span = f"at least {lo}" if hi is None else f"between {lo} and {hi}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a whole number {span}, not {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {span}{why}, not {value}")
        return value

    return parse


def _as_typed(exc: Exception) -> str:
    """The message of an error from the job core, naming a DSP parameter by its option."""
    from app.errors import AppError
    from dsp.errors import InvalidParameterError

    cause = exc.__cause__
    if isinstance(cause, InvalidParameterError) and cause.param in _OPTIONS:
        return cause.named(_OPTIONS[cause.param])
    if isinstance(exc, AppError):
        return exc.message + (f" ({exc.hint})" if exc.hint else "")
    return str(exc)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _run_server(app: Any, **config: Any) -> None:
    """``uvicorn.run(app, **config)``, telling the app as soon as the server begins to stop.

    That is before uvicorn waits for the requests in flight: a job's event stream or websocket
    (a playground tab) goes on until its job ends, so one held Ctrl+C for the whole grace and was
    then cancelled with a traceback, while the worker pool went on starting jobs.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            service = getattr(app.state, "service", None)  # (none when the startup failed)
            if service is not None:
                service.begin_stop()
            await super().shutdown(sockets)

    server = Server(uvicorn.Config(app, **config))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the SIGINT that stopped it again
        server.run()
    if not server.started:
        sys.exit(3)  # as uvicorn.run: the server did not start (the port is taken, the startup failed)


def _serve(args: argparse.Namespace) -> int:
    from app.auth import check_bind
    from app.main import create_app
    from app.settings import get_settings, is_loopback_host

    settings = get_settings()
    host = args.host or settings.host
    if host.startswith("[") and host.endswith("]"):  # an IPv6 address as a URL writes it: [::1]
        host = host[1:-1]
    port = args.port or settings.port
    if args.workers:
        settings = settings.model_copy(update={"workers": args.workers})
    if args.log_level:  # the workers read it from the settings
        settings = settings.model_copy(update={"log_level": args.log_level})
    scratch: Path | None = None
    if (args.mock or settings.mock) and not is_loopback_host(host):
        # the mock checks no key: it must not be reachable from elsewhere, keys or not
        _err(f"mock mode listens on loopback only (it checks no API key), not on {host}; drop --host or use 127.0.0.1")
        return 2
    if (args.mock or settings.mock) and settings.backend == "cluster":
        # its reset empties the job store: never a cluster's shared database and bucket
        _err("mock mode runs embedded (one process, its own files); unset HUSH_BACKEND=cluster for it")
        return 2
    if args.mock or settings.mock:
        # a mock serves an app under test on this machine: its input links and webhooks are local too
        local = tuple(a for a in ("127.0.0.0/8", "::1") if a not in settings.url_allowlist)
        update: dict[str, Any] = {"mock": True, "api_keys": (), "url_allowlist": (*settings.url_allowlist, *local)}
        if "data_dir" not in settings.model_fields_set:
            # its jobs are disposable: keep them in memory (a tmpfs), where a job takes half the time
            shm = Path("/dev/shm")  # noqa: S108 - mkdtemp below makes a private directory in it
            scratch = Path(tempfile.mkdtemp(prefix="hush-mock-", dir=shm if os.access(shm, os.W_OK) else None))
            update["data_dir"] = scratch
        else:
            # apart from a real server's jobs in the same folder, which a reset must not touch
            update["data_dir"] = settings.data_dir / "mock"
        settings = settings.model_copy(update=update)
    refusal = check_bind(settings, host, accounts=not settings.api_keys and _has_accounts(settings))
    if refusal:
        _err(refusal)
        return 2
    refusal = _stores_answer(settings, server=True)
    if refusal:  # one line naming the setting, not a traceback after the "serving" banner
        _err(refusal)
        return 3
    from app.errors import EngineUnavailableError
    from app.jobs.engines import check_default_engines

    try:
        check_default_engines(settings.denoise_engine, settings.vad_engine)
    except EngineUnavailableError as exc:
        _err(exc.message)
        return 2
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):  # noqa: S104 - naming the wildcard address, not binding to it
        shown = "THIS-MACHINE"
    base = f"http://{shown}:{port}"
    sys.stderr.write(
        f"hush: serving on {host}:{port}. Open {base}/ for the playground, {base}/docs for the API "
        f"(the DeepAffects SDK takes {base} as its base URL, the Audo SDK {base}/v1). Ctrl+C stops.\n"
    )
    if settings.mock:
        sys.stderr.write(f"hush: mock mode: scenarios at {base}/_mock/scenarios, journal at {base}/_mock/requests\n")
        if scratch is not None:
            sys.stderr.write(
                f"hush: mock mode keeps its jobs in {scratch} (set HUSH_DATA_DIR to choose; deleted at exit)\n"
            )
        else:
            sys.stderr.write(
                f"hush: mock mode keeps its jobs in {settings.data_dir} (kept at exit; a real server's "
                "jobs in the folder above are never touched)\n"
            )
    if scratch is not None:
        # uvicorn re-raises the signal that stopped it; end by an exception so the folder goes too
        signal.signal(signal.SIGTERM, _exit_on_signal)
    # one format with a time and a level for every line, the server's, uvicorn's and the workers'
    from app.logs import server_log_config

    level = settings.log_level
    logging.config.dictConfig(server_log_config(level))
    try:
        _run_server(
            create_app(settings),
            host=host,
            port=port,
            log_level=level,
            log_config=server_log_config(level),
            ws="websockets-sansio",
            # a slow upload or download, a synchronous request waiting for its job (the job event
            # streams end at once) would hold Ctrl+C until they are done
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _worker_check(redis_url: str) -> int:
    """``hush worker --check``: 0 when a worker of this host has a live heartbeat, else 1.

    A container's health check: a worker counts as healthy only while the API servers count it
    (its heartbeat in Redis, :mod:`app.jobs.heartbeat`), which it writes once it consumes jobs."""
    import socket

    from app.jobs.heartbeat import connect, live_workers

    host = socket.gethostname()
    client = connect(redis_url)
    try:
        mine = [w for w in live_workers(client) if w.host == host]
    except Exception as exc:  # redis' errors: the broker does not answer
        _err(f"cannot read the worker heartbeats from Redis: {exc}")
        return 1
    finally:
        client.close()
    if not mine:
        _err(f"no `hush worker` on {host} has a live heartbeat")
        return 1
    sys.stdout.write(f"{len(mine)} worker(s) alive on {host}: " + ", ".join(w.id for w in mine) + "\n")
    return 0


def _worker(args: argparse.Namespace) -> int:
    """``hush worker``: a Celery worker running jobs the API servers enqueue."""
    from app.settings import get_settings

    settings = get_settings()
    if settings.queue_kind != "celery":
        _err(
            "`hush worker` runs jobs from the Celery queue: set HUSH_BACKEND=cluster (or HUSH_JOB_QUEUE=celery); "
            "the embedded `hush serve` runs its own pool of worker processes (HUSH_WORKERS)"
        )
        return 3
    if settings.bus_kind == "local":
        _err("a Celery worker's events reach the servers only through Redis: set HUSH_EVENT_BUS=redis")
        return 3
    try:  # (imported lazily further on: without them the worker ended in a traceback)
        import celery  # noqa: F401
        import redis  # noqa: F401

        from app.jobs.celery_queue import run_worker
    except ImportError as exc:
        _err(
            f"the cluster backends are not installed ({exc.name}): "
            "pip install -e '.[cluster]' in the repository's virtualenv"
        )
        return 3
    if args.check:
        return _worker_check(settings.redis_url)
    refusal = _broker_answer(settings.redis_url) or _stores_answer(settings)
    if refusal:  # it would heartbeat and take jobs it cannot claim (they waited in the queue)
        _err(refusal)
        return 3
    run_worker(settings, concurrency=args.concurrency or settings.workers, loglevel=args.log_level.upper())
    return 0


def _broker_answer(redis_url: str) -> str | None:
    """Why a worker cannot reach its broker, or None (Celery itself retries a wrong Redis URL for
    hours, logging connection errors that name neither the setting nor what to change)."""
    from app.jobs.heartbeat import connect

    client = connect(redis_url)
    try:
        client.ping()
    except Exception as exc:  # redis' connection, timeout and authentication errors
        text = str(exc).strip()
        why = text.splitlines()[0] if text else type(exc).__name__
        return f"the broker (Redis) does not answer ({why}); check HUSH_REDIS_URL"
    finally:
        client.close()
    return None


#: How long a starting worker waits for its S3 bucket: the cluster's servers create it as they
#: start, and a worker may come up first (compose starts them together).
BUCKET_WAIT_S = 60.0


def _has_accounts(settings: Any) -> bool:
    """Whether the job database holds keys (``hush keys add``); False when it cannot be read yet."""
    from app.jobs.backends import build_store

    try:
        store = build_store(settings, migrate=False)
    except Exception:
        return False
    try:
        return bool(store.has_accounts())
    except Exception:
        return False
    finally:
        store.close()


def _stores_answer(settings: Any, *, server: bool = False) -> str | None:
    """Why a server or worker cannot run (its job store or blob store does not answer), or None.

    A server creates a missing S3 bucket (as it would at start); a worker waits for it up to
    ``BUCKET_WAIT_S``, then refuses to start: it would take jobs whose inputs it cannot read (a
    bucket name mistyped on the workers failed every job as an internal error)."""
    from app.jobs.backends import build_blobs, build_store

    def job_store() -> None:
        store = build_store(settings, migrate=False)
        try:
            store.ping()
        finally:
            store.close()

    def blob_store() -> None:
        blobs = build_blobs(settings, create_bucket=server)
        deadline = time.monotonic() + (0.0 if server else BUCKET_WAIT_S)
        said = False
        while True:
            try:
                blobs.ping()
                return
            except LookupError as exc:  # the bucket is not there (yet)
                if time.monotonic() >= deadline:
                    raise
                if not said:
                    _err(f"{exc}; waiting up to {BUCKET_WAIT_S:g} s for it")
                    said = True
                time.sleep(1.0)

    local = f"that HUSH_DATA_DIR ({settings.data_dir}) is a folder this user (uid {os.getuid()}) can write"
    for name, setting, check in (
        ("job store", local if settings.store_kind == "sqlite" else "HUSH_DATABASE_URL", job_store),
        (
            "blob store",
            local if settings.blob_kind == "local" else "HUSH_S3_ENDPOINT / HUSH_S3_BUCKET / its keys",
            blob_store,
        ),
    ):
        try:
            check()
        except Exception as exc:  # any driver's error: say which store and which setting
            text = str(exc).strip()
            return (
                f"the {name} does not answer ({text.splitlines()[0] if text else type(exc).__name__}); check {setting}"
            )
    return None


#: Most credit minutes a key holds or one `hush keys credit` moves (the database's integers hold far
#: more; a 30-digit number was a raw OverflowError). A billion minutes is some 1900 years of audio.
MAX_MINUTES = 10**9


def _keys(args: argparse.Namespace) -> int:
    """``hush keys ...``: accounts in the job database (``HUSH_DATA_DIR``, or PostgreSQL)."""
    from app.auth import new_key
    from app.jobs.backends import build_store
    from app.settings import get_settings

    settings = get_settings()
    store = build_store(settings)
    # which database: HUSH_DATA_DIR is relative to where this runs, and a key added from another
    # folder went into a new database the server never read (README audit)
    where = settings.db_path.resolve() if settings.store_kind == "sqlite" else "PostgreSQL (HUSH_DATABASE_URL)"
    sys.stderr.write(f"hush: keys in {where}\n")
    try:
        if args.keys_cmd == "add":
            credits: int | None = None
            if args.credits != "unlimited":
                try:
                    credits = int(args.credits)
                except ValueError:
                    _err(f"--credits takes a whole number of minutes or 'unlimited', not {args.credits!r}")
                    return 2
                if not 0 <= credits <= MAX_MINUTES:
                    _err(f"--credits takes 0 to {MAX_MINUTES} minutes, not {credits}")
                    return 2
            if any(not ch.isprintable() for ch in args.label):
                _err("--label cannot hold tabs, newlines or other control characters (they break `hush keys list`)")
                return 2
            taken = [r["owner"] for r in store.accounts() if args.label and args.label in (r["label"], r["owner"])]
            if taken:  # (a label equal to another key's id would hide that key from its id)
                _err(f"the label {args.label!r} is already key {taken[0]}'s: a label finds one key, choose another")
                return 2
            key, key_hash, owner = new_key()
            store.add_key(
                key_hash,
                owner,
                label=args.label,
                state="inactive" if args.inactive else "active",
                credits_minutes=credits,
                rpm=args.rpm,
                max_concurrent=args.concurrency,
            )
            sys.stdout.write(f"{key}\n")
            sys.stderr.write(f"key id {owner}: store the key now, it is not shown again\n")
            return 0
        if args.keys_cmd == "list":
            rows = store.accounts()
            lines = ["id\tlabel\tstate\tcredits_minutes\trpm\tconcurrency\n"]
            for r in rows:
                credits_text = "unlimited" if r["credits_minutes"] is None else str(r["credits_minutes"])
                lines.append(
                    f"{r['owner']}\t{r['label']}\t{r['state']}\t{credits_text}\t"
                    f"{r['rpm'] or '-'}\t{r['max_concurrent'] or '-'}\n"
                )
            try:
                sys.stdout.writelines(lines)
                sys.stdout.flush()
            except BrokenPipeError:  # `hush keys list | head`: the reader has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        account = store.find_account(args.key_id)
        if account is None:
            same = [r["owner"] for r in store.accounts() if r["label"] == args.key_id]
            if len(same) > 1:  # labels given before they had to be unique
                _err(f"the label {args.key_id!r} names {len(same)} keys ({', '.join(same)}): give the id")
            else:
                _err(f"no key with id or label {args.key_id!r} (see `hush keys list`)")
            return 2
        owner = account["owner"]
        if args.keys_cmd in ("disable", "enable"):
            store.set_account(owner, state="disabled" if args.keys_cmd == "disable" else "active")
        elif args.keys_cmd == "remove":
            busy = store.open_jobs(owner)
            if busy and not args.force:
                _err(
                    f"key {owner} has {busy} job(s) waiting or running: removed, they would run on uncharged "
                    "and their results could not be fetched; disable it first and wait, or give --force"
                )
                return 2
            store.remove_account(owner)
        else:  # credit
            was = account["credits_minutes"]
            if args.minutes == "unlimited":
                store.grant(owner, None, args.note)
                sys.stdout.write(f"{owner}: unlimited credit minutes\n")
                return 0
            try:
                minutes = int(args.minutes)
            except ValueError:
                _err(f"minutes must be a whole number (negative takes) or 'unlimited', not {args.minutes!r}")
                return 2
            if abs(minutes) > MAX_MINUTES:
                _err(f"minutes must be within {MAX_MINUTES} either way, not {minutes}")
                return 2
            if was is not None and minutes < -was:  # the balance never goes below zero
                sys.stderr.write(f"{owner} has {was} minute(s): taking {was}, not {-minutes}\n")
                minutes = -was
            balance = store.grant(owner, minutes, args.note)
            if was is None:
                sys.stderr.write(f"{owner} had unlimited credits; it now has a balance (`unlimited` gives them back)\n")
            sys.stdout.write(f"{owner}: {balance} credit minute(s)\n")
        return 0
    finally:
        store.close()


def _local(
    src: str,
    dst: str | None,
    steps: list[dict[str, Any]],
    *,
    container: str | None = None,
    level_hint: str = "`hush enhance` with `--flag normalize` (and the flags for this step) brings the level down",
) -> int:
    """Run ``steps`` over ``src`` with the same pipeline the server uses; write ``dst``.

    ``level_hint`` is how this command lowers the level, for the clipping warning."""
    import soundfile as sf

    from app import media
    from app.errors import AppError
    from app.jobs.models import OutputSpec, Step
    from app.jobs.pipeline import process_file
    from app.jobs.steps import check_steps

    for name in (src, dst):
        if name == "-":  # a file named "-" was written, and a player piped the JSON report
            _err("'-' (standard input or output) is not supported: give a file name")
            return 2
    if Path(src).is_dir():
        _err(f"{src} is a folder; give an audio or video file")
        return 2
    if dst is not None and Path(dst).is_dir():
        _err(f"{dst} is a folder; give the output file's name, e.g. {Path(dst) / Path(src).name}")
        return 2
    try:
        parsed = [Step.model_validate(s) for s in steps]
        check_steps(parsed)
        info = media.probe(
            Path(src),
            pcm_hint="Headerless 16-bit PCM needs a header first, e.g. "
            "`ffmpeg -f s16le -ar RATE -ac CHANNELS -i IN.raw IN.wav`.",
        )
    except AppError as exc:
        _err(_as_typed(exc))
        return 3 if exc.code == "engine.unavailable" else 2
    except FileNotFoundError:
        _err(f"no such file: {src}")
        return 2
    except OSError as exc:
        _err(f"cannot read {src}: {exc.strerror or exc}")
        return 2
    out_container = container
    if dst is not None and out_container is None:
        suffix = Path(dst).suffix.lstrip(".").lower()
        out_container = suffix or None
    bar = _Bar(info.duration_s or 0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = process_file(
                Path(src),
                info,
                parsed,
                OutputSpec(
                    audio=dst is not None,
                    container=out_container,
                    level_hint=level_hint,
                ),
                Path(tmp),
                progress=bar,
            )
            if dst is not None and result.path is not None:
                _place(result.path, Path(dst))
    except AppError as exc:
        _err(exc.message)
        return 2
    except OSError as exc:  # the output folder cannot be made or written, the disk is full ...
        _err(f"cannot write {dst}: {exc.strerror or exc}")
        return 2
    except sf.LibsndfileError as exc:  # a scratch file the pipeline writes (its disk full ...)
        where = tempfile.gettempdir()
        _err(f"cannot write the scratch files in {where} ({exc.error_string}); free space there or set TMPDIR")
        return 2
    finally:
        bar.close()
    for warning in result.data.get("warnings", []):  # in the report too, as the server's job result has them
        _err(f"warning: {warning}")
    report = {"steps": result.reports, **result.data}
    # the audio went to standard output (/dev/stdout): the report goes to the error stream
    (sys.stderr if dst is not None and _is_stdout(dst) else sys.stdout).write(json.dumps(report) + "\n")
    return 0


def _is_stdout(path: str) -> bool:
    """Whether ``path`` is this process's standard output (``/dev/stdout``, ``/proc/self/fd/1``)."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError):
        return False


def _place(done: Path, dst: Path) -> None:
    """Put the finished ``done`` at ``dst`` whole or not at all.

    A move to another file system (an external drive, a /tmp in memory) is a copy, and a copy
    stopped part-way left a cut-off file whose header announced the whole length: the copy goes
    to a hidden file beside ``dst``, renamed over it once complete (as ``python -m dsp`` writes).
    A ``dst`` that is a character device or a pipe (``/dev/null``, ``/dev/stdout``) is written
    into, never replaced (as root, the rename replaced /dev/stdout with the WAV). A symlink to a
    file is replaced by the result, never written through: resolved first, a link planted in a
    shared folder turned root's output into a write over /etc/passwd (a security review).
    """
    if _is_stream(dst):
        with done.open("rb") as src, dst.open("wb") as sink:  # (the kernel guards a link it follows)
            shutil.copyfileobj(src, sink)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=f".partial{dst.suffix}", dir=dst.parent)
    os.close(fd)
    partial = Path(name)
    try:
        umask = os.umask(0)  # the mode a new file would get (mkstemp makes it private)
        os.umask(umask)
        shutil.move(str(done), partial)
        partial.chmod(0o666 & ~umask)
        os.replace(partial, dst)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _is_stream(path: Path) -> bool:
    """Whether ``path`` is a character device or a pipe (through a symlink): written into, not replaced.

    Raises ``OSError`` for anything else that is not a regular file (a block device, a socket):
    the output is not written there."""
    try:
        mode = os.stat(path).st_mode  # (follows a symlink)
    except FileNotFoundError:
        return False
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    if not stat.S_ISREG(mode):
        raise OSError(f"{path} is neither a file, a pipe nor a character device")
    return False


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP (`timeout`, systemd, `docker stop`, a closed terminal) end a local tool
    as Ctrl-C does, so its scratch files and partial output are removed on the way out."""

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


class _Bar:
    def __init__(self, duration_s: float) -> None:
        self._bar: Any = None
        if duration_s >= 30 and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=100,
                desc="processing",
                file=sys.stderr,
                bar_format="{desc}: {n:3d} %|{bar}| {elapsed}<{remaining}",
            )

    def __call__(self, pct: float) -> None:
        if self._bar is not None:  # whole percents only
            self._bar.update(max(0, int(pct) - self._bar.n))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(100 - self._bar.n)
            self._bar.close()


def _has_step(name: str) -> bool:
    """Whether the step's engine ships in this build, without loading it (a second or more that
    `--help` or a health check need not pay)."""
    from app.jobs.steps import STEPS

    return STEPS[name].shipped


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hush`` command."""
    from app.settings import single_threaded_children

    single_threaded_children()  # before numpy loads: the local tools and the server's workers alike
    parser = argparse.ArgumentParser(prog="hush", description="Self-hosted audio clean-up server and tools.")
    parser.add_argument("--version", action="version", version=f"hush {__version__}")
    listed = ["serve", "worker", "keys", "denoise", "vad", *(["declick"] if _has_step("declick") else []), "enhance"]
    # commands this build cannot run (declick without its engine) still answer, saying so, but
    # are not listed
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="{" + ",".join(listed) + "}")

    p = sub.add_parser("serve", help="run the server (embedded: SQLite, local files, worker processes)")
    p.add_argument("--host", default=None, help="bind address (default HUSH_HOST or 127.0.0.1)")
    p.add_argument("--port", type=_whole(1, 65535), default=None, help="port (default HUSH_PORT or 8000)")
    p.add_argument(
        "--workers", type=_whole(1, 256), default=None, help="worker processes (default HUSH_WORKERS or cores)"
    )
    p.add_argument("--mock", action="store_true", help="mock mode: vendor scenarios on demand (see README)")
    p.add_argument(
        "--log-level", default=None, choices=["critical", "error", "warning", "info", "debug"], help="HUSH_LOG_LEVEL"
    )

    w = sub.add_parser(
        "worker", help="run a Celery worker (HUSH_BACKEND=cluster: Redis broker, shared store and blobs)"
    )
    w.add_argument(
        "--concurrency", type=_whole(1, 256), default=None, help="job processes (default HUSH_WORKERS or cores)"
    )
    w.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    w.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when a worker of this host has a live heartbeat, else 1 (a container health check)",
    )

    k = sub.add_parser("keys", help="manage API keys, their credits and limits (in the job database)")
    ks = k.add_subparsers(dest="keys_cmd", required=True)
    ka = ks.add_parser("add", help="create a key; it is printed once and stored only as a hash")
    ka.add_argument("--label", default="", help="a name to find the key by")
    ka.add_argument("--credits", default="unlimited", help="credit minutes, or 'unlimited' (default)")
    ka.add_argument(
        "--rpm",
        type=_whole(1, why=" (leave it out for HUSH_RATE_LIMIT_PER_MINUTE)"),
        default=None,
        help="requests per minute (default: HUSH_RATE_LIMIT_PER_MINUTE)",
    )
    ka.add_argument(
        "--concurrency",
        type=_whole(1, why=" (leave it out for no limit)"),
        default=None,
        help="jobs waiting or running at once (default: no limit)",
    )
    ka.add_argument("--inactive", action="store_true", help="create it not activated (enable it later)")
    ks.add_parser("list", help="list keys (never the keys themselves)")
    for name, text in (("disable", "refuse a key"), ("enable", "activate a key"), ("remove", "delete a key")):
        kp = ks.add_parser(name, help=text)
        kp.add_argument("key_id", help="the id `hush keys list` shows, or the label")
        if name == "remove":
            kp.add_argument("--force", action="store_true", help="remove it even while it has jobs open")
    kc = ks.add_parser("credit", help="add (or, negative, take) credit minutes")
    kc.add_argument("key_id", help="the id `hush keys list` shows, or the label")
    kc.add_argument("minutes", help="minutes to add (negative: to take, down to zero), or 'unlimited'")
    kc.add_argument("--note", default="")

    d = sub.add_parser("denoise", help="reduce background noise in a file")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--amount", type=_number, default=100.0, help="1..100 (100 = full reduction)")
    d.add_argument(
        "--engine",
        choices=_engines("denoise_engine"),
        default=None,
        help="denoise engine (default HUSH_DENOISE_ENGINE or dsp; the neural ones need their packages)",
    )
    d.add_argument(
        "--channels",
        choices=["linked", "each"],
        default="linked",
        help="one gain for all channels (linked, keeps a stereo image) or each channel alone (two microphones)",
    )

    v = sub.add_parser("vad", help="print speech segments as JSON")
    v.add_argument("input")
    v.add_argument(
        "--min-non-speech",
        type=_number,
        default=0.0,
        help="merge pauses shorter than this, in seconds, 0..60 (default 0: keep every pause found)",
    )
    v.add_argument(
        "--engine",
        choices=_engines("vad_engine"),
        default=None,
        help="speech detector (default HUSH_VAD_ENGINE or dsp; silero needs its packages)",
    )

    c = (
        sub.add_parser("declick", help="repair clicks and crackle")
        if "declick" in listed
        else sub.add_parser("declick")
    )
    c.add_argument("input")
    c.add_argument("output")
    c.add_argument(
        "--detection-mult",
        type=_number,
        default=8.0,
        help="6..10: how far over the local level an event must stand (6 = most sensitive; default 8)",
    )
    c.add_argument(
        "--click-len",
        type=_number,
        default=10.0,
        help="5..30 ms: the longest event treated as a click; longer ones are left as sound (default 10)",
    )

    e = sub.add_parser("enhance", help="apply enhancement steps by flag")
    e.add_argument("input")
    e.add_argument("output")
    # the flags come from the AudioCleaner dialect (the web stack): read only when `enhance` is asked for
    asked = list(sys.argv[1:] if argv is None else argv)
    flag_help = f"one of {', '.join(_runnable_flags())}" if "enhance" in asked else "an enhance flag (repeatable)"
    e.add_argument("--flag", action="append", default=[], help=flag_help)

    args = parser.parse_args(argv)
    from pydantic import ValidationError

    from app.settings import describe_invalid, get_settings

    try:
        get_settings()  # read once here, so a bad setting is one line, not a traceback
    except ValidationError as exc:
        _err(f"invalid setting: {describe_invalid(exc)}")
        return 2
    if args.cmd == "serve":
        return _serve(args)
    if args.cmd == "keys":
        return _keys(args)
    if args.cmd == "worker":
        return _worker(args)
    _stop_on_signals()
    try:
        return _tool(args)
    except KeyboardInterrupt as exc:  # Ctrl-C, or a signal above: nothing half-written is left
        name = exc.args[0] if exc.args else "SIGINT"
        _err(f"interrupted ({name}); no output was written")
        return 128 + signal.Signals[name].value


def _tool(args: argparse.Namespace) -> int:
    """Run one of the local tools (denoise, vad, declick, enhance) over a file."""
    if args.cmd == "denoise":
        if not 1 <= args.amount <= 100:
            _err("--amount must be between 1 and 100")
            return 2
        params: dict[str, Any] = {
            "amount": args.amount,
            "channels": args.channels,
            **({"engine": args.engine} if args.engine else {}),
        }
        return _local(args.input, args.output, [{"name": "denoise", "params": params}])
    if args.cmd == "vad":
        params = {"min_non_speech_s": args.min_non_speech, **({"engine": args.engine} if args.engine else {})}
        return _local(args.input, None, [{"name": "vad", "params": params}])
    if args.cmd == "declick":
        return _local(
            args.input,
            args.output,
            [{"name": "declick", "params": {"detection_mult": args.detection_mult, "click_len": args.click_len}}],
        )
    flags = _enhance_flags()
    unknown = [f for f in args.flag if f not in flags]
    if unknown or not args.flag:
        what = f"unknown --flag {', '.join(unknown)}" if unknown else "no --flag given"
        _err(f"{what}; the flags are: {', '.join(flags)}")
        return 2
    # the AudioCleaner plan: chain order whatever the order of the flags, a step two flags share
    # (studio_sound and remove_noise both denoise) once, the loudness step last
    from app.dialects.audiocleaner import plan

    chosen, planned = plan(dict.fromkeys(args.flag, True))
    for flag, entry in planned.items():  # as the server's report says: a flag with no engine is not applied
        if entry.get("status") == "not_applied":
            _err(f"{flag} is not applied: {entry.get('reason', 'no engine in this build')}")
    if not chosen:
        _err("none of the flags given has an engine in this build: nothing to apply")
        return 3
    steps = [s.model_dump() for s in chosen]
    hint = "add `--flag normalize` to bring the level down" if "normalize" not in args.flag else None
    return _local(args.input, args.output, steps, level_hint=hint or "")


if __name__ == "__main__":
    sys.exit(main())
