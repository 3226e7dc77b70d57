"""AudioCleaner.ai enhance API (``audiocleaner-enhance.md``) over the job core.

``POST /audio/api/v1/api-keys/enhance/task/create`` and ``.../task/get``, key in the ``api-key``
header, answers ``{"code", "data", "message"}`` with ``code`` 100000 on success. No SDK exists;
the doc is the contract. Where it is silent, Hush chooses, and says so here:

* **Codes and HTTP statuses.** The doc lists the account codes; Hush adds its own for request
  errors, all in the envelope and all with a matching HTTP status (a client that only reads
  ``code`` works; one that checks the status does too):

  ====== ====== =============================================================
  code   HTTP   meaning
  ====== ====== =============================================================
  100000 200    success
  100001 400    a field is missing or has the wrong type (``message`` names it)
  100002 400    ``enhance_type`` names a flag this API does not have
  100003 400    no flag is set to true, or only flags this build cannot apply
  100004 400    ``inputurl`` is refused (not http(s), private network) or not audio
  100005 413    the input is over the size or duration limit
  101002 401    the API key is missing or not valid
  101005 403    the API key is disabled
  101006 403    the API key is not activated
  100100 402    not enough credit minutes left for the task
  101003 429    rate limit (``Retry-After`` in seconds)
  101004 429    concurrency limit: the key has as many tasks open as it may
  101008 404    the task does not exist (or belongs to another key)
  100500 500    internal error (``message`` carries an error id)
  100507 507    the server's disk is full
  ====== ====== =============================================================

  Keys made with ``hush keys`` carry the state, credits and limits these codes speak of;
  bootstrap keys (``HUSH_API_KEYS``) are unlimited and always active.
* **The flags** map onto one fixed chain (mouth sounds → echo/reverb → noise → EQ → edits →
  loudness last). Flags without an engine in this build run as ``not_applied`` with the reason;
  so does a flag whose engine ran and found nothing to do (``remove_echo`` without a discrete
  echo, ``remove_reverb`` on a dry recording, ``autoeq`` without speech or on music only), with
  what it measured; the task still succeeds and ``data.report`` (a Hush extension; clients ignore
  unknown fields) says, per flag, ``applied``, ``approximated`` or ``not_applied``, why, and
  what was measured.
* **``autoid``** runs :mod:`dsp.analyze` over the input first and then the steps it decided
  (noise reducer and its amount, hum notches, dereverberation, echo removal, EQ, loudness to
  -16 LUFS). With other flags set, the explicit flags always run as they would alone; autoid
  adds only the steps it decided that no flag names. ``data.report.autoid`` lists each decision
  (engine, on/off, strength, the measurement, the threshold, and whether it was ``added``,
  ``explicit`` or ``not_applied``) and the chain that ran. Clipping is detected and
  reported, not repaired (no declipping engine in this build). A recording the analysis finds
  music only (:attr:`dsp.music.MusicMap.music_only`) gets nothing: every decision and the flag
  are ``not_applied``, with that reason. Otherwise the denoiser, dereverberation and EQ it adds
  pass the music-only stretches through untouched (``music_spared`` in their reports).
* ``studio_sound`` runs a chain of steps (declick → auto-EQ within ±2 dB → denoise →
  dereverb → compress → de-ess → loudness), each once however many set flags share it, and is
  always ``approximated`` (a DSP chain, not a generative re-synthesis), measured per step.
* **``output`` and ``result``**: the field table says ``output``, the doc's example ``result``:
  both are sent, with the same absolute URL, downloadable without the key (the unguessable job id
  in the path is the capability). ``HUSH_PUBLIC_URL`` sets its base, else the request's.
* **``credit_time``**: billable minutes, the duration rounded up to the next started minute as the
  doc defines it (61 s → 2), reported on success and charged to the key's account then (never for
  a failed task, once only whatever retries or restarts happen). It is the charge itself, so the
  length is the decoded input's, not a header's estimate. A task longer than its key can pay
  fails (``reason`` says so) once its input is fetched and measured.
* **``message``** of a ``waiting`` task is "Request Success", or, while no worker of a cluster is
  alive to run it, ``"waiting: no worker is running (start `hush worker`)"`` (``code`` stays 100000).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from app import errors as e
from app import media
from app.auth import Principal
from app.dialects._common import (
    Dialect,
    KeysDep,
    MockJobEffect,
    MockScenario,
    MockState,
    ServiceDep,
    blob_response,
    default_status,
    finished_result,
    json_answer,
    json_error,
    mock_error,
    mock_job,
    parse_json,
    read_body,
)
from app.http import json_errors, message_with_error_id, public_base
from app.jobs.models import InputRef, Job, JobSpec, JobState, OutputSpec, Step, billable_minutes
from app.jobs.service import JobService
from app.jobs.steps import STEPS

__all__ = ["DIALECT", "FLAGS", "plan", "render", "to_spec"]

PREFIX = "/audio/api/v1/api-keys/enhance"
OK = 100000
_JSON_LIMIT_BYTES = 64 * 1024

#: The result keeps the input's format (the API has no output field), and normalize lowers its level.
_OUTPUT = OutputSpec(offered=(), level_hint="turn on normalize to bring the level down")
_DECLICK = Step(name="declick", params={"detection_mult": 8.0, "click_len": 5})
_DEREVERB = Step(name="remove_reverb")
_DENOISE = Step(name="denoise", params={"amount": 100})
_AUTOEQ = Step(name="autoeq")
_LOUDNESS = Step(name="loudness", params={"target_lufs": -16.0, "max_peak_dbfs": -1.0})
#: studio_sound's auto-EQ: at most +-2 dB and ahead of the denoiser, so it lifts neither the
#: denoiser's residual nor the room's tail. Against the chain without EQ, on the DEV half of
#: bench/studio.py (DNSMOS OVRL): +-3 dB after the dereverb -0.33, +-6 dB ahead of the denoiser
#: -0.20, +-2 dB ahead of it -0.10 (mostly BAK).
_STUDIO_AUTOEQ = Step(name="autoeq", params={"max_gain_db": 2.0})

#: The 14 flags of the doc, in chain order, each with the step it runs (None: no engine yet) or
#: the chain of steps (a tuple). Steps several set flags share run once; :func:`plan` puts every
#: step at its first place in this table, time edits and loudness (finalize steps) last.
FLAGS: dict[str, Step | tuple[Step, ...] | None] = {
    # clicks and mouth sounds first: later steps would smear them
    "mouth_sounds": _DECLICK,
    "remove_echo": Step(name="remove_echo"),
    "remove_reverb": _DEREVERB,
    "remove_noise": _DENOISE,
    "remove_background_audio": Step(name="remove_background", params={"depth_db": 25.0}),
    # keep_music makes this task's denoise, remove_background and long_silences spare music
    "keep_music": Step(name="keep_music"),
    "autoeq": _AUTOEQ,
    "long_silences": Step(name="long_silences", params={"max_pause_s": 1.0, "keep_pause_s": 0.5}),
    "fillers": Step(name="fillers"),
    "stutters": None,
    "hesitations": None,
    # a DSP chain, not a generative re-synthesis of the voice: reported as approximated. Its steps
    # run in this tuple's order: denoise before dereverb (denoise + dereverb scored 0.25 OVRL
    # above dereverb + denoise on the DEV half of bench/studio.py)
    "studio_sound": (
        _DECLICK,
        _STUDIO_AUTOEQ,
        _DENOISE,
        _DEREVERB,
        Step(name="compress"),
        Step(name="deess"),
        _LOUDNESS,
    ),
    "autoid": Step(name="autoid", params={"target_lufs": -16.0}),
    # loudness last: every other step changes the level
    "normalize": _LOUDNESS,
}
#: Flags whose engine only approximates what the vendor does, and why.
APPROXIMATED: dict[str, str] = {
    "studio_sound": "a DSP chain (declick, auto-EQ within 2 dB, denoise, dereverb, 2.5:1 compression, de-essing, "
    "loudness to -16 LUFS), not a generative re-synthesis of the voice; each step's measurement is in 'measured'",
}

#: The doc's account codes, by domain error (checked in order: concurrency before rate).
_ACCOUNT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (e.KeyDisabledError, 101005),
    (e.KeyNotActivatedError, 101006),
    (e.InsufficientCreditsError, 100100),
    (e.ConcurrencyLimitError, 101004),
    (e.RateLimitedError, 101003),
)
#: Request-error codes (see the module docstring), by HTTP status.
_CODES = {400: 100001, 401: 101002, 404: 101008, 413: 100005, 415: 100004, 429: 101003, 507: 100507}


class _FlagError(e.InvalidParameterError):
    """An unknown flag (100002) or no flag set (100003)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.vendor_code = code


