// Hush playground: upload or URL -> steps from /api/v1/steps -> job with live progress over the
// job's server-sent events -> before/after players, waveforms, spectrograms, VAD regions, report.
import WaveSurfer from "/static/vendor/wavesurfer.esm.js";
import RegionsPlugin from "/static/vendor/regions.esm.js";
import SpectrogramPlugin from "/static/vendor/spectrogram.esm.js";

// Inputs longer than this are drawn from server-side peaks, without decoding them in the browser
// (and so without a spectrogram, which needs the decoded signal).
const DECODE_LIMIT_S = 600;
// Each parameter's label. Its default and range are the server's (GET /api/v1/steps gives them
// per step: autoid's target_lufs takes less than loudness's). "blank": the field starts empty
// (the label says what empty means; the server's default shows as its placeholder); "list":
// numbers separated by commas.
const PARAMS = {
  amount: { label: "amount (1–100)", step: 1, type: "range" },
  min_non_speech_s: { label: "merge pauses shorter than (s; empty: keep every pause)", blank: true },
  detection_mult: { label: "detection threshold (6 most sensitive – 10)" },
  click_len: { label: "longest event treated as a click (ms)" },
  max_pause_s: { label: "shorten pauses longer than (s)" },
  keep_pause_s: { label: "keep of each (s, at most the length above)" },
  min_delay_ms: { label: "shortest echo delay searched (ms)" },
  max_delay_ms: { label: "longest echo delay searched (ms)" },
  max_gain_db: { label: "largest EQ correction per band (dB)" },
  target_lufs: { label: "target loudness (LUFS)" },
  max_peak_dbfs: { label: "true-peak ceiling (dBTP)" },
  min_confidence: { label: "least confidence of a filler cut (0–1)" },
  detect_s: { label: "seconds heard before notching (s)" },
  hum_hz: { label: "mains frequency (Hz; empty: found in the audio)", blank: true },
  harmonics: { label: "harmonics notched with a given frequency (e.g. 1, 2, 3)", type: "list", blank: true },
  depth_db: { label: "suppression away from speech (dB)" },
  threshold_lu: { label: "threshold above the measured loudness (LU)" },
  ratio: { label: "ratio (:1)" },
  knee_db: { label: "knee width (dB)" },
  attack_ms: { label: "attack (ms)" },
  release_ms: { label: "release (ms)" },
  makeup_db: { label: "make-up gain (dB)" },
  threshold_db: { label: "sibilance threshold (dB)" },
  max_reduction_db: { label: "largest cut of a sibilant (dB)" },
};
// parameters that are a choice of words, not a number
const CHOICES = { channels: { label: "channels ", options: ["linked", "each"] } };
// engine: a choice, per step (the server's default when left at "default")
const ENGINES = { denoise: ["dsp", "rnnoise", "deepfilternet3"], vad: ["dsp", "silero"] };
const $ = (id) => document.getElementById(id);
const state = { file: null, job: null, abort: null, players: {}, active: "before", urls: [], cuts: [], uploaded: null };

// ------------------------------------------------------------------ auth and HTTP
const keyInput = $("key");
keyInput.value = sessionStorage.getItem("hush.key") || "";
keyInput.addEventListener("change", () => {
  const key = keyInput.value.trim();
  if (key === (sessionStorage.getItem("hush.key") || "")) return;
  sessionStorage.setItem("hush.key", key);
  loadSteps();
});
function headers(extra = {}) {
  const key = keyInput.value.trim();
  return key ? { "x-api-key": key, ...extra } : extra;
}
async function api(path, options = {}) {
  let res;
  try {
    res = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new Error(`the server does not answer (${e.message}): is it still running?`);
  }
  return checked(res);
}
// an answer that is not 2xx as an Error: the server's message, its hint, the status
async function checked(res) {
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      msg = body.title || body.detail || body.message || msg;
      if (body.hint && !msg.includes(body.hint)) msg += ` (${body.hint})`;
    } catch (_) { /* not JSON */ }
    if (res.status === 401) {
      // the server's advice is for API clients (a header); here the key goes in the page's field
      $("key-box").open = true;
      msg = keyInput.value.trim()
        ? `${msg}: correct it in the "API key" field under the input (section 1)`
        : `this server needs an API key: enter it in the "API key" field under the input (section 1)`;
    }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return res;
}
// An error goes with the state it describes: one raised while a job runs (a Cancel that failed)
// when the job ends or when the server answers again after contact was lost.
function showError(msg) {
  const el = $("error");
  el.textContent = msg || "";
  el.hidden = !msg;
  // a failure after Process (which disabled itself) left the focus on <body>: the next Tab left the page
  if (msg && (document.activeElement === document.body || document.activeElement === $("run"))) el.focus();
}

