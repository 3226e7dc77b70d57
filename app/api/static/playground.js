// Hush playground: upload or URL -> steps from /api/v1/steps -> job with live progress over the
// job's server-sent events -> before/after players, waveforms, spectrograms, VAD regions, report.
import WaveSurfer from "/static/vendor/wavesurfer.esm.js";
import RegionsPlugin from "/static/vendor/regions.esm.js";
import SpectrogramPlugin from "/static/vendor/spectrogram.esm.js";

// Inputs longer than this are drawn from server-side peaks, without decoding them in the browser
// (and so without a spectrogram, which needs the decoded signal).
const DECODE_LIMIT_S = 600;
const PARAMS = {
  amount: { label: "amount (1–100)", min: 1, max: 100, step: 1, value: 80, type: "range" },
  min_non_speech_s: { label: "merge pauses shorter than (s)", min: 0, max: 5, step: 0.05, value: 0.3 },
  detection_mult: { label: "detection threshold (6 most sensitive – 10)", min: 6, max: 10, step: 0.5, value: 8 },
  click_len: { label: "longest click repaired by interpolation (ms)", min: 5, max: 30, step: 1, value: 10 },
  max_pause_s: { label: "shorten pauses longer than (s)", min: 0.2, max: 60, step: 0.1, value: 1 },
  keep_pause_s: { label: "keep of each (s)", min: 0.05, max: 60, step: 0.05, value: 0.5 },
  min_delay_ms: { label: "shortest echo delay searched (ms)", min: 20, max: 990, step: 5, value: 50 },
  max_delay_ms: { label: "longest echo delay searched (ms)", min: 30, max: 1000, step: 5, value: 300 },
  max_gain_db: { label: "largest EQ correction per band (dB)", min: 0, max: 12, step: 0.5, value: 6 },
  target_lufs: { label: "target loudness (LUFS)", min: -40, max: -5, step: 0.5, value: -16 },
  max_peak_dbfs: { label: "true-peak ceiling (dBTP)", min: -12, max: 0, step: 0.1, value: -1 },
};
// parameters that are a choice of words, not a number
const CHOICES = { channels: { label: "channels ", options: ["linked", "each"] } };
// engine: a choice, per step (the server's default when left at "default")
const ENGINES = { denoise: ["dsp", "rnnoise", "deepfilternet3"], vad: ["dsp", "silero"] };
const $ = (id) => document.getElementById(id);
const state = { file: null, job: null, abort: null, players: {}, active: "before", urls: [] };

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
  const res = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      msg = body.title || body.detail || body.message || msg;
      if (body.hint && !msg.includes(body.hint)) msg += ` (${body.hint})`;
    } catch (_) { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return res;
}
function showError(msg) {
  const el = $("error");
  el.textContent = msg || "";
  el.hidden = !msg;
}

// ------------------------------------------------------------------ steps
async function loadSteps() {
  const box = $("steps");
  try {
    const steps = await (await api("/api/v1/steps")).json();
    box.replaceChildren(Object.assign(document.createElement("legend"), { textContent: "Processing steps this server offers" }));
    for (const s of steps) box.append(stepControl(s));
    showError("");
  } catch (e) {
    if (e.status === 401) $("key-box").open = true;
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
      const meta = PARAMS[p] || { label: p, type: "number", value: "" };
      const input = Object.assign(document.createElement("input"), {
        type: meta.type || "number", name: p, id: `${id}-${p}`, value: meta.value,
      });
      for (const k of ["min", "max", "step"]) if (meta[k] !== undefined) input[k] = meta[k];
      const out = document.createElement("output");
      out.textContent = meta.type === "range" ? ` ${input.value}` : "";
      input.addEventListener("input", () => { if (meta.type === "range") out.textContent = ` ${input.value}`; });
      l.append(meta.label, input, out);
      params.append(l);
    }
    div.append(params);
  }
  box.addEventListener("change", updateRun);
  return div;
}
function chosenSteps() {
  const chosen = [];
  for (const div of document.querySelectorAll(".step")) {
    if (!div.querySelector("input[type=checkbox]").checked) continue;
    const params = {};
    for (const input of div.querySelectorAll(".params input, .params select")) {
      if (input.value !== "") params[input.name] = input.tagName === "SELECT" ? input.value : Number(input.value);
    }
    chosen.push({ name: div.dataset.step, params, kind: div.dataset.kind });
  }
  chosen.sort((a, b) => (a.kind === "finalize") - (b.kind === "finalize")); // loudness goes last
  return chosen.map(({ name, params }) => ({ name, params }));
}
function updateRun() {
  const hasInput = state.file || $("url").value.trim();
  const busy = state.job && !isTerminal(state.job.state);
  $("run").disabled = !hasInput || busy || chosenSteps().length === 0;
  $("cancel").disabled = !busy;
}