class _InputError(e.InvalidParameterError):
    """``inputurl`` refused or unusable (100004)."""

    vendor_code = 100004


def plan(enhance_type: dict[str, bool]) -> tuple[tuple[Step, ...], dict[str, dict[str, Any]]]:
    """The steps the set flags run, in chain order, and each set flag's planned entry."""
    # flags left without an engine on purpose, and why (measured by bench/fillers.py)
    why_not = {
        "stutters": "no stutter detector in this build reaches event F1 0.7 with at most 1 % of speech "
        "removed: a repeated sound or syllable needs a phone-level model, and the filled-pause "
        "detector (fillers) does not find repetitions",
        "hesitations": "no detector in this build reaches event F1 0.7 with at most 1 % of speech removed "
        "for hesitations other than filled pauses (the fillers flag) and long pauses (long_silences); "
        "drawn-out words and restarts are left in",
    }
    order: dict[str, int] = {}  # a step's place in the chain: its first appearance in FLAGS
    for entry in FLAGS.values():
        for s in (entry,) if isinstance(entry, Step) else entry or ():
            order.setdefault(s.name, len(order))
    studio = FLAGS["studio_sound"]
    if enhance_type.get("studio_sound") and isinstance(studio, tuple):
        # studio_sound's steps keep their places in the chain but take them in its own order
        names = [s.name for s in studio]
        for name, slot in zip(names, sorted(order[n] for n in names), strict=True):
            order[name] = slot
    chosen: dict[str, Step] = {}
    planned: dict[str, dict[str, Any]] = {}
    for flag, entry in FLAGS.items():
        if not enhance_type.get(flag):
            continue
        flag_steps = (entry,) if isinstance(entry, Step) else entry or ()
        missing = [s.name for s in flag_steps if not STEPS[s.name].available]
        if not flag_steps or missing:
            why = f" (step {', '.join(missing)})" if missing else ""
            planned[flag] = {"status": "not_applied", "reason": why_not.get(flag, f"no engine in this build{why}")}
            continue
        for s in flag_steps:
            chosen.setdefault(s.name, s)
        item: dict[str, Any] = {"status": "applied"}
        if flag in APPROXIMATED:
            item = {"status": "approximated", "reason": APPROXIMATED[flag]}
        if isinstance(entry, Step):
            item["step"] = entry.name
        else:
            item["steps"] = [s.name for s in flag_steps]
        planned[flag] = item
    steps = sorted(chosen.values(), key=lambda s: (STEPS[s.name].kind == "finalize", order[s.name]))
    return tuple(steps), planned