// ------------------------------------------------------------------ steps
async function loadSteps() {
  const box = $("steps");
  try {
    const res = await api("/api/v1/steps");
    // the largest file the server takes (HUSH_MAX_INPUT_MB): a larger one is refused before it is sent
    state.maxInput = Number(res.headers.get("hush-max-input-bytes")) || null;
    const steps = await res.json();
    box.replaceChildren(Object.assign(document.createElement("legend"), { textContent: "Processing steps this server offers" }));
    for (const s of steps) box.append(stepControl(s));
    showError("");
    if (!state.resumed) { state.resumed = true; resume(); }
  } catch (e) {
    box.replaceChildren(Object.assign(document.createElement("legend"), { textContent: "Processing steps this server offers" }),
      Object.assign(document.createElement("p"), { textContent: "Not loaded (see the message below)." }));
    showError(`Could not list the steps: ${e.message}`);
  }
  updateRun();
}
function stepControl(s) {
  const div = document.createElement("div");
  div.className = "step" + (s.available ? "" : " unavailable");
  div.dataset.step = s.name;
  div.dataset.kind = s.kind;
  const id = `step-${s.name}`;
  const box = Object.assign(document.createElement("input"), { type: "checkbox", id, disabled: !s.available });
  box.checked = s.available && s.name === "denoise";
  const label = Object.assign(document.createElement("label"), { htmlFor: id });
  label.textContent = `${s.name} — ${s.description}` + (s.available ? "" : " (not available in this build)");
  div.append(box, " ", label);
  if (s.available && s.params.length) {
    const params = document.createElement("div");
    params.className = "params";
    // shown while the step is ticked: 15 steps' fields made Process five screens down on a phone;
    // the checkbox says whether they are shown, and which group they are
    params.id = `${id}-params`;
    box.setAttribute("aria-controls", params.id);
    // a group named by its step: out of context a field reads "denoise: engine", not "engine"
    label.id = `${id}-label`;
    params.setAttribute("role", "group");
    params.setAttribute("aria-label", `${s.name} parameters`);
    for (const p of s.params) {
      const l = document.createElement("label");
      if (p === "engine") {
        const select = Object.assign(document.createElement("select"), { name: p, id: `${id}-${p}` });
        select.append(new Option("default (the server's setting)", ""));
        // the server says which engines this build has; the others are shown, not offered
        for (const e of s.engines || (ENGINES[s.name] || []).map((name) => ({ name, available: true }))) {
          const o = new Option(e.available ? e.name : `${e.name} (not installed: ${e.install})`, e.name);
          o.disabled = !e.available;
          select.append(o);
        }
        l.append("engine ", select);
        params.append(l);
        continue;
      }
      if (CHOICES[p]) {
        const select = Object.assign(document.createElement("select"), { name: p, id: `${id}-${p}` });
        for (const o of CHOICES[p].options) select.append(new Option(o, o));
        l.append(CHOICES[p].label, select);
        params.append(l);
        continue;
      }
      const meta = PARAMS[p] || { label: p, blank: true };
      const spec = (s.param_specs || {})[p] || {};
      const type = meta.type === "list" ? "text" : meta.type || "number";
      const input = Object.assign(document.createElement("input"), { type, name: p, id: `${id}-${p}` });
      input.dataset.kind = meta.type || "number";
      input.dataset.label = meta.label;
      if (spec.minimum !== undefined) input.min = spec.minimum;
      if (spec.maximum !== undefined) input.max = spec.maximum;
      input.step = meta.step !== undefined ? meta.step : "any";
      // (after the bounds: a slider clamps its value to the bounds it has)
      const dflt = Array.isArray(spec.default) ? spec.default.join(", ") : spec.default ?? "";
      if (meta.blank) input.placeholder = String(dflt);
      else input.value = String(dflt);
      if (meta.type === "list") input.pattern = "\\s*\\d+(\\s*,\\s*\\d+)*\\s*";
      if (type === "number") {
        // a decimal comma ("1,5" where a comma is the decimal sign) is the point it means: the
        // browser drops the comma from a number field, and "1,5" became 15, in range and sent
        // (typed, pasted or dropped: the text before the browser filters it)
        input.addEventListener("beforeinput", (e) => {
          const text = e.data ?? (e.dataTransfer ? e.dataTransfer.getData("text/plain") : "");
          if (!text || !text.includes(",")) return;
          e.preventDefault();
          document.execCommand("insertText", false, text.replaceAll(",", ".")); // (at the caret, undoable)
        });
      }
      l.append(meta.label, input);
      if (meta.type === "range") {
        // the slider's value as text beside it, for the eye: the slider says its own value (an
        // <output> here was a "status" node, and one was made, empty, for every number field)
        const shown = Object.assign(document.createElement("span"), { className: "value", textContent: ` ${input.value}` });
        shown.setAttribute("aria-hidden", "true");
        input.addEventListener("input", () => { shown.textContent = ` ${input.value}`; });
        l.append(shown);
      }
      params.append(l);
    }
    div.append(params);
  }
  // the neural engines take each channel alone: "channels" is the DSP engine's choice only
  const engine = div.querySelector("select[name=engine]");
  const channels = div.querySelector("select[name=channels]");
  if (engine && channels) {
    const follow = () => {
      const neural = engine.value !== "" && engine.value !== "dsp";
      channels.disabled = neural;
      channels.title = neural ? "the neural engines always process each channel alone" : "";
    };
    engine.addEventListener("change", follow);
    follow();
  }
  box.addEventListener("change", () => { showParams(div); updateRun(); });
  showParams(div);
  return div;
}
// a step's parameters are shown while it is ticked
function showParams(div) {
  const box = div.querySelector("input[type=checkbox]");
  const params = div.querySelector(".params");
  if (!params) return;
  params.hidden = !box.checked;
  box.setAttribute("aria-expanded", String(box.checked));
}
// The server runs the steps in the order sent: transforms, then the edits (finalize steps), and
// loudness after every other step, so that cuts cannot change the level it set.
const rank = (s) => (s.name === "loudness" ? 2 : s.kind === "finalize" ? 1 : 0);
function chosenSteps({ check = false } = {}) {
  const chosen = [];
  for (const div of document.querySelectorAll(".step")) {
    if (!div.querySelector("input[type=checkbox]").checked) continue;
    const params = {};
    for (const input of div.querySelectorAll(".params input, .params select")) {
      if (check && !input.validity.valid) {
        input.focus();
        const range = input.min !== "" && input.max !== "" ? ` from ${input.min} to ${input.max}` : "";
        const what = input.dataset.kind === "list" ? "whole numbers separated by commas" : `a number${range}`;
        throw new Error(`Step ${div.dataset.step}: "${input.dataset.label}" must be ${what} (or empty for the server's default).`);
      }
      if (input.value.trim() === "" || input.disabled) continue;
      if (input.tagName === "SELECT") params[input.name] = input.value;
      else if (input.dataset.kind === "list") params[input.name] = input.value.split(",").map((v) => Number(v));
      else params[input.name] = Number(input.value);
    }
    chosen.push({ name: div.dataset.step, params, kind: div.dataset.kind });
  }
  chosen.sort((a, b) => rank(a) - rank(b));
  return chosen.map(({ name, params }) => ({ name, params }));
}
function updateRun() {
  const hasInput = state.file || $("url").value.trim();
  const running = Boolean(state.job && !isTerminal(state.job.state));
  const busy = state.starting || running;
  const hasSteps = chosenSteps().length > 0;
  $("run").disabled = !hasInput || busy || !hasSteps;
  $("cancel").disabled = !running && !state.xhr; // (an upload stops too)
  // while Process is disabled for want of an input or a step, the hint beside it says which
  $("run-hint").textContent = busy ? "" : !hasInput ? "Choose a file or a URL." : !hasSteps ? "Choose at least one step." : "";
}