// ------------------------------------------------------------------ input
const drop = $("drop");
function pick(file) {
  state.file = file;
  $("file-name").textContent = file ? `${file.name} (${(file.size / 1048576).toFixed(1)} MiB)` : "";
  if (file) $("url").value = "";
  updateRun();
}
$("file").addEventListener("change", (e) => pick(e.target.files[0] || null));
$("url").addEventListener("input", () => { if ($("url").value.trim()) pick(null); updateRun(); });
drop.addEventListener("keydown", (e) => {
  if (e.target === drop && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); $("file").click(); }
});
for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) pick(e.dataTransfer.files[0]); });

// ------------------------------------------------------------------ job
const isTerminal = (s) => ["succeeded", "failed", "cancelled", "timed_out"].includes(s);
function setStatus(job) {
  const pct = Math.floor(job.progress || 0);
  $("progress").value = pct;
  const ahead = job.state === "queued" && job.jobs_ahead ? `, ${job.jobs_ahead} job(s) ahead` : "";
  const note = job.message ? ` — ${job.message}` : "";  // e.g. no worker is running
  $("status").textContent = `${job.state.replace("_", " ")} — ${pct} %${ahead}${note}`;
}
$("run").addEventListener("click", async () => {
  showError("");
  reset();
  $("run").disabled = true;
  try {
    const input = {};
    if (state.file) {
      $("status").textContent = "uploading…";
      const form = new FormData();
      form.append("file", state.file, state.file.name);
      const up = await (await api("/api/v1/files", { method: "POST", body: form })).json();
      input.file_id = up.file_id;
    } else {
      input.url = $("url").value.trim();
    }
    const res = await api("/api/v1/jobs", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ input, steps: chosenSteps() }),
    });
    state.job = await res.json();
    setStatus(state.job);
    updateRun();
    await follow(state.job.id);
  } catch (e) {
    if (e.name !== "AbortError") showError(e.message);
    $("status").textContent = "stopped";
  }
  updateRun();
});
async function follow(id) {
  // The job's server-sent events, read with fetch so the key can travel in a header.
  state.abort = new AbortController();
  const res = await api(`/api/v1/jobs/${id}/events`, { signal: state.abort.signal });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
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
      state.job = next;
      setStatus(state.job);
      updateRun();
    }
  }
  const job = state.job;
  if (job.state === "succeeded") await showResult(job);
  else if (job.state !== "cancelled") showError(`The job ${job.state.replace("_", " ")}: ${job.error ? job.error.reason : "no reason given"}`);
}
$("cancel").addEventListener("click", async () => {
  if (!state.job) return;
  try {
    // the answer is the job as cancelled: the buttons follow it at once, not when the event stream does
    state.job = await (await api(`/api/v1/jobs/${state.job.id}`, { method: "DELETE" })).json();
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
  state.active = "before";
  $("compare").hidden = true;
  $("report-box").hidden = true;
  for (const which of ["before", "after"]) {
    $(`${which}-wave`).dataset.ready = "false";
    $(`${which}-note`).textContent = "";
    $(`${which}-spec`).replaceChildren();
  }
  updateAb();
}
async function blobUrl(path) {
  const url = URL.createObjectURL(await (await api(path)).blob());
  state.urls.push(url);
  return url;
}
async function makePlayer(which, path, source, job) {
  const wave = $(`${which}-wave`);
  const duration = job.result.duration_s || (job.result.input || {}).duration_s || 0;
  const regions = RegionsPlugin.create();
  // decode at the file's own rate (WaveSurfer's default is 8 kHz: a spectrogram to 4 kHz only)
  const rate = source === "input" ? (job.result.input || {}).sample_rate : job.result.sample_rate;
  const opts = {
    sampleRate: rate || 44100, container: wave, height: 96, waveColor: which === "before" ? "#8c959f" : "#4f8fc0",
    progressColor: which === "before" ? "#57606a" : "#1f4e79", cursorColor: "#d1242f",
    dragToSeek: true, plugins: [regions],
  };
  const url = await blobUrl(path);
  let ws;
  if (duration > DECODE_LIMIT_S) {
    const peaks = await (await api(`/api/v1/jobs/${job.id}/peaks?source=${source}&points=4000`)).json();
    ws = WaveSurfer.create({ ...opts, url, peaks: [peaks.peaks], duration: peaks.duration_s });
    $(`${which}-note`).textContent = `(drawn from server-side peaks; no spectrogram above ${DECODE_LIMIT_S / 60} minutes)`;
  } else {
    opts.plugins.push(SpectrogramPlugin.create({ container: $(`${which}-spec`), height: 128, labels: true }));
    ws = WaveSurfer.create({ ...opts, url });
  }
  ws.on("error", (e) => { $(`${which}-note`).textContent = `(cannot play: ${e.message || e})`; });
  ws.on("interaction", () => syncFrom(which));
  ws.on("finish", () => { $("play").textContent = "Play"; });
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
    wave.dataset.ready = "true";
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
  renderReport(job);
  const segs = job.result.segments || [];
  $("legend").textContent = segs.length ? `Green regions: ${segs.length} speech segment(s) found by VAD.` : "";
  const download = $("download");
  try {
    await makePlayer("after", job.result_url, "result", job);
    download.href = state.urls[state.urls.length - 1];
    download.setAttribute("download", `hush_${job.id}.${job.result.container || "wav"}`);
  } catch (e) { showError(`Could not load the result: ${e.message}`); }
  try {
    await makePlayer("before", `/api/v1/jobs/${job.id}/input`, "input", job);
  } catch (e) { $("before-note").textContent = `(not available: ${e.message})`; }
  if (state.players.before) state.players.before.setMuted(false);
  updateAb();
}
function other(which) { return which === "before" ? "after" : "before"; }
function syncFrom(which) {
  const src = state.players[which], dst = state.players[other(which)];
  if (src && dst) dst.setTime(src.getCurrentTime());
}
function updateAb() {
  const ab = $("ab");
  ab.textContent = state.active === "before" ? "Listening: A (before)" : "Listening: B (after)";
  ab.setAttribute("aria-pressed", String(state.active === "after"));
  for (const w of ["before", "after"]) $(`${w}-wave`).classList.toggle("active", w === state.active);
}
function activePlayer() { return state.players[state.active] || state.players[other(state.active)]; }
function togglePlay() {
  const p = activePlayer();
  if (!p) return;
  if (p.isPlaying()) { p.pause(); $("play").textContent = "Play"; } else { p.play(); $("play").textContent = "Pause"; }
}
function switchAb() {
  const from = state.players[state.active], to = state.players[other(state.active)];
  if (!to) return;
  const playing = from && from.isPlaying();
  if (from) { to.setTime(from.getCurrentTime()); from.pause(); }
  state.active = other(state.active);
  if (playing) to.play();
  updateAb();
}
function seek(delta) {
  const p = activePlayer();
  if (!p) return;
  p.setTime(Math.max(0, Math.min(p.getDuration(), p.getCurrentTime() + delta)));
  syncFrom(state.active);
}
$("play").addEventListener("click", togglePlay);
$("ab").addEventListener("click", switchAb);
document.addEventListener("keydown", (e) => {
  if ($("compare").hidden || e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
  const activates = e.target.closest("button, a, summary, [role=button]"); // Space already presses these
  if (e.key === " " && !activates) { e.preventDefault(); togglePlay(); }
  else if (e.key === "x" || e.key === "X") switchAb();
  else if (e.key === "ArrowLeft") seek(-5);
  else if (e.key === "ArrowRight") seek(5);
});

// ------------------------------------------------------------------ report
const fmt = (v) => (v === null || v === undefined ? "—" : Array.isArray(v) ? (v.length ? v.join(", ") : "none")
  : typeof v === "number" ? String(Math.round(v * 100) / 100) : typeof v === "object" ? JSON.stringify(v) : String(v));
function renderReport(job) {
  const body = document.querySelector("#report tbody");
  body.replaceChildren();
  for (const r of job.result.steps || []) {
    const tr = document.createElement("tr");
    const name = Object.assign(document.createElement("th"), { scope: "row", textContent: r.step });
    const applied = document.createElement("td");
    const skipped = r.applied === false || Boolean(r.not_applied);
    applied.textContent = skipped ? `no — ${r.not_applied || r.reason || r.note || "no reason given"}` : "yes";
    const details = document.createElement("td");
    const dl = document.createElement("dl");
    for (const [k, v] of Object.entries(r)) {
      if (["step", "applied", "reason", "not_applied", "segments"].includes(k)) continue;
      dl.append(Object.assign(document.createElement("dt"), { textContent: k.replaceAll("_", " ") }),
        Object.assign(document.createElement("dd"), { textContent: fmt(v) }));
    }
    if (r.segments) dl.append(Object.assign(document.createElement("dt"), { textContent: "segments" }),
      Object.assign(document.createElement("dd"), { textContent: `${Array.isArray(r.segments) ? r.segments.length : r.segments} (drawn on the waveforms)` }));
    details.append(dl);
    tr.append(name, applied, details);
    body.append(tr);
  }
  $("report-box").hidden = false;
}

loadSteps();