def _json_kind(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words: ``a number``, ``null``, ``an array`` ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _json_text(value: Any) -> str:
    """``value`` as JSON, cut to 60 characters (for a message that quotes what was sent)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _field(body: dict[str, Any], name: str, kind: type, what: str) -> Any:
    """``body[name]``, which must be of JSON type ``kind`` (``str`` or ``dict``): else a 100001 naming it."""
    if name not in body:
        raise e.InvalidParameterError(f"{name} is required: {what}")
    value = body[name]
    if not isinstance(value, kind):
        wanted = "a string" if kind is str else "an object"
        raise e.InvalidParameterError(f"{name} must be {wanted} ({what}), not {_json_kind(value)}")
    return value


def to_spec(body: dict[str, Any]) -> tuple[JobSpec, dict[str, dict[str, Any]]]:
    """Check a create body and build its job; raises InvalidParameterError naming the field."""
    url = _field(body, "inputurl", str, "the URL of the audio file to enhance")
    if not url.strip():
        raise e.InvalidParameterError("inputurl is empty: give the URL of the audio file to enhance")
    if not url.strip().lower().startswith(("http://", "https://")):
        raise _InputError(f"inputurl must be an http(s) URL, not {_json_text(url)}")
    flags = _field(body, "enhance_type", dict, "the 14 flags, each true or false")
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise _FlagError(f"enhance_type has unknown flag(s) {unknown}; the flags are {sorted(FLAGS)}", 100002)
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise e.InvalidParameterError(f"enhance_type.{name} must be true or false, not {_json_text(value)}")
    if not any(flags.values()):
        raise _FlagError("enhance_type sets no flag to true; set at least one", 100003)
    steps, planned = plan(flags)
    if not steps:
        # a task that would change nothing was accepted, succeeded with every flag not_applied, and
        # was charged for its minutes (an audit): the FAQ charges only for processing done
        why = "; ".join(f"{name}: {item.get('reason', 'not available')}" for name, item in planned.items())
        raise _FlagError(
            f"enhance_type sets only flag(s) this server cannot apply, so the task would change nothing and "
            f"is not created (no credit is charged): {why}",
            100003,
        )
    return JobSpec(input=InputRef(url=url.strip()), steps=steps, output=_OUTPUT), planned


def _step_report(job: Job, name: str) -> dict[str, Any]:
    for r in job.result_meta.get("steps", []):
        if r.get("step") == name:
            return dict(r)
    return {}


#: How far (LU) the delivered loudness may miss the target and the flag still read "applied": the
#: tolerance EBU R 128 gives a programme's integrated loudness where it cannot be normalised exactly
#: (+-0.5 LU, live programmes; EBU R 128 s1, 2016).
NORMALIZE_TOLERANCE_LU = 0.5


def _loudness_miss(measured: dict[str, Any]) -> str | None:
    """Why ``normalize`` is only approximated, from what the result measures; None when it is met."""
    out = measured.get("output_loudness_lufs")
    target = measured.get("target_lufs")
    if not isinstance(out, (int, float)) or not isinstance(target, (int, float)):
        return None
    if abs(out - target) <= NORMALIZE_TOLERANCE_LU:
        return None
    limiter = measured.get("limiter") or {}
    side = "under" if out < target else "over"
    why = f"the result reads {out:.1f} LUFS, {abs(out - target):.1f} LU {side} the {target:g} LUFS target"
    if measured.get("limited_by_peak"):
        held = float(measured.get("measured_lufs") or 0.0) + float(measured.get("gain_db") or 0.0)
        why += (
            f": its peaks allowed a gain to {held:.1f} LUFS only, and the true-peak limiter cut them by up to "
            f"{float(limiter.get('max_reduction_db') or 0.0):.1f} dB to keep the ceiling"
        )
    return why


def report(job: Job) -> dict[str, dict[str, Any]]:
    """Per set flag: applied / approximated / not_applied, why, and what was measured."""
    out: dict[str, dict[str, Any]] = {}
    for flag, entry in (job.meta.get("plan") or {}).items():
        item = dict(entry)
        step = item.pop("step", None)
        chain = item.pop("steps", None)
        if item["status"] != "not_applied" and job.state is JobState.succeeded and chain:
            item["measured"] = {name: _step_report(job, name) for name in chain}
        elif item["status"] != "not_applied" and job.state is JobState.succeeded and step:
            measured = _step_report(job, "loudness" if step == "loudness" else step)
            item["measured"] = measured
            if flag == "autoid" and measured:
                item["measured"] = measured.get("measurements", {})
                item["decisions"] = measured.get("decisions", [])
                item["chain"] = measured.get("chain", [])
                if not any(d.get("action") == "added" for d in item["decisions"]):
                    item["status"] = "not_applied"
                    item["reason"] = "the analysis found nothing to repair that the other flags do not already"
            if measured.get("not_applied"):  # the engine ran and did not change the audio (it says why)
                item["status"] = "not_applied"
                item["reason"] = measured["not_applied"]
            if flag == "normalize":
                miss = _loudness_miss(measured)
                if miss is not None:
                    item["status"] = "approximated"
                    item["reason"] = miss
        elif item["status"] != "not_applied":
            item["status"] = "pending" if not job.terminal else "not_applied"
            if job.terminal:
                item["reason"] = "the task did not succeed"
        out[flag] = item
    return out


def render(job: Job, base_url: str, position: int, note: str | None = None) -> tuple[dict[str, Any], str]:
    """``(data, message)`` of a task/get answer; ``note`` is the message of a waiting task that
    cannot start (no worker is running) instead of "Request Success"."""
    data: dict[str, Any] = {"status": "waiting", "output": "", "result": "", "file_size": 0}
    message = "Request Success"
    if job.state is JobState.succeeded and job.result_meta.get("result_deleted"):
        # "success" with a link that answers 404: a client would download an error (an audit); the
        # minutes stay charged (the task succeeded; its owner deleted the result)
        reason = "the result was deleted at its owner's request (DELETE /api/v1/jobs/{job_id}/result)"
        billed = job.result_meta.get("billable_minutes")
        if billed is not None:  # "failed" reads as free (the FAQ): the charge is said in words too
            data["credit_time"] = int(billed)
            reason += f"; the task had succeeded and was charged {int(billed)} credit(s)"
        data.update(status="failed", reason=reason)
        message = reason
    elif job.state is JobState.succeeded:
        ext = job.result_meta.get("container", "wav")
        url = f"{base_url}{PREFIX}/file/{job.id}.{media.EXTENSIONS.get(ext, '.' + ext).lstrip('.')}"
        data.update(status="success", output=url, result=url, file_size=int(job.result_meta.get("size_bytes") or 0))
        # what the key was charged: the decoded input's length in started minutes (a header's
        # estimate, e.g. an MP3 without a Xing frame, can be minutes off)
        billed = job.result_meta.get("billable_minutes")
        duration = (job.result_meta.get("input") or {}).get("duration_s")
        if billed is not None:
            data["credit_time"] = int(billed)
        elif duration is not None:  # a job finished before billable_minutes was recorded
            data["credit_time"] = billable_minutes(duration)
        warnings = job.result_meta.get("warnings")
        if warnings:  # a Hush extension, as report: an input cut off, a rate the format could not carry
            data["warnings"] = [str(w) for w in warnings]
    elif job.terminal:
        reason = job.error_reason or {
            JobState.cancelled: "the task was cancelled",
            JobState.timed_out: "the task took too long and was stopped",
        }.get(job.state, "processing failed")
        data.update(status="failed", reason=reason)
        message = reason
    else:
        data["tasks_position"] = position
        if note:
            message = note
    data["report"] = report(job)
    return data, message


# ---------------------------------------------------------------------------- errors and auth


def audiocleaner_status_for(exc: Exception) -> int:
    """HTTP status here: the core's, with unsupported media a 400."""
    status = default_status(exc)
    return 400 if status == 415 else status


def render_error(request: Request, exc: Exception, status: int, message: str) -> Response:
    """The vendor envelope: ``code`` from the table in the module docstring."""
    code = getattr(exc, "vendor_code", None)
    for cls, account_code in _ACCOUNT_CODES:
        if code is None and isinstance(exc, cls):
            code = account_code
    if code is None:
        unusable = isinstance(exc, e.FetchError) or (
            isinstance(exc, e.InputError) and not isinstance(exc, e.InvalidParameterError)
        )
        code = 100004 if unusable and status == 400 else _CODES.get(status)
    if code is None:
        code = 100500 if status >= 500 else 100001
    return json_error(status, {"code": code, "data": {}, "message": message_with_error_id(exc, message)}, exc)


def audiocleaner_principal(keys: KeysDep, api_key: Annotated[str | None, Header(alias="api-key")] = None) -> Principal:
    """The caller, from the ``api-key`` header."""
    return keys.check_key(api_key, how="it in the api-key header")


PrincipalDep = Annotated[Principal, Depends(audiocleaner_principal)]
router = APIRouter(tags=["audiocleaner"])


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, _JSON_LIMIT_BYTES, hint="the body names an inputurl; the audio is downloaded")
    data = parse_json(raw or b"null")
    if not isinstance(data, dict):
        raise e.InvalidParameterError("the body must be a JSON object")
    return data