// ------------------------------------------------------------------ input
const drop = $("drop");
function pick(file) {
  state.file = file;
  const over = file && state.maxInput && file.size > state.maxInput ? `: over this server's ${mib(state.maxInput)} limit` : "";
  $("file-name").textContent = file ? `${file.name} (${mib(file.size)}${over})` : "";
  if (file) $("url").value = "";
  updateRun();
}
$("file").addEventListener("change", (e) => pick(e.target.files[0] || null));
$("url").addEventListener("input", () => {
  if ($("url").value.trim()) { pick(null); $("file").value = ""; } // one input at a time: the picker forgets its file
  updateRun();
});
drop.addEventListener("click", (e) => { if (e.target !== $("file")) $("file").click(); });
drop.addEventListener("keydown", (e) => {
  if (e.target === drop && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); $("file").click(); }
});
for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  if (!e.dataTransfer.files[0]) return;
  $("file").files = e.dataTransfer.files; // the picker shows the dropped file too
  pick(e.dataTransfer.files[0]);
});

// ------------------------------------------------------------------ job
const isTerminal = (s) => ["succeeded", "failed", "cancelled", "timed_out"].includes(s);
function setStatus(job) {
  const pct = Math.floor(job.progress || 0);
  $("progress").value = pct;
  let wait = "";
  if (job.state === "queued" && !job.message) {
    wait = job.jobs_ahead ? `, ${job.jobs_ahead} job(s) ahead in the queue` : ", waiting for a free worker";
  }
  const note = job.message ? ` — ${job.message}` : ""; // e.g. no worker is running
  // the steps of the pass over the audio that runs now ("denoise, dehum"; the server's stage)
  const stage = job.stage ? ` — ${job.stage}` : "";
  const text = `${job.state.replace("_", " ")}${stage} — ${pct} %${wait}${note}${state.lost ? ` — ${state.lost}` : ""}`;
  $("status").textContent = text;
  // what a screen reader says: the state, the stage and every quarter, not each of the ~3 events a second
  const quarter = job.state === "in_progress" ? ` — ${Math.floor(pct / 25) * 25} %` : "";
  const warned = (job.result && job.result.warnings && job.result.warnings.length)
    ? ` — ${job.result.warnings.length} warning(s) about the input, shown above the players` : "";
  announce(`${job.state.replace("_", " ")}${stage}${quarter}${note}${warned}`);
}
function announce(text) {
  if ($("status-live").textContent !== text) $("status-live").textContent = text;
}
$("run").addEventListener("click", async () => {
  showError("");
  let steps;
  // the file picked now: another one picked while this one goes up is the next Process's
  const file = state.file;
  try {
    steps = chosenSteps({ check: true });
    checkSize(file);
  } catch (e) { showError(e.message); return; }
  // the previous result stays on the page until the server accepted the new job
  state.starting = true; // (an upload is on its way: Process stays disabled, whatever is ticked meanwhile)
  $("run").disabled = true;
  let accepted = false; // the server took the job
  try {
    const input = {};
    if (file) {
      // the same file again (other steps, or after a refused job): its upload is reused, not sent again
      if (!state.uploaded || state.uploaded.file !== file) state.uploaded = { file, id: await upload(file) };
      input.file_id = state.uploaded.id;
    } else {
      input.url = $("url").value.trim();
    }
    const create = () => api("/api/v1/jobs", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ input, steps }),
    });
    let res;
    try { res = await create(); } catch (e) {
      if (e.status !== 404 || !input.file_id) throw e;
      state.uploaded = { file, id: await upload(file) }; // the upload expired meanwhile
      input.file_id = state.uploaded.id;
      res = await create();
    }
    state.job = await res.json();
    accepted = true;
    state.sent = file ? { id: state.job.id, file } : null; // (its "before" is this file, not fetched back)
    state.starting = false;
    reset();
    // (named after the file sent, not the one picked since)
    rememberInput(state.job.id, { name: file ? file.name : urlName(input.url), url: Boolean(input.url) });
    // the job's id in the page's address: a reload (or the link) finds the job again
    history.replaceState(null, "", `?job=${encodeURIComponent(state.job.id)}`);
    setStatus(state.job);
    updateRun();
    await follow(state.job.id);
  } catch (e) {
    if (e.name === "AbortError" && !accepted) {
      // Cancel during the upload: the page is as before Process (the file stays picked)
      $("progress").value = 0;
      $("status").textContent = "upload cancelled — nothing was processed";
      announce("upload cancelled");
      state.starting = false;
      updateRun();
      // (Cancel, which had the focus, is disabled: the next Tab would start from the top of the page)
      if ([document.body, $("cancel")].includes(document.activeElement)) $("run").focus();
    } else if (!accepted) {
      // refused (a parameter, a file that is no audio) or never sent (no answer): no job ran, the
      // bar's "uploading 100 %" is no progress of one; the alert below says why at length
      const { msg, field } = nameFields(e.message);
      const what = e.status ? "refused" : "not sent";
      $("progress").value = 0;
      $("status").textContent = `job ${what} — ${msg}`;
      announce(`job ${what}`);
      showError(msg);
      if (field) field.focus();
    } else {
      if (e.name !== "AbortError") {
        const { msg, field } = nameFields(e.message);
        showError(msg);
        if (field) field.focus();
      }
      $("status").textContent = "stopped";
    }
  }
  state.starting = false;
  updateRun();
});
// The server refuses a parameter by its API name ("step 'remove_echo': max_delay_ms must be in
// [410.0, 1000.0], got 300.0"), which the page's labels do not show: the name is said with its
// field's label, and the first field named is the one to focus.
function nameFields(message) {
  let msg = message;
  let field = null;
  const step = /step '(\w+)'/.exec(msg);
  const div = step && [...document.querySelectorAll(".step")].find((d) => d.dataset.step === step[1]);
  for (const input of div ? div.querySelectorAll(".params input") : []) {
    const name = new RegExp(`\\b${input.name}\\b`);
    if (!name.test(msg)) continue;
    msg = msg.replace(name, `${input.name} (the field "${input.dataset.label}")`);
    field = field || input;
  }
  return { msg, field };
}
// What the page knows of a job's input and the job does not say: the file's name (the result is
// named after it) and whether it came from a URL (the server keeps no copy of it to play). Kept in
// the tab's session, so that a reload still knows it.
function rememberInput(id, info) {
  try { sessionStorage.setItem(`hush.input.${id}`, JSON.stringify(info)); } catch (_) { /* storage full or off */ }
}
function inputOf(id) {
  try { return JSON.parse(sessionStorage.getItem(`hush.input.${id}`) || "{}") || {}; } catch (_) { return {}; }
}
function urlName(url) {
  try { return decodeURIComponent(new URL(url).pathname.split("/").pop() || ""); } catch (_) { return ""; }
}
// the result's file name: the input's, with "_hush" and the result's container ("noisy_hush.mp3")
function resultName(job) {
  const stem = (inputOf(job.id).name || "").replace(/\.[^.]*$/, "").trim();
  return `${stem ? `${stem}_hush` : `hush_${job.id}`}.${job.result.container || "wav"}`;
}
const mib = (bytes) => (bytes < 0.05 * 1048576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`);
// A file over the server's limit is refused here, before it is sent (the server would refuse it,
// 413, only once the whole body had gone up).
function checkSize(file) {
  if (!file || !state.maxInput || file.size <= state.maxInput) return;
  throw new Error(`"${file.name}" is ${mib(file.size)}: this server takes files up to ${mib(state.maxInput)} `
    + "(HUSH_MAX_INPUT_MB). Send a shorter file, or the same audio compressed (FLAC or MP3 instead of WAV).");
}
// The upload, with its progress: "uploading 42 %" on the bar before the job's own progress
// (XMLHttpRequest: fetch says nothing while a body goes up). Resolves to the file's id.
function upload(file) {
  const bar = $("progress");
  const show = (sent) => {
    const pct = Math.floor((100 * sent) / (file.size || 1));
    bar.value = Math.min(pct, 100);
    $("status").textContent = `uploading ${Math.min(pct, 100)} % of ${mib(file.size)}`;
    announce(`uploading ${Math.floor(Math.min(pct, 100) / 25) * 25} %`);
  };
  bar.setAttribute("aria-label", "upload progress");
  show(0);
  const form = new FormData();
  form.append("file", file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    state.xhr = xhr; // for Cancel
    updateRun();
    xhr.open("POST", "/api/v1/files");
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
    // (the multipart framing makes the body a little larger than the file)
    xhr.upload.addEventListener("progress", (e) => show(e.lengthComputable ? (e.loaded / e.total) * file.size : 0));
    xhr.addEventListener("error", () => reject(new Error("the server does not answer (the upload failed): is it still running?")));
    xhr.addEventListener("abort", () => reject(new DOMException("the upload was cancelled", "AbortError")));
    xhr.addEventListener("load", async () => {
      try {
        const res = await checked(new Response(xhr.response, { status: xhr.status, statusText: xhr.statusText }));
        resolve((await res.json()).file_id);
      } catch (e) { reject(e); }
    });
    xhr.send(form);
  }).finally(() => {
    state.xhr = null;
    bar.setAttribute("aria-label", "progress");
  });
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function readEvents(id) {
  // The job's server-sent events, read with fetch so the key can travel in a header.
  state.abort = new AbortController();
  const res = await api(`/api/v1/jobs/${id}/events`, { signal: state.abort.signal });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
      if (!data) continue;
      const next = JSON.parse(data);
      // an event sent before the job ended, read after the cancel's answer: the job stays ended
      if (state.job && state.job.id === next.id && isTerminal(state.job.state) && !isTerminal(next.state)) continue;
      contactBack();
      state.job = next;
      setStatus(state.job);
      updateRun();
    }
  }
}
// the server answers again after contact was lost: what failed meanwhile (a Cancel) is no longer so
function contactBack() {
  if (!state.lost) return;
  state.lost = "";
  showError("");
}
async function follow(id) {
  // Until the job ends: its events; when the connection drops (the server restarts, the network
  // fails), the page says so and tries again, and a job that ended meanwhile is read back.
  let pause = 1000;
  while (!isTerminal(state.job.state)) {
    try {
      await readEvents(id);
      pause = 1000;
      if (isTerminal(state.job.state)) break;
    } catch (e) {
      if (e.name === "AbortError" || (e.status && e.status !== 502 && e.status !== 503)) throw e;
      state.lost = `lost contact with the server (${e.message}); trying again every ${pause / 1000} s`;
      setStatus(state.job);
    }
    if (state.job.id !== id) return; // another job was started meanwhile
    await sleep(pause);
    pause = Math.min(pause * 2, 8000);
    try {
      const job = await (await api(`/api/v1/jobs/${id}`)).json();
      if (state.job.id !== id) return;
      state.job = job;
      contactBack();
      setStatus(state.job);
      updateRun();
    } catch (e) {
      if (e.status === 404) throw new Error(`The server no longer has job ${id} (it may have expired).`);
      if (e.status && e.status !== 502 && e.status !== 503) throw e;
    }
  }
  state.lost = "";
  const job = state.job;
  setStatus(job);
  updateRun();
  showError(""); // what went wrong while it ran (a Cancel that failed) no longer holds: its end is said now
  if (job.state === "succeeded") await showResult(job);
  else if (job.state !== "cancelled") showError(`The job ${job.state.replace("_", " ")}: ${job.error ? job.error.reason : "no reason given"}`);
}
async function resume() {
  // a page opened at ?job=ID (a reload mid-job, or a link kept): that job, followed to its end
  const id = new URLSearchParams(location.search).get("job");
  if (!id) return;
  try {
    state.job = await (await api(`/api/v1/jobs/${encodeURIComponent(id)}`)).json();
  } catch (e) {
    showError(e.status === 404 ? `Job ${id} from this page's address is not on this server (it may have expired).`
      : `Could not read job ${id}: ${e.message}`);
    if (e.status === 404) history.replaceState(null, "", location.pathname);
    return;
  }
  showSteps(state.job.steps || []);
  setStatus(state.job);
  updateRun();
  try { await follow(state.job.id); } catch (e) { if (e.name !== "AbortError") showError(e.message); }
  updateRun();
}
function showSteps(steps) {
  // the steps and parameters of a job read back, ticked and filled in
  const byName = Object.fromEntries(steps.map((s) => [s.name, s.params || {}]));
  for (const div of document.querySelectorAll(".step")) {
    const box = div.querySelector("input[type=checkbox]");
    box.checked = div.dataset.step in byName;
    showParams(div);
    const params = byName[div.dataset.step];
    if (!params) continue;
    for (const input of div.querySelectorAll(".params input, .params select")) {
      if (!(input.name in params)) continue;
      const v = params[input.name];
      input.value = Array.isArray(v) ? v.join(", ") : String(v);
      input.dispatchEvent(new Event("input"));
    }
  }
}
$("cancel").addEventListener("click", async () => {
  if (state.xhr) { state.xhr.abort(); return; } // an upload: nothing reached the server's jobs yet
  if (!state.job) return;
  try {
    // the answer is the job as cancelled: the buttons follow it at once, not when the event stream does
    state.job = await (await api(`/api/v1/jobs/${state.job.id}`, { method: "DELETE" })).json();
    showError(""); // (an earlier Cancel that failed)
    setStatus(state.job);
    updateRun();
  } catch (e) { showError(`Cancel failed: ${e.message}`); }
});

// ------------------------------------------------------------------ before / after
function reset() {
  $("progress").value = 0;
  for (const p of Object.values(state.players)) p.destroy();
  state.players = {};
  for (const u of state.urls) URL.revokeObjectURL(u);
  state.urls = [];
  state.resultFetch = null;
  state.wantPlay = false;
  $("play").textContent = "Play";
  $("download").removeAttribute("href");
  state.active = "before";
  $("compare").hidden = true;
  $("compare").dataset.settled = "false";
  $("report-box").hidden = true;
  $("warnings").hidden = true;
  $("ab").disabled = false;
  for (const which of ["before", "after"]) {
    $(`${which}-wave`).dataset.ready = "false";
    $(`${which}-note`).textContent = "";
    $(`${which}-spec`).replaceChildren();
  }
  updateAb();
}
// A file of the server as a blob: URL, fetched with the key; progress(got, total) as it comes.
async function blobUrl(path, progress = () => {}) {
  const res = await api(path);
  const total = Number(res.headers.get("content-length")) || 0;
  const parts = [];
  let got = 0;
  progress(0, total);
  const reader = res.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
    progress(got, total);
  }
  return objectUrl(new Blob(parts, { type: res.headers.get("content-type") || "" }));
}
function objectUrl(blob) {
  const url = URL.createObjectURL(blob);
  state.urls.push(url);
  return url;
}
// what a player's note says while its audio comes: "(loading the result… 42 % of 12.3 MiB)"
function loadingNote(which, what) {
  const note = $(`${which}-note`);
  let shown = -1;
  return (got, total) => {
    if (state.players[which]) return; // (a player that streams, or built: the download's fetch)
    const pct = total ? Math.floor((100 * got) / total) : -1;
    if (pct === shown && got) return;
    shown = pct;
    note.textContent = total ? `(loading the ${what}… ${pct} % of ${mib(total)})` : `(loading the ${what}…)`;
  };
}
// The result, fetched once for its player and for Download: a promise of its blob: URL.
function resultUrl(job) {
  if (!state.resultFetch || state.resultFetch.id !== job.id) {
    const url = blobUrl(job.result_url, loadingNote("after", "result")).then((u) => {
      if (state.job && state.job.id === job.id) $("download").href = u; // saved from memory from now on
      return u;
    });
    state.resultFetch = { id: job.id, url };
  }
  return state.resultFetch.url;
}
// Download: the link is the result's own address from the job's end (its "Copy link" gives it),
// but the server wants the key in a header a link cannot send, and would name the file after the
// job: a click saves the fetched result under the input's name, once it is here.
$("download").addEventListener("click", async (e) => {
  const link = $("download");
  if (!link.href || link.href.startsWith("blob:")) return; // no result yet, or the result itself
  e.preventDefault();
  if (link.getAttribute("aria-busy") === "true") return; // (clicked again while it loads)
  const job = state.job;
  link.setAttribute("aria-busy", "true");
  link.textContent = "Download result (loading…)";
  try {
    await resultUrl(job);
    if (state.job === job) link.click(); // now a blob: URL, saved by the browser
  } catch (err) {
    showError(`Could not load the result: ${err.message}`);
  } finally {
    link.removeAttribute("aria-busy");
    link.textContent = "Download result";
  }
});
// A player: "before" (the input) or "after" (the result). Its audio: the file this page sent
// (from: { file }), or the server's (from: { path }). A short one is fetched whole (the waveform and
// the spectrogram are drawn from the decoded signal); a long one is drawn from the server's peaks
// and, on a server without a key, streamed by the <audio> element, which seeks with Range.
async function makePlayer(which, from, job) {
  const source = which === "before" ? "input" : "result";
  const wave = $(`${which}-wave`);
  const note = $(`${which}-note`);
  const duration = job.result.duration_s || (job.result.input || {}).duration_s || 0;
  const long = duration > DECODE_LIMIT_S;
  const regions = RegionsPlugin.create();
  // decode at the file's own rate (WaveSurfer's default is 8 kHz: a spectrogram to 4 kHz only)
  const rate = source === "input" ? (job.result.input || {}).sample_rate : job.result.sample_rate;
  const opts = {
    sampleRate: rate || 44100, container: wave, height: 96, waveColor: which === "before" ? "#8c959f" : "#4f8fc0",
    progressColor: which === "before" ? "#57606a" : "#1f4e79", cursorColor: "#d1242f",
    dragToSeek: true, plugins: [regions],
  };
  let url;
  if (from.file) url = objectUrl(from.file); // the user's own file: not fetched back
  else if (long && !keyInput.value.trim()) url = from.path; // (an <audio> sends no key header)
  else {
    note.textContent = `(loading the ${source}…)`;
    url = source === "result" ? await resultUrl(job) : await blobUrl(from.path, loadingNote(which, source));
  }
  let ws;
  if (long) {
    note.textContent = `(loading the ${source}'s waveform…)`;
    const peaks = await (await api(`/api/v1/jobs/${job.id}/peaks?source=${source}&points=4000`)).json();
    ws = WaveSurfer.create({ ...opts, url, peaks: [peaks.peaks], duration: peaks.duration_s });
    note.textContent = `(drawn from server-side peaks; no spectrogram above ${DECODE_LIMIT_S / 60} minutes)`;
  } else {
    note.textContent = `(drawing the ${source}…)`;
    opts.plugins.push(SpectrogramPlugin.create({ container: $(`${which}-spec`), height: 128, labels: true }));
    ws = WaveSurfer.create({ ...opts, url });
    ws.once("ready", () => { if (note.textContent.startsWith("(drawing")) note.textContent = ""; });
  }
  ws.on("error", (e) => { $(`${which}-note`).textContent = `(cannot play: ${e.message || e})`; });
  ws.on("interaction", () => syncFrom(which));
  ws.on("finish", () => { $("play").textContent = "Play"; });
  ws.on("timeupdate", () => { if (which === state.active) showClock(false); });
  // the result's times: the cuts of long_silences and fillers (input seconds) taken out
  const cuts = source === "result" ? inputCuts(job) : [];
  const segs = (job.result.segments || [])
    .map(([start, end]) => [toOutputTime(start, cuts), toOutputTime(end, cuts)])
    .filter(([start, end]) => end > start);
  ws.once("ready", () => {
    for (const [start, end] of segs) {
      regions.addRegion({ start, end, color: "rgba(46, 160, 67, 0.18)", drag: false, resize: false });
    }
    wave.dataset.regions = String(segs.length);
    wave.dataset.regionStarts = segs.map(([start]) => start.toFixed(3)).join(" ");
    wave.dataset.duration = String(ws.getDuration());
    wave.dataset.ready = "true";
    if (which === state.active) showClock(false);
  });
  ws.once("ready", () => {
    if (state.wantPlay && which === state.active) { state.wantPlay = false; togglePlay(); } // pressed while it loaded
  });
  state.players[which] = ws;
  return ws;
}
function inputCuts(job) {
  const cuts = [];
  for (const r of job.result.steps || []) {
    for (const c of r.cuts || []) {
      const [a, b] = Array.isArray(c) ? c : [c.start_s, c.end_s];
      if (b > a) cuts.push([a, b]);
    }
  }
  return cuts.sort((x, y) => x[0] - y[0]);
}
// the inverse: a time of the result as a time of the input (a cut's start maps to its end)
function toInputTime(t, cuts) {
  let added = 0;
  for (const [a, b] of cuts) {
    if (t + added < a) break;
    added += b - a;
  }
  return t + added;
}
// the same moment of the recording on the other player: the result lacks the cuts
function otherTime(which, t) {
  return which === "before" ? toOutputTime(t, state.cuts || []) : toInputTime(t, state.cuts || []);
}
function toOutputTime(t, cuts) {
  let removed = 0;
  for (const [a, b] of cuts) {
    if (t <= a) break;
    removed += Math.min(t, b) - a;
  }
  return t - removed;
}
async function showResult(job) {
  $("compare").hidden = false;
  state.cuts = inputCuts(job);
  renderReport(job);
  const warnings = job.result.warnings || [];
  $("warnings").querySelector("ul").replaceChildren(...warnings.map((w) => Object.assign(document.createElement("li"), { textContent: w })));
  $("warnings").hidden = !warnings.length;
  const segs = job.result.segments || [];
  $("legend").textContent = segs.length
    ? `Green regions: ${segs.length} speech segment(s) found by VAD (their times are in the report).` : "";
  const download = $("download");
  download.href = job.result_url;
  download.setAttribute("download", resultName(job));
  const before = (from) => makePlayer("before", from, job).catch((e) => {
    $("before-note").textContent = `(not available: ${e.message})`;
  });
  // the file this page sent is at hand: its player is built at once, not fetched back
  const sent = state.sent && state.sent.id === job.id ? before({ file: state.sent.file }) : null;
  try {
    await makePlayer("after", { path: job.result_url }, job);
  } catch (e) {
    $("after-note").textContent = "(not available: see the message above)";
    showError(`Could not load the result: ${e.message}`);
  }
  if (inputOf(job.id).url) {
    // (asked anyway, the server answers 409, and the browser logs it as an error)
    $("before-note").textContent = "(not available: the server fetched the input from its URL and keeps no copy of it)";
  } else {
    await (sent || before({ path: `/api/v1/jobs/${job.id}/input` }));
  }
  if (state.players.before) state.players.before.setMuted(false);
  else { state.active = "after"; $("ab").disabled = true; } // nothing to compare with (a URL input)
  updateAb();
  if (state.wantPlay && isReady(state.active)) { state.wantPlay = false; togglePlay(); } // (B, with no A)
  // keyboard users land on the result, not at the top of the page
  if (document.activeElement === document.body || document.activeElement === $("run")) $("play").focus();
  $("compare").dataset.settled = "true"; // both players tried, the A/B switch and the focus set
}
function other(which) { return which === "before" ? "after" : "before"; }
function syncFrom(which) {
  const src = state.players[which], dst = state.players[other(which)];
  if (src && dst) dst.setTime(Math.min(dst.getDuration(), otherTime(which, src.getCurrentTime())));
}
function updateAb() {
  const ab = $("ab");
  ab.textContent = state.active === "before" ? "Listening: A (before)"
    : `Listening: B (after)${ab.disabled ? ", no before to compare with" : ""}`;

  for (const w of ["before", "after"]) $(`${w}-wave`).classList.toggle("active", w === state.active);
}
function activePlayer() { return state.players[state.active] || state.players[other(state.active)]; }
const isReady = (which) => $(`${which}-wave`).dataset.ready === "true";
function togglePlay() {
  const p = activePlayer();
  if (!p || p !== state.players[state.active] || !isReady(state.active)) {
    // pressed while the take listened to is on its way: it plays once here (pressed again: not)
    state.wantPlay = !state.wantPlay;
    $("play").textContent = state.wantPlay ? "Play (starts once loaded)" : "Play";
    if (state.wantPlay) announce("still loading: plays once loaded");
    return;
  }
  if (p.isPlaying()) { p.pause(); $("play").textContent = "Play"; } else { p.play(); $("play").textContent = "Pause"; }
}
function switchAb() {
  const from = state.players[state.active], to = state.players[other(state.active)];
  if (!to) return;
  const playing = from && from.isPlaying();
  if (from) { to.setTime(Math.min(to.getDuration(), otherTime(state.active, from.getCurrentTime()))); from.pause(); }
  state.active = other(state.active);
  if (playing) to.play();
  else if (state.wantPlay && isReady(state.active)) { state.wantPlay = false; togglePlay(); } // (to one loaded)
  updateAb();
  showClock(true);
}
function seek(delta) {
  const p = activePlayer();
  if (!p) return;
  p.setTime(Math.max(0, Math.min(p.getDuration(), p.getCurrentTime() + delta)));
  syncFrom(state.active);
  showClock(true);
}
const clockTime = (t) => `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, "0")}`;
// where the take being heard stands, as text: seen beside the buttons, and said after a seek or a
// switch (a screen reader had only the canvases' cursor)
function showClock(say) {
  const p = activePlayer();
  if (!p) return;
  const text = `${state.active === "before" ? "A" : "B"} at ${clockTime(p.getCurrentTime())} of ${clockTime(p.getDuration())}`;
  $("clock").textContent = text;
  if (say) announce(text);
}
$("play").addEventListener("click", togglePlay);
$("ab").addEventListener("click", switchAb);
document.addEventListener("keydown", (e) => {
  if ($("compare").hidden || e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
  // the player's keys, where the player is (or with the focus nowhere): a plain "x" on the drop
  // zone, the key box or a step must not switch A/B (WCAG 2.1.4, character key shortcuts)
  if (e.target !== document.body && !e.target.closest("#compare")) return;
  // Space already presses these (not a link: on a link it would scroll the page)
  const activates = e.target.closest("button, summary, [role=button]");
  if (e.key === " " && !activates) { e.preventDefault(); togglePlay(); }
  else if (e.key === "x" || e.key === "X") switchAb();
  else if (e.key === "ArrowLeft") seek(-5);
  else if (e.key === "ArrowRight") seek(5);
});

// ------------------------------------------------------------------ report
const num = (v) => String(Math.round(v * 100) / 100);
// a gain or a level change: one decimal, signed ("−2.9 dB", "+1.1 dB")
const signed = (v) => {
  const r = Math.round(v * 10) / 10;
  return `${r > 0 ? "+" : r < 0 ? "\u2212" : ""}${Math.abs(r)}`;
};
const isPair = (v) => Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number");
// What a pair of numbers is, from its key (the report names units as key suffixes: band_hz,
// hum_hz_range, removed_s): a range where the key says so (the times of segments and cuts, a
// *_range, or a key ending in one unit: "4000–9922.5 Hz"); the points of a curve where the key is
// one of CURVES (each point's two units: "315 Hz: −0.2 dB"); else null: two numbers ("3, 4"), a
// list of them ("(3, 4), (5, 6)").
const CURVES = { curve: ["Hz", "dB"] };
const UNITS = { s: "s", ms: "ms", hz: "Hz", db: "dB" };
function pairText(key) {
  const unit = UNITS[(/_(s|ms|hz|db)(?:_range)?$/.exec(key) || [])[1]] || "";
  if (CURVES[key]) {
    const [u, v] = CURVES[key];
    return ([a, b]) => `${num(a)} ${u}: ${v === "dB" ? signed(b) : num(b)} ${v}`;
  }
  if (unit || /(^|_)(segments|cuts|range)$/.test(key)) {
    return ([a, b]) => `${num(a) === num(b) ? num(a) : `${num(a)}–${num(b)}`}${unit ? ` ${unit}` : ""}`;
  }
  return null;
}
// A report value as text, or as a nested list for objects and lists of objects. A long list shows
// its first REPORT_ITEMS, a count of the rest, and all of it behind "show all N" (with a button
// that copies it as JSON). key: the value's name in the report, which says how a pair of numbers
// reads.
const REPORT_ITEMS = 20;
function reportValue(v, key = "", limit = REPORT_ITEMS) {
  if (v === null || v === undefined) return document.createTextNode("—");
  if (typeof v === "number") return document.createTextNode(num(v));
  if (isPair(v) && pairText(key)) return document.createTextNode(pairText(key)(v));
  if (Array.isArray(v)) {
    if (!v.length) return document.createTextNode("none");
    if (v.length > limit) {
      const frag = document.createDocumentFragment();
      frag.append(listValue(v.slice(0, limit), key, ` … and ${v.length - limit} more`), allOf(v, key));
      return frag;
    }
    return listValue(v, key, "");
  }
  if (typeof v === "object") {
    const dl = document.createElement("dl");
    for (const [k, x] of Object.entries(v)) {
      const dd = document.createElement("dd");
      dd.append(reportValue(x, k));
      dl.append(Object.assign(document.createElement("dt"), { textContent: k.replaceAll("_", " ") }), dd);
    }
    return dl;
  }
  return document.createTextNode(String(v));
}
function listValue(items, key, more) {
  if (items.every(isPair)) {
    const text = pairText(key) || (([a, b]) => `(${num(a)}, ${num(b)})`);
    return document.createTextNode(items.map(text).join(", ") + more);
  }
  if (items.every((x) => typeof x !== "object" || x === null)) {
    return document.createTextNode(items.map((x) => (typeof x === "number" ? num(x) : String(x))).join(", ") + more);
  }
  const ol = document.createElement("ol");
  for (const x of items) {
    const li = document.createElement("li");
    li.append(reportValue(x, key));
    ol.append(li);
  }
  if (more) ol.append(Object.assign(document.createElement("li"), { textContent: more.trim() }));
  return ol;
}
// the whole of a long list, folded: "show all 50", then every item and a copy button
function allOf(v, key) {
  const details = Object.assign(document.createElement("details"), { className: "all" });
  const summary = Object.assign(document.createElement("summary"), { textContent: `show all ${v.length}` });
  const copy = Object.assign(document.createElement("button"), { type: "button", className: "copy", textContent: "Copy all as JSON" });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(JSON.stringify(v));
      copy.textContent = "Copied as JSON";
    } catch (e) { copy.textContent = "Not copied: select the list above instead"; }
    announce(copy.textContent); // (the page's one live region)
  });
  const all = Object.assign(document.createElement("div"), { className: "all-items" });
  all.append(reportValue(v, key, Infinity));
  details.append(summary, all, copy);
  return details;
}
function renderReport(job) {
  const body = document.querySelector("#report tbody");
  body.replaceChildren();
  for (const r of job.result.steps || []) {
    const tr = document.createElement("tr");
    const name = Object.assign(document.createElement("th"), { scope: "row", textContent: r.step });
    const applied = document.createElement("td");
    applied.dataset.label = "applied"; // said before the cell where the narrow layout drops the headers
    const skipped = r.applied === false || Boolean(r.not_applied);
    applied.textContent = skipped ? `no — ${r.not_applied || r.reason || r.note || "no reason given"}` : "yes";
    const details = document.createElement("td");
    const dl = document.createElement("dl");
    for (const [k, v] of Object.entries(r)) {
      if (["step", "applied", "reason", "not_applied", "segments"].includes(k)) continue;
      const dd = document.createElement("dd");
      dd.append(reportValue(v, k));
      dl.append(Object.assign(document.createElement("dt"), { textContent: k.replaceAll("_", " ") }), dd);
    }
    if (r.segments) {
      const dd = document.createElement("dd");
      // the times as text, not only drawn: the step reports a count, the job holds the list
      const list = Array.isArray(r.segments) ? r.segments : (r.step === "vad" && job.result.segments) || null;
      if (list) dd.append(`${list.length}, in seconds (also drawn on the waveforms): `, reportValue(list, "segments"));
      else dd.textContent = `${r.segments} (drawn on the waveforms)`;
      dl.append(Object.assign(document.createElement("dt"), { textContent: "segments" }), dd);
    }
    details.append(dl);
    tr.append(name, applied, details);
    body.append(tr);
  }
  $("report-box").hidden = false;
}

loadSteps();
updateRun();