# ---------------------------------------------------------------------------- OpenAPI bodies

#: The create body as :func:`to_spec` checks it (the route reads raw JSON to answer in the vendor's
#: envelope and codes, so the schema is written out here).
_CREATE_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["inputurl", "enhance_type"],
    "properties": {
        "inputurl": {
            "type": "string",
            "pattern": "^\\s*[hH][tT][tT][pP][sS]?://",
            "description": "http(s) URL of the audio file (fetched by the server, under its URL policy)",
        },
        "enhance_type": {
            "type": "object",
            "description": "the enhancement flags; at least one must be true",
            "properties": {flag: {"type": "boolean"} for flag in sorted(FLAGS)},
            "additionalProperties": False,
            "minProperties": 1,
            "anyOf": [{"required": [flag], "properties": {flag: {"const": True}}} for flag in sorted(FLAGS)],
        },
    },
}
_GET_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["job_id"],
    "properties": {"job_id": {"type": "string", "minLength": 1, "description": "the id task/create returned"}},
}


def _answer(data: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answer in the vendor envelope (``code`` 100000) with ``data`` as given (a JSON Schema)."""
    message = {"type": "string", "description": '"Request Success", or why the task failed or waits'}
    return json_answer(
        description, {"code": {"type": "integer", "const": OK}, "data": {"type": "object", **data}, "message": message}
    )


_ERROR_WHY = {
    400: "100001 a field is missing or wrong, 100002 an unknown flag, 100003 no flag set (or only flags this "
    "build cannot apply), 100004 inputurl refused or not audio",
    401: "101002 the API key is missing or not valid",
    402: "100100 not enough credit minutes left for the task",
    403: "101005 the key is disabled, 101006 not activated",
    404: "101008 the task does not exist (or belongs to another key)",
    413: "100005 the body or the input is over its limit",
    429: "101003 rate limit, 101004 concurrency limit; see Retry-After",
    500: "100500 internal error (message carries an error id)",
    507: "100507 the server's disk is full",
}


_ERROR_ENVELOPE: dict[str, Any] = {
    "code": {"type": "integer", "description": "the vendor's code (see each status)"},
    "data": {"type": "object"},
    "message": {"type": "string", "description": "what went wrong and what to change"},
}


def _error_answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, in the vendor envelope with its own codes."""
    return json_errors(_ERROR_WHY, _ERROR_ENVELOPE, statuses)


_CREATE_ANSWER = _answer(
    {"required": ["job_id"], "properties": {"job_id": {"type": "string", "description": "the task's id"}}},
    "the task was created",
)
_GET_ANSWER = _answer(
    {
        "required": ["status", "output", "result", "file_size", "report"],
        "properties": {
            "status": {"type": "string", "enum": ["waiting", "success", "failed"]},
            "output": {"type": "string", "description": "link to the result file once status is success, else empty"},
            "result": {"type": "string", "description": "the same link as output"},
            "file_size": {"type": "integer", "minimum": 0, "description": "the result file's size in bytes"},
            "credit_time": {"type": "integer", "minimum": 0, "description": "minutes charged (success)"},
            "tasks_position": {"type": "integer", "minimum": 0, "description": "place in the queue (waiting)"},
            "reason": {"type": "string", "description": "why the task failed (failed)"},
            "report": {"type": "object", "description": "per flag set: applied, approximated or not_applied, and why"},
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "what to know about the input or the output (success, when there is any): an input "
                "that ends before its header says, a rate the output format could not carry",
            },
        },
    },
    "the task's state",
)


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# ---------------------------------------------------------------------------- routes


# audiocleaner-enhance.md, "POST /audio/api/v1/api-keys/enhance/task/create"
@router.post(
    f"{PREFIX}/task/create",
    responses={**_CREATE_ANSWER, **_error_answers(400, 401, 402, 403, 413, 429, 500, 507)},
    openapi_extra=_json_body(_CREATE_BODY),
)
async def audiocleaner_create(request: Request, service: ServiceDep, who: PrincipalDep) -> JSONResponse:
    """Create an enhancement task; answers ``{"code": 100000, "data": {"job_id"}, ...}``."""
    body = await _body(request)
    spec, planned = to_spec(body)
    try:
        # the doc's job_id is 32 hex digits ("33b6251d7ba94edea8361c318736e746"): a client may check it
        job = await service.submit(
            dialect="audiocleaner", spec=spec, owner=who.owner, meta={"plan": planned}, compact_id=True
        )
    except e.URLRefusedError as exc:
        raise _InputError(exc.message, hint=exc.hint) from None
    return JSONResponse({"code": OK, "data": {"job_id": job.id}, "message": "Request Success"})


# audiocleaner-enhance.md, "POST /audio/api/v1/api-keys/enhance/task/get"
@router.post(
    f"{PREFIX}/task/get",
    responses={**_GET_ANSWER, **_error_answers(400, 401, 404, 413, 429)},
    openapi_extra=_json_body(_GET_BODY),
)
async def audiocleaner_get(request: Request, service: ServiceDep, who: PrincipalDep) -> JSONResponse:
    """The task's status; ``output``/``result`` once it succeeded, ``tasks_position`` while it waits."""
    body = await _body(request)
    job_id = _field(body, "job_id", str, "the id task/create returned")
    if not job_id:
        raise e.InvalidParameterError("job_id is required: the id task/create returned")
    job = await service.get(job_id, owner=who.owner)
    if job.dialect != "audiocleaner":
        raise e.NotFoundError(f"task {job_id!r} does not exist")
    position = await service.jobs_ahead(job) + 1 if job.state is JobState.queued else 0
    data, message = render(job, public_base(request, service), position, await service.waiting_note(job))
    return JSONResponse({"code": OK, "data": data, "message": message})


# The output link (Hush's; the doc only says "Result file URL")
@router.get(
    f"{PREFIX}/file/{{name}}",
    response_class=FileResponse,
    responses={404: {}},
    openapi_extra={"security": []},  # no credentials: the id in the link is the capability
)
@router.head(f"{PREFIX}/file/{{name}}", include_in_schema=False)
async def audiocleaner_file(name: str, request: Request, service: ServiceDep) -> Response:
    """The enhanced file; no key needed (the job id in the link is the capability)."""
    job, key = await finished_result(service, name, "audiocleaner")
    ext = job.result_meta["container"]
    job_id = job.id
    container = str(job.result_meta.get("container") or ext)
    return await blob_response(
        service,
        key,
        media_type=str(job.result_meta.get("mime") or media.mime_type(container)),
        filename=f"enhanced_{job_id}.{ext}",
        head=request.method == "HEAD",
        request=request,
    )


# --------------------------------------------------------------------------- mock mode
_QUEUED_POLLS = 3
_GET_PATH = f"{PREFIX}/task/get"
_JOB_ID = re.compile(rb'"job_id"\s*:\s*"([^"]+)"')


async def _mock_waiting(request: Request, state: MockState) -> Response | None:
    """A task's first task/get answers are ``waiting`` with ``tasks_position`` 3, 2, 1; then its real status."""
    if request.url.path != _GET_PATH:
        return None
    match = _JOB_ID.search(await request.body())
    if match is None:
        return None
    job_id = match.group(1).decode()
    polls = state.count(f"audiocleaner.waiting.{job_id}")
    if polls >= _QUEUED_POLLS or state.is_advanced(job_id):
        return None
    service: JobService = request.app.state.service
    job = await service.get(job_id)  # 101008 for an unknown task
    if job.dialect != "audiocleaner":
        return None
    waiting = job.model_copy(update={"state": JobState.queued})
    data, message = render(waiting, public_base(request, service), _QUEUED_POLLS - polls)
    return JSONResponse({"code": OK, "data": data, "message": message}, headers={"X-Hush-Mock": "waiting"})


def _on_get(scenario: MockScenario) -> MockScenario:
    """``scenario`` answering task/get only; task/create runs for real."""

    async def respond(request: Request, state: MockState) -> Response | None:
        return await scenario.respond(request, state) if request.url.path == _GET_PATH else None

    return MockScenario(scenario.name, scenario.description, respond)


#: Scenarios of ``hush serve --mock`` (see app/api/mock.py for how a request selects one).
MOCK_SCENARIOS: tuple[MockScenario, ...] = (
    mock_error(
        "100100",
        "every request answers 100100 (HTTP 402): not enough credits",
        402,
        lambda: e.InsufficientCreditsError("insufficient credits (mock scenario)"),
        render_error,
    ),
    mock_error(
        "101002",
        "every request answers 101002 (HTTP 401): invalid API key",
        401,
        lambda: e.AuthError("invalid API key (mock scenario)"),
        render_error,
    ),
    mock_error(
        "101003",
        "every request answers 101003 (HTTP 429, Retry-After: 7): rate limit exceeded",
        429,
        lambda: e.RateLimitedError("rate limit exceeded (mock scenario)", retry_after_s=7),
        render_error,
    ),
    mock_error(
        "101004",
        "every request answers 101004 (HTTP 429, Retry-After: 5): concurrency limit exceeded",
        429,
        lambda: e.ConcurrencyLimitError("concurrency limit exceeded (mock scenario)", retry_after_s=5),
        render_error,
    ),
    mock_error(
        "101005",
        "every request answers 101005 (HTTP 403): API key disabled",
        403,
        lambda: e.KeyDisabledError("API key disabled (mock scenario)"),
        render_error,
    ),
    mock_error(
        "101006",
        "every request answers 101006 (HTTP 403): API key not activated",
        403,
        lambda: e.KeyNotActivatedError("API key not activated (mock scenario)"),
        render_error,
    ),
    _on_get(
        mock_error(
            "101008",
            "task/create runs; task/get answers 101008 (HTTP 404): task does not exist",
            404,
            lambda: e.NotFoundError("task does not exist (mock scenario)"),
            render_error,
        )
    ),
    MockScenario(
        "waiting",
        "a task's first three task/get answers are waiting with tasks_position 3, 2, 1; then its real status",
        _mock_waiting,
    ),
    mock_job(
        "failed",
        "tasks end failed with a reason (data.reason and message)",
        MockJobEffect(end=JobState.failed, reason=lambda job: "the audio could not be processed (mock scenario)"),
    ),
)

DIALECT = Dialect(
    name="audiocleaner",
    router=router,
    prefixes=(PREFIX,),
    render_error=render_error,
    status_for=audiocleaner_status_for,
    mock_scenarios=MOCK_SCENARIOS,
)
