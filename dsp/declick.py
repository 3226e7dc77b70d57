"""Click repair: AR-residual detection, LSAR interpolation of short clicks, spectral clamp of bursts.

Detection (Vaseghi & Rayner 1990; Godsill & Rayner 1998, ch. 5). The channels' mean is
high-passed (first difference) and, in 20 ms analysis frames, an autoregressive model of order
``p`` (one coefficient per 400 Hz of sample rate, 20 to 40) is fitted by the
autocorrelation method (the Levinson-Durbin recursion, run on all frames at once). Its
prediction residual is white for speech and music but spikes where a click breaks the
prediction. The residual's local scale is robust: 1.4826 times its
median absolute value over 5 ms sub-frames, then the median of five neighbouring sub-frames
(a few clicks do not move it). A sample whose residual exceeds ``detection_mult`` times that
scale is a click sample (6 = most sensitive, 10 = least); click samples closer than 1 ms (or
``p`` samples) form one event, which starts at its first forward-residual exceedance and ends
at its last backward-residual exceedance (the backward residual, the same coefficients run in
reverse time, smears before a click instead of after it).

Two-sided test (do no harm). An additive click is broadband and short, so it breaks the
prediction in both time directions: the forward and the backward residual both exceed the
threshold within the event. A natural excitation (a glottal closure, a plosive release) drives a
minimum-phase vocal tract or instrument body: its forward residual spikes, but the ringing that
follows it predicts it backwards, so the backward residual stays low. An event whose backward
residual never exceeds the threshold is sound and left alone. On the click corpus 95 % of the
impulsive clicks pass this test; on real click-free speech three in four candidates do not.

Isolation guard and interpolation re-check. A click stands alone; the residual peaks of natural
sound come in families (pulses, bursts of frication, a rough voice). An event whose
forward-residual peak is not at least twice (6 dB) the largest peak within 20 ms either side of
it (outside its own span and the ``p`` samples its residual smears into) is left alone, unless
the re-check clears it. The re-check interpolates the event by LSAR (as the repair would) and
compares the AR prediction-error energy over the event and ``p`` samples either side before and
after: a click is foreign to the AR model fitted on its context, so interpolating it removes
nearly all of that energy; a glottal pulse or a plosive is part of the sound the model was
fitted on and keeps much of it. An event the interpolation leaves at most 3 % of its residual
energy is a click whatever stands near it (dense crackle: two clicks 5-10 ms apart used to
spare each other), and an isolated event that keeps more than half is sound. On the dev split
the re-check passes 21 % of the spikes the isolation guard stopped and 6 % of the real-speech
candidates; with it false events on the real dev speech fell from 15.7 to 13.6 per minute.

Weak candidates. An event whose forward and backward residuals both exceed 0.6 of the
threshold, but not the threshold itself, is repaired only if it is at most 3 ms long and the
re-check leaves at most 8 % of its residual energy (on the real dev recordings none of the
1729 weak candidates does; a fifth to a third of the corpus's weak spikes do).

Glottal guard. Voiced speech drives the vocal tract with one pulse per pitch period, and each
pulse leaves a residual peak. An event with residual peaks at least half its own height about
one period before and after it (2.5-16 ms, the two distances within 25 % of each other), or two
such peaks one and two periods away on one side (the first or last pulse of a voiced stretch),
is pitch-synchronous and left alone, unless the interpolation re-check leaves at most 1 % of its
residual energy (a click in a voiced stretch).

Periodic waveforms. A synthesiser's pulse, sawtooth or triangle wave (its harmonics up to
near Nyquist) breaks a short AR model's prediction at an edge or a pulse in every period, and
its interpolation re-check reads each as foreign to the model of its 20 ms context, which the
flat stretches between them fill: the re-check that overrules the glottal guard, or the tonal
pass, repaired them all.
An additive click sits at one place: the sound one period away lacks it. So an event whose
residual peaks recur at the pitch period (as for the glottal guard) and whose high-passed span
repeats, with normalised correlation ``_PERIODIC_NCC`` (0.9), one period before and one after it
(the two periods within ``_PERIODIC_TOL``), or one and two periods away on one side (a repair
or a click on the other), is sound, whatever its re-check says. Each correlation peak is
refined between lags by a parabola: a period is rarely a whole number of samples, and a sharp
pulse correlates well only within a fraction of a sample of it (a 10 % pulse at 220 Hz, 48 kHz:
0.86 at the nearest whole lag of twice its period, 0.95 refined). Before, such waves in 2 s drew
250 to 1300 events (a 100 Hz pulse at 44.1 kHz came out at -15 dB SI-SDR); on the dev click corpus
and the real dev and check recordings the output is unchanged but for one crackle file (one
detection fewer, the same clicks found); on the check corpus two files moved (+0.43 and -0.02 dB).

Onset guard. A note or speech onset also breaks the prediction, but the sound goes on: a short
event whose following 10 ms carry more than four times (6 dB) the energy of the 10 ms before it
is an onset and left alone; after a click the signal returns to what it was. A burst is held
to the same test on the signal itself (not high-passed): a vowel that starts after a plosive is
mostly low-frequency energy, which the high-passed envelope does not see.

Coarse scales. A pop (a smooth 0.5-3 ms bump) barely moves the full-rate residual, whose
20-40 coefficients predict its slow rise. The signal averaged down to 2 and 4 kHz
(``_SCALES``) makes it a few samples long, impulsive for a short AR model there: the same
detector, with its own two-sided, isolation and pitch tests, runs at each coarse scale, and
keeps events whose LSAR interpolation at that scale removes nearly all of their residual. A
coarse candidate where the full rate found nothing is repaired when that re-check leaves at
most 2 %. One that overlaps a full-rate candidate is a fall-back: it is tried, after the
full-rate candidates, only when the one it overlaps was spared by the two-sided, pitch or
onset guard, with a wider bar (5 %), to which the pitch guard also yields (a pop's slow
swing drives the full-rate backward residual too little to pass the two-sided test, but
the coarse scale sees both sides). A coarse event that does not stand alone at its scale (two
pops a few milliseconds apart each mask the other, or a pop among a voice's pulses) is held to
``_RECHECK_CLICK`` (3 %) as well, the bar at which the full rate repairs a click whatever stands
near it, and is only ever interpolated, never followed into a burst and clamped: its re-check
judged an interpolation of its own span.

Tonal pop scale. Under a chord the 2 kHz model of order 6 whitens three partials of the 20-30
that a few harmonic tones and a bass hold under 1 kHz; the others lift its residual's scale
over the pops among them. One more pass at 2 kHz with order 32 (``_POP_TONAL_ORDER``, over
64 ms frames) whitens them; its candidates pass the same tests at their scale and the same
re-check bars as the other coarse candidates (2 %, 5 % as a fall-back), and the full-rate
pitch guard does not judge
them: at the full rate a note's waveform repeats at its period whether or not a pop sits on
it, while at their own scale, the partials whitened, a glottal pulse train still shows its
periodic residual peaks and is left alone there.
The re-check sums the prediction error over the gap and the ``order`` samples after it, a
window five times longer at order 32 than at order 6, whose own noise then dominates what an
interpolation leaves: a pop 20 times over the residual's scale leaves about 8 %, over the 2 %
bar. A new candidate of this scale that stands alone and whose forward and backward residuals
both reach ``_POP_STRONG`` (1.25) times ``detection_mult`` times the scale is repaired when its
re-check leaves at most ``_RECHECK_POP_STRONG`` (30 %): on the click corpus (seeds 4321 / 2024)
pops recall 0.48 / 0.54 -> 0.58 / 0.59, impulsive recall 0.784 / 0.776 -> 0.797 / 0.783; every
false candidate of this scale on the clean bases and the real recordings read 4-10 times its scale.
At order 32 a group also merges every exceedance within 16 ms, and a pop's span takes in its
neighbours': a two-sided group longer than a pop is grouped again at stricter bars
(``_POP_LADDER``), as the full rate does for long events, and what the first bar that leaves
every two-sided event short finds is held to the 2 % bar.

Smooth bumps. A click a few tenths of a millisecond long at 44.1-48 kHz is a smooth bump whose
energy lies in the band of the sound around it: the order-``p`` model predicts most of it, and
no single residual sample crosses the threshold. Its whitened shape as a whole still stands out:
the detection statistic for a known shape in AR noise is the residual correlated with that shape
passed through the prediction-error filter (the matched-filter form of the inverse-filter
detector, Godsill & Rayner 1998, ch. 5), here for Hann bumps of ``_BUMP_WIDTHS_S``, in units of
the residual's scale. A bump over ``detection_mult`` is a candidate when it stands
``_BUMP_ALONE`` times over every other bump output within 20 ms (a family of bumps is a voice
or a rough note), when its interpolation re-check leaves at most ``_RECHECK_BUMP`` of its
residual energy, and when a step explains it less well than a bump does: a waveform that jumps
(a note cut off, an edit) is an impulse in the first difference, and the same filter for that
impulse reaching ``_BUMP_STEP`` of the bump's output spares it. Bump candidates come last and
face every guard of the loop but the sample-level isolation test.

Refined bumps. Under music the order-``p`` model leaves partials in the residual, and a bump
fits part of the model of its own frame: a 0.35-0.5 ms spike 0-12 dB over the music at 48 kHz
reads half the threshold or less. Where a bump output (of ``_BUMP_WIDTHS_S`` and the longer
``_REFINED_WIDTHS_S``) reaches ``_REFINED_PRE`` of ``detection_mult`` but none passes it, the
matched filter is taken again with a model of ``_REFINED_ORDER_MULT`` times the order (160 at
16-48 kHz) fitted on the 20 ms either side of the bump, ``_REFINED_GAP_S`` away from it (so the
bump trains no part of it), in units of that model's own residual scale (1.4826 times the median
absolute residual within 10 ms). The candidate is kept when that output passes ``detection_mult``,
stands ``_BUMP_ALONE`` over every other within 10 ms, the step filter stays under ``_BUMP_STEP``
of it and so does the kink filter (the same for a bend of the waveform, a step in its first
difference as long as the bump), the 10 ms after it carry at least a quarter of the energy of
the 10 ms before it (the last swing of a word or a note before a pause is not a click), and the
interpolation re-check with the longer model leaves at most ``_RECHECK_REFINED``; a bump the same
filter for 1-2 ms bumps (``_REFINED_POP_WIDTHS_S``) explains better is part of a pop and left to
the coarse scales. Its pitch and periodicity were judged by the longer model, which whitens the
notes (the full-rate pitch guard does not judge it, as for the tonal pop scale), and it is only
ever interpolated, with that longer model (the order-``p`` one leaves a weak bump under a chord
with more error than the bump had), never clamped as a burst: its evidence is that of a short
bump. On for rates from ``_REFINED_MIN_SR``. Most groups (97-99 % on clean music, 90 % on speech)
stay under the bar at their peak: that output is taken first, directly, and only the groups that
pass it there get every output of their 10 ms (``_REFINED_SCREEN``).

Onset yield. The onset guard spares an event anyway only when it stands out: at least 9 dB
over every other residual peak within 20 ms (the isolation guard's bar is 6 dB) and its
interpolation re-check leaves at most 1 % of its residual energy (a click just before a word or
a note, not the onset's own family of residual peaks).

Repair. ``click_len_ms`` is the longest event treated as a click: an event whose residual
exceedances span more than that is sound, not a click, and is left alone (so a larger value
repairs more). An event of at most ``_LSAR_MAX_S`` (3 ms) is replaced by least-squares AR
interpolation (LSAR, Godsill & Rayner 1998, sec. 5.2.2): the samples that minimise the AR
prediction error of an order-``p`` model fitted, per channel, on the 20 ms either side of the
gap. A longer event (keyboard click, 5-30 ms decaying burst) cannot be interpolated without
audible holes; its extent is followed until the high-passed envelope falls back near its level
before the onset (at most three times ``click_len_ms``), and over that span each bin of a 4 ms
STFT is clamped to the louder of its two neighbourhoods in time, phase kept (the spectral clamp
of :mod:`dsp.clicks`).

Keyboard bursts. A keyboard click (5-30 ms of decaying broadband noise) often has no single
sample that stands out: its residual peaks come as a family and fail the isolation guard. After
the impulsive passes of a segment (so a click inside a burst is already repaired and does not mask
it), the forward residual's energy over the 5 ms after each sample and the backward residual's
over the 5 ms before it must both reach (0.6 x ``detection_mult`` x scale)^2, with the scale the
residual's robust RMS over 55 ms; a span from 3 ms to three ``click_len_ms`` long, 3 dB above the
louder of the 20 ms either side and sustained (no sample carries half of a window's energy) is a
burst if the spectral clamp removes at least 10 % of its energy and the level does not rise in the
10 ms from three ``click_len_ms`` after its onset (an onset, such as the voicing after a plosive),
unless it opens with a strike: at 16 kHz and above, a key's first 0.6 ms carry a forward-residual
peak 25 dB over the residual's RMS in the 10 ms before it, where a plosive release builds up over a
millisecond or more (on the dev split the keys this test spared fell from 44 to 21; no candidate in
the real speech recordings reaches the bar). At 8 kHz a release is as few samples as a strike and the
test is off.
A soft burst trains the AR model of its own frame, which then predicts much of it, so the same
search runs a second time on cross-model residuals: each frame filtered forwards with the model
of the frame before it and backwards with that of the frame after it. Its spans count only where
the own-model test reached a quarter of its bar without passing it (a burst the own model half
hid; where the own-model test passed, its verdict stands).

Step to silence. A note that stops with a step to zero breaks the prediction like a click, but
there is nothing to repair: an event after which the level drops 10 dB (2 ms before it against
each 1 ms of the 2 ms after) and whose net jump is at least half its largest excursion (a step,
not a pulse) is left alone. On the dev corpus it took the false events on music from 11.2 to 7.5
per minute.

Passes. Detection and repair alternate twice per segment (detection and AR estimation
iterated, as Godsill & Rayner 1998, ch. 5, suggest): a click beside a louder one fails the isolation guard
until the louder one is repaired, and the second pass judges it on the repaired signal.

Tonal pass. Chords of harmonic tones hold more partials than an order-``p`` model has poles; the
partials it leaves in the residual lift the scale over the smaller clicks among them. After the
two passes and the burst search (a key's onset is clamped with the key, not interpolated alone),
one more pass runs in the frames where a model of twice the order predicts markedly better: by the
minimum description length criterion (Rissanen 1978) with half its penalty, the log ratio of the
two prediction-error powers exceeds ``0.5 p ln(N) / N`` (``N`` the frame's effective length).
There the longer model gives the residual; the other frames keep order ``p`` (a voice whitened by
a longer model shows its glottal pulses, which then pass for clicks). Only the full-rate events of
the tonal frames are judged again, with every guard, and only those of at most ``_TONAL_MAX_S``
(1.5 ms with the repair pad) are repaired: over a longer gap the interpolation can stray far from
a voiced stretch and still leave the re-check little prediction error (a 2.8 ms span of voiced
speech on the denoiser corpus). The coarse scales and the bump search ran in the base passes. On
the dev split impulsive recall went from 0.72 to 0.74 and the crackle on music from +4.8-7.5 to
+5.3-8.4 dB; the false events on its clean bases did not change.

Stereo: the side pass. On a stereo record a groove defect that moves the stylus vertically
reaches the two channels in antiphase (the vertical axis of a 45/45 cut carries L - R), and an
antiphase click cancels in the channels' mean. With two channels, one more full-rate pass runs
last on the half difference ``(L - R) / 2``, with every guard of the base passes, its threshold
floored at the mid's (``detection_mult`` times the larger of the two local scales, so the side of
a nearly mono recording is held to the mid's bar), and only events whose side residual peaks at
least twice (6 dB) over the mid's residual there are judged: an event the mid saw about as
strongly was the mid passes' to judge (the glottal pulses of a voice picked up by a spaced pair
read 1.0-1.2; ``bench/declick_stereo.py``). The coarse scales and the bump search do not run on
the side (with them stereo took 1.7-1.8 times as long as mono). A repair still goes to both channels.
Antiphase recall 0 -> 0.80 (dev) and 0.76 (check), median SI-SDR gain +4.1 -> +7.8 and
+3.3 -> +7.9 dB, the clean stereo files' false events unchanged but one (a side transient in one
music clip). Stereo costs about 40 % more than mono (instruction counts, 48 kHz noise).

Monotonic parameters. What a larger ``detection_mult`` repairs, a smaller one should repair too.
At a lower threshold an event's exceedances can merge with its surroundings: an event longer
than ``click_len``, a burst span that fails its tests, or an event not isolated from a
neighbouring peak is therefore searched again at each multiplier of 6-10 (steps of 0.5) above
the caller's, and what the first of them finds is judged in its place. The burst onset test
reads the level a fixed 30 ms past a burst's onset (three times the default ``click_len``), so
a larger ``click_len`` does not spare a burst a smaller one repairs. Over 30 seeds of the unit
test's signal three remain non-monotonic in ``detection_mult`` (``bench/README.md``).

Streaming: the input is cut into 0.5 s segments on a fixed grid, each analysed with 50 ms of
(repaired) history and 150 ms of lookahead, so the output is independent of the block sizes
fed in; latency is compensated and the output has the input's length. The first and the last
20 ms of a stream have no context on one side to judge them by and are never repaired (the
end of a recording is a step to silence, not a click).

The guards' constants were chosen on a development split (click corpus at seed 2026 and the
even-indexed files of the real speech and music folders, sorted by name) and checked on the
other half (seed 4321, the odd-indexed files); ``bench/README.md`` has both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft as sfft
from scipy.linalg import lapack

from dsp import _kernels as kernels
from dsp._kernels import levinson
from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.errors import InvalidParameterError
from dsp.stream import run_processor

__all__ = ["ClickEvent", "ClickRepairer", "repair_clicks"]

#: Sample rates the click repairer takes, in Hz. Its constants are times, not sample counts, and
#: were tuned at 16 and 48 kHz; the click corpus generated at 96 and 192 kHz scores within reach of
#: 48 kHz (bench/README.md, "Rates above 48 kHz"), so it takes every rate the engine does.
MIN_SR, MAX_SR = 8000, 192000

_SEG_S = 0.5  # segment of the fixed processing grid
_HIST_S = 0.05  # history before a segment (AR fit and scale context)
_LOOK_S = 0.15  # lookahead after a segment (bursts run up to 90 ms plus their right context)
_FRAME_S = 0.02  # AR analysis frame (Godsill & Rayner 1998, ch. 5: 10-50 ms quasi-stationary)
_MAD_TO_SIGMA = 1.4826  # median absolute deviation to standard deviation (Gaussian)
_MERGE_S = 0.001  # exceedances closer than this form one event
_LSAR_MAX_S = 0.003  # longest gap interpolated by LSAR; longer events are attenuated
_LSAR_CTX_S = 0.02  # context each side of a gap for the interpolating AR model
# samples added before and after a detected event (residual onset smear); chosen on dev: 0.15 ms against
# 0.2 ms gave music false events 7.5 -> 3.8 per minute, pops +4.5 -> +4.7 dB, keyboard +2.8 -> +3.0 dB,
# real dev speech SI-SDR median 51.8 -> 53.4 dB with its events unchanged (0.05 ms: crackle +7.6 dB but
# real dev speech events 15.2 -> 27.9 per minute; 0.1 ms: keyboard +2.7 dB)
_PAD_S = 0.00015
_PITCH_MIN_S, _PITCH_MAX_S = 0.0025, 0.016  # glottal period range (400 Hz down to 62 Hz)
_PITCH_PEAK_RATIO = 0.5  # neighbouring pulses at least this high make an event pitch-synchronous
_PITCH_SYMMETRY = 0.25  # the two periods agree within this fraction
# a burst about to be clamped is voiced sound when its high-passed waveform repeats one pitch period away and
# again two periods away with this normalised correlation (the periodic part carries >= 81 % of its energy; a
# key under a vowel passes only when it is 6.4 dB or more below the voice). Dev (click corpus seed 2026): a
# glottal pulse of a synthetic voice, 3.9 dB above its neighbours and missed by the peak-based pitch guard, read
# 0.995 and 0.93 and was the one false event on the clean bases (speech2_16k 28.8 -> 100 dB); a pop 12 ms after
# a like-shaped pop reads 0.98 one "period" away and -0.03 two away (hence the second period). The same test
# on interpolations or keyboard bursts spared true clicks and no false event (dev), so it guards clamps only
_PERIODIC_NCC = 0.9
_PERIODIC_TOL = 0.05  # the second period is searched within this fraction of the first (jitter is ~1 %)
# the pitch guard's own check: an event with residual peaks one period either side is spared only when its
# high-passed span (event and repair pad) reaches this normalised correlation with some span one glottal
# period before or after it (ClickRepairer._repeats_once). The best over all the lags of a short span is high
# for most sounds, so this is conservative: it lets through only events that clearly dominate their span.
# Dev (click corpus seed 2026): five files gained 0.01-0.56 dB (worst file +0.4 -> +1.0 dB), none lost, the
# real dev recordings unchanged; 0.6: a keyboard file lost 0.36 dB; 0.7: a false event on a clean speech
# base; the forward residual's correlation instead of the high-passed signal's, at 0.5: false events on two
# clean bases (minimum 52.5 -> 44.2 dB). Only the lags where the guard found its pulses, over a span widened
# to 2 or 4 ms: more spikes repaired (pitch-spared spikes 44 -> 32 at 0.3, 18 at 0.5) but two keyboard files
# lost 0.06-0.36 dB at 0.3, and from 0.4 false events on the clean bases (minimum 44.2 dB)
_PITCH_NCC_MIN = 0.5
_BURST_FRAME_S = 0.004  # STFT frame of the burst clamp (as dsp.clicks)
_BURST_CTX_S = 0.02  # context each side of a burst for the clamp reference
_BURST_END_DB = 6.0  # a burst ends where the envelope is back within this of its pre-onset level
_BURST_MAX_MULT = 3.0  # a burst is followed for at most this many click_len
_ONSET_WIN_S = 0.01  # windows before and after an event compared by the onset guard
_ONSET_RISE = 4.0  # 6 dB more energy after than before: a note or speech onset, not a click
_ISOLATION_S = 0.02  # context either side of an event for the isolation guard (a 50 Hz pitch period)
_ISOLATION_RATIO = 2.0  # 6 dB above every other peak around; 1.5 and 1.75 doubled real-speech events (dev)
# the side pass (stereo): an event must peak this much higher in the side residual than in the mid's
# (6 dB). In a trace of the pass without it (bench/declick_stereo.py, both halves) antiphase clicks read
# 0.5 to over 1000, 96 % of them >= 2; clicks in one channel or unequal 0.1-1.4; false events 1.0-1.2
# (a spaced-pair voice's glottal pulses, which the mid passes had spared)
_SIDE_RATIO = 2.0
_SCALE_FLOOR = 1e-6  # residual scale floor (about -120 dBFS): digital silence has no clicks
# interpolation re-check and weak candidates: measured on the dev split by bench/declick.py and bench/declick_real.py
# (0.05 instead of 0.03 doubled the real-speech events; a weak ratio of 0.5 found no more clicks)
_RECHECK_CLICK = 0.03  # interpolation leaves <= 3 % (-15 dB) of the residual: a click, neighbours or not
_RECHECK_SOUND = 0.5  # an isolated event whose interpolation leaves > 50 % of it is sound
_RECHECK_PITCH = 0.01  # a pitch-synchronous event is repaired when its re-check leaves <= 1 % (3 %: more
# false events on the clean bases)
_RECHECK_WEAK = 0.08  # a weak candidate is repaired when its re-check leaves <= 8 % (-11 dB)
_WEAK_RATIO = 0.6  # weak candidates: both residuals over this share of the threshold
# coarse detection scales, analysis rates in Hz: a 0.5-3 ms pop spans 1-6 samples at 2 kHz and 2-12 at
# 4 kHz (alone, 4 and 8 kHz found fewer pops than 2 kHz; together 2 and 4 kHz find more, dev)
_SCALES = (2000, 4000)
_POP_ORDER = 6  # AR order per 2 kHz of analysis rate (one coefficient per ~170 Hz of the band)
# the tonal pop scale: one more pass at 2 kHz with this order (16 pole pairs for the 0-1 kHz band,
# where a chord of harmonic tones over a bass holds 20-30 partials and a voice 5-10, which 3 pole
# pairs leave in the residual, lifting its scale over the pops among them). Dev (click corpus seed
# 2026, real dev half): orders 16 / 24 / 32 / 48 gained +0.28 / +0.29 / +0.34 / +0.28 dB per file
# on average at a 5 % re-check bar, the clean bases and real recordings unchanged
_POP_TONAL_ORDER = 32
_POP_TONAL_RATE = 2000
# strong tonal pops: a new candidate of the tonal pop scale whose forward and backward residuals both reach
# _POP_STRONG x detection_mult x its scale there (over 2.5 times the coarse bar, _POP_RATIO) and that stands
# _ISOLATION_RATIO over its neighbours is repaired when its re-check leaves at most _RECHECK_POP_STRONG. The re-check
# sums the prediction error over the gap and the `order` samples after it: at order 32 that window is five times the
# order-6 one, and its own noise dominates what is left (a pop at 20 sigma leaves ~8 %), so the 2 % bar of the order-6
# scale missed clear pops. Chosen on click corpus seeds 4321 and 2024 (bench/declick.py) and the real dev half
# (bench/declick_real.py): impulsive recall 0.784 / 0.776 -> 0.797 / 0.783, pops recall 0.48 / 0.54 ->
# 0.58 / 0.59, pops +4.35 / +4.09 -> +4.64 / +4.35 dB, the clean bases and the real dev recordings unchanged file by
# file. Every false tonal candidate of the clean bases and of the real recordings (both halves) read 4-10 sigma
# (1.0 instead of 1.25: one event more on a real dev speech file); 1.5: recall 0.793 / 0.780
_POP_STRONG = 1.25
_RECHECK_POP_STRONG = 0.3
# the tonal pop scale's long groups: at order 32 a group merges the exceedances within 32 samples (16 ms), and a
# pop's span, from its first forward to its last backward exceedance, takes in its neighbours' (34 of the 76 pops
# of 1.5-3 ms still missed on seed 4321 were such groups). A two-sided group longer than _LSAR_MAX_S is grouped
# again at these multiples of its bar, and the events of the first at which every two-sided event is short enough
# are candidates, held to _RECHECK_POP (never to the strong bar: with it, a false event on a clean 16 kHz speech
# base, seed 4321). Seeds 4321 / 2024: impulsive recall 0.797 / 0.783 -> 0.799 / 0.785, pops +4.64 / +4.35 ->
# +4.77 / +4.57 dB, the clean bases and the real dev recordings unchanged file by file
_POP_LADDER = (1.5, 2.0, 3.0, 4.0)
# coarse-scale threshold, a share of detection_mult: where an event's residuals first and last cross it
# bounds the repaired span (dev: 0.6, the weak candidates' share, +4.1 dB on pops; 0.5 and 0.4 +4.5 dB, as
# many pops found, the real-speech events unchanged; 0.7 +4.3)
_POP_RATIO = 0.5
_RECHECK_POP = 0.02  # a pop's re-check at its scale leaves <= 2 % (3 %: a glottal pulse at 48 kHz; 8 %: clean hits)
# fall-back: a coarse-scale candidate on a span the two-sided, pitch or onset guard spared is repaired when its
# re-check at its scale leaves <= 5 % (-13 dB), and the full-rate pitch guard yields to that (dev: 3 % lost
# 0.01 recall and 0.2 dB on pops, 8 % found no more; fall-backs on spans the isolation guard or the weak
# re-check spared doubled the real-speech events, 13.6 -> 28.3 per minute, for +0.01 recall)
_RECHECK_WIDE = 0.05
# onset yield: an onset-spared event this far (dB) above every other residual peak within _ISOLATION_S
# whose re-check leaves <= 1 % of its residual energy is a click after all. Dev: crackle +6.6 -> +7.2 dB
# with the real-speech events unchanged; 6 dB gave +7.9 on dev but two false events on a synthetic
# note attack of the check corpus's music (seen on check; 12 dB kept it clean); 3 % instead of 1 %:
# music false events 11.2 -> 12.5 per minute (dev). 9 dB instead of 12: dev crackle +7.2 -> +7.6 dB,
# real dev recordings unchanged file by file; check (reported only) crackle +6.8 -> +7.1 dB, music
# false events 7.5 -> 8.8 per minute (target 10), clean minimum 47.8 dB kept
_ONSET_ALONE = 9.0
_RECHECK_ONSET = 0.01
# smooth bumps (_bump_candidates): Hann bumps of these widths (the click corpus's spikes are 0.1-0.5 ms); a
# candidate stands this many times over every other bump output within _ISOLATION_S, its re-check leaves at most
# _RECHECK_BUMP, and the step filter reaches less than _BUMP_STEP of it. Chosen on dev (click corpus seed 2026,
# real dev half): crackle +7.5 -> +7.9 dB, impulsive recall 0.69 -> 0.71, the clean bases and real recordings
# unchanged (check, reported only: crackle +7.1 -> +8.1 dB). Alone 1.0: +8.3 dB but one false event more on
# real dev speech and on a clean speech base; the waveform-step share of _steps_to_silence instead of the step
# filter: +7.7 (it spares weak bumps on loud music); neither step test: clean-base median 100 -> 56 dB (note
# cuts of the synthetic music); widths 0.15/0.3/0.5 ms +7.8, adding 1 or 2 ms +7.9; a re-check bar of 0.15 or
# 0.3 the same (0.3: one real speech event more)
_BUMP_WIDTHS_S: tuple[float, ...] = (0.0002, 0.0004)
_BUMP_ALONE = 1.5
_RECHECK_BUMP = 0.2
_BUMP_STEP = 0.8
# refined bumps (_refined_bumps): bump outputs under the bar judged again with a longer model fitted around them.
# Click corpus seeds 4321 / 2024 / 2026 (bench/declick.py) and the real dev half (bench/declick_real.py): impulsive
# recall 0.746 / 0.752 / 0.749 -> 0.785 / 0.778 / 0.785, crackle +8.3 / +7.9 / +8.5 -> +9.4 / +8.1 / +8.8 dB; the
# clean bases (SI-SDR, false events) and the real dev recordings unchanged file by file (bench/README.md). Order 3p:
# recall 0.764 against 0.768 for 4p (48 kHz alone, seed 4321); with the full-rate pitch guard 0.749 (music's notes
# repeat); without the offset test the last swing of a word before a pause on a clean base (its SI-SDR 100 -> 57 dB);
# without the kink filter a noiseless note's envelope reaching its level (tests/dsp; with it 0.788 -> 0.785, 4321);
# interpolated with the order-p model, 0.45 ms bumps of 0.01-0.03 on the unit test's steady chord were left with 2-15
# times their error; widths of 1 and 2 ms added as candidates: pops +4.3 -> +5.2 dB (4321), one event more on a real
# dev music track
_REFINED_ORDER_MULT = 4  # the longer model's order, in multiples of p
# 0.55 rather than 0.5: a third fewer re-checks (the slowest clean 48 kHz base 87-91x -> 96x real time), recall
# 0.785 / 0.778 / 0.785 -> 0.784 / 0.776 / 0.782 (seeds 4321 / 2024 / 2026), the real recordings unchanged
_REFINED_PRE = 0.55  # bump outputs over this share of detection_mult (none over it) are judged again
_REFINED_GAP_S = 0.001  # the longer model's context starts this far from the bump either side
_REFINED_WIDTHS_S: tuple[float, ...] = (0.0006,)  # widths added for the refined search (spikes reach 0.5 ms)
# a candidate the same filter for these longer bumps explains better is part of a pop, left to the coarse scales
# (without: a pop interpolated in part, one seed-2026 file -0.96 dB; with: -0.10)
_REFINED_POP_WIDTHS_S: tuple[float, ...] = (0.001, 0.002)
_RECHECK_REFINED = 0.2  # the longer model's interpolation re-check leaves at most this share
# judge each group's outputs at its peak first, and compute every output of its span (the isolation,
# step, pop and kink filters) only for the groups whose peak passes the bar there: the same candidates,
# at about a third of the search's cost on clean 48 kHz music and speech (False: every group in full)
_REFINED_SCREEN = True
_REFINED_MIN_SR = 16000  # measured at 16, 44.1 and 48 kHz, not at 8 kHz
#: Detection multipliers at which a span failing the tests at the caller's threshold is searched again
#: (:func:`_stricter_bars`): the range of ``detection_mult`` in steps of 0.5.
_MULT_LADDER = tuple(6.0 + 0.5 * i for i in range(9))
_PASSES = 2  # detection passes per segment (a third found nothing more on the dev split)
# the tonal pass (ClickRepairer._tonal_residual): twice the base order where the minimum description
# length criterion (Rissanen 1978) with half its penalty prefers it. Share chosen on the dev split
# (click corpus seed 2026; 0.25 / 0.5 / 1 / 2 tried, bench/README.md); twice the order: 3x gained less
_TONAL_ORDER_MULT = 2
_TONAL_MDL_SHARE = 0.5
_TONAL_MAX_S = 0.0015  # longest repair of the tonal pass (pad included): its events' 90th percentile is 1.25 ms
_DIRECT_TAPS = 64  # frame filters up to this many taps run directly, longer ones by FFT (_framewise)
# keyboard bursts (5-30 ms of sustained broadband residual), judged after the impulsive pass;
# bars checked on the dev split (click corpus seed 2026: keyboard recall 0.62 -> 0.69, no false
# burst on its clean bases; one more event on the real dev speech)
_BURST_WIN_S = 0.005  # residual energy window (the shortest keyboard burst)
_BURST_RATIO = 0.6  # windowed residual RMS over this share of detection_mult x scale, both directions
# (dev: 0.75 keyboard recall 0.66 and +2.7 dB, 0.6 0.69 and +2.9, 0.5 0.71 but +2.7; real dev speech the same)
_BURST_SCALE_N = 11  # 5 ms sub-frames (55 ms) of the burst's robust scale: a 30 ms burst is under half
_BURST_ABOVE = 2.0  # 3 dB more residual energy than the louder of the neighbouring +-20 ms
_BURST_PEAK_SHARE = 0.5  # no single sample carries this share of a window's energy (sustained)
# a span whose largest sample fails that test is a struck burst when what follows its strike (the largest
# sample and _STRUCK_S after it) passes the energy and sustain tests on its own and lasts _LSAR_MAX_S, and
# the strike is no step to silence (a note cut off: the model's residual rings on after it); the span then
# starts at the strike. A key's strike can carry most of the first window, and the impulsive passes spare
# it as an onset or mid-length event because the key's own tail and a word follow: such a key fell
# between the two searches (click corpus seed 4321: a key 8 dB over the speech, 150 times over the burst
# bar, left whole). Measured on seeds 4321 / 2024 / 2026 and both real halves (bench/README.md,
# "Struck bursts"); test_a_loud_key_struck_as_a_word_starts_is_clamped
_BURST_ONSET_AFTER_S = 0.03  # the burst onset test's window starts this far past the onset (3 x 10 ms)
_BURST_MIN_REMOVED = 0.1  # the clamp must remove >= 10 % of the span's energy, else it is sound
# struck onset (:meth:`_struck`): a burst the onset test spares is clamped anyway when the largest forward
# residual in its first _STRUCK_S stands this far (dB) over the residual's RMS in the _ONSET_WIN_S before it.
# Chosen on dev (click corpus seed 2026; the spared candidates' peak-over-level measured by a scratch script):
# keys median 29 dB, 25th percentile 23 dB; candidates in the real speech recordings median 17 dB, 90th
# percentile 24 dB; at 22 dB ten candidates in a real jazz track (drum strokes) pass, at 25 dB two
_STRUCK_DB = 25.0
_STRUCK_S = 0.0006  # the strike: well under the millisecond or more a plosive release takes to build up
_STRUCK_MIN_SR = 16000  # below this a plosive release is as few samples as a strike (a rough voice at 8 kHz)
# cross-model burst search (_cross_residual): the frame this far away lends its AR model, and the own-model
# burst margin must reach this share of the bar (and stay under the bar: the own-model verdict stands).
# Chosen on dev (click corpus seed 2026, real dev half): shift 1 and 0.25 keyboard recall 0.69 -> 0.78,
# keyboard +2.9 -> +3.2 dB, clean bases and real dev speech unchanged, one event more on a real dev music
# track. With a prototype that searched after the own-model clamps: shift 2 recall 0.80 but real dev speech
# 15.2 -> 27.9 events per minute and music median 0.0 -> 9.5; no margin bar, shift 1: real dev speech
# 27.9 per minute, music 3.2 -> 10.4 on one track; 0.2 instead of 0.25: a false event on a clean speech base
# (0.3 and 0.35: keyboard recall 0.77 and 0.76, the real music event kept at 0.3)
_CROSS_SHIFT = 1
_CROSS_MIN_RATIO = 0.25
_SILENCE_WIN_S = 0.002  # level before a step to silence; two windows of half this after it (10 ms windows
# caught none of the dev music steps: the next note starts 10-20 ms later)
_STEP_EDGE_S = 0.00025  # level just before and just after the event, for the step test
_STEP_SHARE = 0.5  # a step: the net jump is at least half the event's largest excursion (a click returns)
_SILENCE_DROP = 0.1  # -10 dB: after a note cut to silence the level stays this far below (-20 dB: 3 of
# the 9 dev music events; the step test keeps word-final clicks, 42 spikes spared without it)


def _stricter_bars(detection_mult: float) -> list[float]:
    """Bars relative to the threshold: 1, then each larger multiplier of ``_MULT_LADDER`` over ``detection_mult``.

    A span that fails a test at the caller's threshold (too long, not above its surroundings,
    not isolated) is searched again at the next bar, as a larger ``detection_mult`` would see
    it: what a stricter setting finds, a more sensitive one finds too (the parameter acts
    monotonically). Square them for energy ratios.
    """
    return [1.0] + [g / detection_mult for g in _MULT_LADDER if g > detection_mult + 1e-9]


def _ar_order(sr: int) -> int:
    """AR order for ``sr``: one coefficient per 400 Hz, from 20 to 40.

    Godsill & Rayner (ch. 5) use orders of 20-40; tonal music needs the upper end to whiten
    its partials, even at low rates.
    """
    return int(np.clip(round(sr / 400), 20, 40))


@functools.lru_cache(maxsize=32)
def _hann(n: int) -> FloatArray:
    """``np.hanning(n)``, computed once per length (read-only)."""
    w = np.hanning(n)
    w.flags.writeable = False
    return w


def _fir(coef: FloatArray, x: FloatArray) -> FloatArray:
    """``x`` (``(n,)``) through the FIR filter ``coef`` from rest: ``signal.lfilter(coef, [1.0], x)``."""
    out: FloatArray = np.convolve(x, coef)[: x.size]
    return out


def _ar_fit(x: FloatArray, p: int) -> FloatArray:
    """AR coefficients ``a`` (``x[n] ~ sum_k a[k] x[n-1-k]``) by the windowed autocorrelation method."""
    if x.size <= p or not np.any(x):
        return np.zeros(p)
    w = x * _hann(x.size)
    # lags 0..p in one call: r[k] = sum_t w[t + k] w[t], zeros past the end
    r = np.correlate(np.concatenate([w, np.zeros(p)]), w, "valid")
    a: FloatArray = levinson(r[None, :])[0]  # Yule-Walker, with levinson's white-noise correction
    return a


def _ar_fit_sides(left: FloatArray, right: FloatArray, p: int) -> FloatArray:
    """AR coefficients of order ``p`` from two stretches either side of a gap, each Hann-windowed on its own.

    The autocorrelation lags ``0..p`` of the two windowed stretches are summed, so no lag spans the
    gap: one window over the two stretches joined (:func:`_ar_fit`) peaks at the join, where the
    waveform jumps, and a long model fits that jump (the refined bumps' re-check at order 4p found
    0.765 of the click corpus's impulsive clicks so, 0.791 with this fit; seed 4321).
    """
    acf = np.zeros(p + 1)
    for part in (left, right):
        w = part * _hann(part.size)
        acf += np.correlate(np.concatenate([w, np.zeros(p)]), w, "valid")
    a: FloatArray = levinson(acf[None, :])[0]
    return a


def _row_median(x: FloatArray) -> FloatArray:
    """Median of each row of ``x`` (``(k, q)`` -> ``(k,)``), equal to ``np.median(x, axis=1)``.

    One selection (``np.partition`` at ``q // 2``) and, for even ``q``, the largest value below it,
    instead of ``np.median``'s selection of both middle values and its generic machinery.
    """
    q = x.shape[1]
    h = q // 2
    part: FloatArray = np.partition(x, h, axis=1)
    upper: FloatArray = part[:, h]
    if q % 2:
        return upper
    lower: FloatArray = part[:, :h].max(axis=1)
    return (upper + lower) / 2


def _median5(padded: FloatArray) -> FloatArray:
    """Median of every five consecutive values of ``padded`` (``(m + 4,)`` -> ``(m,)``).

    Equal to ``np.median`` over a sliding window of five, by exchanges: of two sorted pairs, the
    lower of their minima and the higher of their maxima each have two values on the far side
    of them and cannot be the median; it is the median of the three values left.
    """
    m = padded.size - 4
    p0, p1, p2, p3, p4 = (padded[i : i + m] for i in range(5))
    lo = np.maximum(np.minimum(p0, p1), np.minimum(p2, p3))
    hi = np.minimum(np.maximum(p0, p1), np.maximum(p2, p3))
    out: FloatArray = np.maximum(np.minimum(lo, hi), np.minimum(np.maximum(lo, hi), p4))
    return out


@functools.lru_cache(maxsize=8)
def _hann_f32(n: int) -> npt.NDArray[np.float32]:
    """``np.hanning(n)`` in single precision (read-only, cached)."""
    w = np.hanning(n).astype(np.float32)
    w.flags.writeable = False
    return w


@functools.lru_cache(maxsize=32)
def _bump_shape(size: int, taps: int) -> tuple[FloatArray, FloatArray]:
    """The bump of ``size`` samples as the residual sees it, and its convolution matrix (read-only).

    Returns the first difference of a Hann window of ``size + 2`` points (zero at both ends:
    ``(size + 1,)``) and the ``(taps, taps + size)`` matrix ``M`` with ``M[j, j + i]`` its
    ``i``-th value, so that ``c @ M`` is the full convolution of a ``taps``-long filter ``c``
    with it.
    """
    d_shape = np.diff(_hann(size + 2))
    conv = np.zeros((taps, taps + d_shape.size - 1))
    for j in range(taps):
        conv[j, j : j + d_shape.size] = d_shape
    d_shape.flags.writeable = False
    conv.flags.writeable = False
    return d_shape, conv


def _first_difference(x: FloatArray) -> FloatArray:
    """``x[t] - x[t - 1]`` with a leading 0 (``(n,)`` -> ``(n,)``): the residual's high-pass."""
    hp = np.empty_like(x)
    hp[0] = 0.0
    np.subtract(x[1:], x[:-1], out=hp[1:])
    return hp


def _group_spans(
    over: npt.NDArray[np.intp], gap: int, fwd_over: npt.NDArray[np.bool_], bwd_over: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.intp], ...]:
    """Groups of the exceedance indices ``over`` (sorted) no more than ``gap`` apart, and their spans.

    Returns ``(g0, g1, c0, c1)``, each ``(groups,)``: the group's first and one past its last
    index, its first forward exceedance (``fwd_over``, ``(n,)``) and one past its last backward
    one (``bwd_over``), or -1 where the group has none of that side.
    """
    breaks = np.flatnonzero(np.diff(over) > gap)
    g0 = over[np.concatenate([[0], breaks + 1])]
    g1 = over[np.concatenate([breaks, [over.size - 1]])] + 1
    f_pos, b_pos = np.flatnonzero(fwd_over), np.flatnonzero(bwd_over)
    c0 = np.full(g0.size, -1, np.intp)
    c1 = np.full(g0.size, -1, np.intp)
    if f_pos.size:  # the first forward exceedance at or after g0, if it is before g1
        first = f_pos[np.minimum(np.searchsorted(f_pos, g0), f_pos.size - 1)]
        c0 = np.where((first >= g0) & (first < g1), first, -1)
    if b_pos.size:  # the last backward exceedance before g1, if it is at or after g0
        last = b_pos[np.maximum(np.searchsorted(b_pos, g1) - 1, 0)]
        c1 = np.where((last >= g0) & (last < g1), last + 1, -1)
    return g0, g1, c0, c1


def _framewise(ext: FloatArray, f: int, c: FloatArray, rows: npt.NDArray[np.intp] | None) -> FloatArray:
    """``sum_j ext[k f + t + j] c[k, j]`` for ``t < f`` and every frame ``k``: ``(k_n, f)``.

    ``c`` is ``(k_n, p + 1)``, ``ext`` holds at least ``k_n f + p`` samples. With ``rows`` (frame
    indices) only those frames are computed, the others left at zero. Every filter runs directly
    (:func:`dsp._kernels.framewise_fir`) when the extension is built: at 48 kHz, 1500 frames of
    20 ms take 5.3 ms for 41 taps and 9.7 ms for 81 there, against 25 ms direct and 29 ms by FFT
    in numpy (``bench/README.md``). Without it, filters of up to ``_DIRECT_TAPS`` taps run
    directly in numpy, longer ones by FFT (at 48 kHz, 20 ms frames: 0.58 ms direct against
    0.84 ms by FFT for 41 taps, 0.92 against 0.49 ms for 81).
    """
    k_n, taps = c.shape
    p = taps - 1
    st = ext.strides[0]
    if kernels.COMPILED or taps <= _DIRECT_TAPS:

        def block(r0: int, r1: int) -> FloatArray:
            return kernels.framewise_fir(ext[r0 * f : r1 * f + p], c[r0:r1], f)
    else:
        seg = np.lib.stride_tricks.as_strided(ext, (k_n, f + p), (f * st, st), writeable=False)
        nfft = sfft.next_fast_len(f + 2 * p, real=True)

        def block(r0: int, r1: int) -> FloatArray:
            spec = sfft.rfft(seg[r0:r1], n=nfft, axis=1) * sfft.rfft(c[r0:r1, ::-1], n=nfft, axis=1)
            y: FloatArray = sfft.irfft(spec, n=nfft, axis=1)[:, p : p + f]
            return y

    if rows is None:
        return block(0, k_n)
    out = np.zeros((k_n, f))
    # runs of consecutive frames, each a view of the signal (indexing by rows would copy it)
    breaks = np.flatnonzero(np.diff(rows) > 1)
    starts, ends = rows[np.concatenate([[0], breaks + 1])], rows[np.concatenate([breaks, [rows.size - 1]])] + 1
    for r0, r1 in zip(starts, ends, strict=True):
        out[r0:r1] = block(int(r0), int(r1))
    return out


def _ar_reverse(x: FloatArray, a: FloatArray, f: int, rows: npt.NDArray[np.intp] | None = None) -> FloatArray:
    """``x`` filtered backwards by each frame's prediction-error filter: ``sum_j c_j x[t + j]``.

    ``c = [1, -a[k]]`` for the frame ``k`` holding ``t`` (frames of ``f`` samples, ``a`` is
    ``(ceil(n / f), p)``); ``x`` is ``(n,)``, taken as zero past its end. Applied to the forward
    residual this completes the matched filter of a shape in AR noise (:meth:`ClickRepairer._bump_candidates`).
    With ``rows`` (frame indices) only those frames are filtered, the others left at zero.
    """
    n = x.size
    k_n, p = a.shape
    ext = np.concatenate([x, np.zeros(p + k_n * f - n)])
    back_c = np.concatenate([np.ones((k_n, 1)), -a], axis=1)
    return _framewise(ext, f, back_c, rows).reshape(-1)[:n]


def _ar_filter(
    hp: FloatArray, a_fwd: FloatArray, a_back: FloatArray, f: int, rows: npt.NDArray[np.intp] | None = None
) -> tuple[FloatArray, FloatArray]:
    """Forward and backward AR prediction residuals of ``hp`` (``(n,)``), frame by frame.

    Frame ``k`` (``hp[k f .. (k + 1) f)``) is filtered with row ``k`` of ``a_fwd`` (forward,
    predicting from the ``p`` samples before) and of ``a_back`` (backward, from the ``p`` after);
    both are ``(ceil(n / f), p)``. The first ``p + 1`` forward and last ``p + 1`` backward values
    (the filters' start-up and run-out) are zero. With ``rows`` (frame indices) only those frames
    are filtered, the others left at zero.
    """
    n = hp.size
    k_n, p = a_fwd.shape
    # row t of a frame's lag view is hp[t - p .. t] (forward) or hp[t .. t + p] (backward)
    ext = np.concatenate([np.zeros(p), hp, np.zeros(p + k_n * f - n)])
    fwd_c = np.concatenate([-a_fwd[:, ::-1], np.ones((k_n, 1))], axis=1)
    res = _framewise(ext, f, fwd_c, rows).reshape(-1)[:n]
    back = _ar_reverse(hp, a_back, f, rows)
    res[: p + 1] = 0.0  # the filters' start-up and run-out (in the history and the lookahead)
    back[n - p - 1 :] = 0.0
    return res, back


def _sub_medians(res: FloatArray, q: int) -> FloatArray:
    """Median absolute value of ``res`` (``(n,)``) per sub-frame of ``q`` samples, ``(ceil(n / q),)``.

    The last, partial sub-frame is filled with the samples before it (repeated tail).
    """
    n = res.size
    m = -(-n // q)
    return _row_median(np.abs(np.concatenate([res, res[n - (m * q - n) :]])).reshape(m, q))


def _lsar(x: FloatArray, a0: int, a1: int, a: FloatArray) -> FloatArray:
    """Least-squares AR interpolation of ``x[a0:a1]`` given the samples around it.

    ``x`` holds at least ``p`` samples either side of the gap; returns the ``a1 - a0`` values
    that minimise the sum of squared prediction errors of the AR model ``a`` over every error
    touching the gap (Godsill & Rayner 1998, eq. 5.15). With ``A`` the prediction-error matrix
    split into the columns of the unknown and the known samples, the solution is that of the
    normal equations ``A_u' A_u x_u = -A_u' A_k x_k`` (eq. 5.16). Every error row that touches the
    gap lies inside the segment, so ``A_u' A_u`` is the symmetric Toeplitz matrix of the
    autocorrelation of the prediction-error filter, banded (zero beyond lag ``p``) and positive
    definite (the filter's last tap is 1): a banded Cholesky solve, ``O(m p^2)`` for a gap of
    ``m`` samples. ``A_k x_k`` is the prediction error of the segment with the gap set to zero.
    """
    p = a.size
    m = a1 - a0
    if m <= 0:
        return np.zeros(0)
    seg = x[a0 - p : a1 + p].astype(np.float64)
    coef = np.concatenate([-a[::-1], [1.0]])  # e[t] = sum_k coef[k] seg[t - p + k]
    seg[p : p + m] = 0.0
    e0 = np.correlate(seg, coef, "valid")  # the errors with the gap at zero, (m + p,)
    atb = np.convolve(e0, coef)[p : p + m]  # A_u' e0
    rc = np.correlate(coef, coef, "full")[p:]  # autocorrelation of the filter, lags 0..p
    band = min(p, m - 1)
    ab = np.zeros((band + 1, m))  # upper banded form: row band - d holds lag d
    for d in range(band + 1):
        ab[band - d, d:] = rc[d]
    _, sol, info = lapack.dpbsv(ab, -atb)  # banded Cholesky (LAPACK dpbsv), upper form
    if info != 0:  # not positive definite: cannot happen for a filter whose last tap is 1
        raise np.linalg.LinAlgError(f"LSAR normal equations not positive definite (dpbsv info {info})")
    out: FloatArray = sol
    return out


@dataclass(frozen=True)
class ClickEvent:
    """One repaired click: onset and length in seconds, and how it was repaired."""

    onset_s: float
    length_s: float
    method: str
    """``"interpolated"`` (LSAR) or ``"attenuated"`` (spectral clamp)."""


def _parabolic_peaks(v: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Local maxima of ``v`` ``(n,)``, each refined by the parabola through it and its neighbours.

    Returns ``(where, height)``: fractional indices and the parabola's peak values, in index order
    (an end sample counts as a maximum, unrefined). The usual three-point interpolation of a
    correlation peak between lags (e.g. Boersma 1993 refines his autocorrelation peaks so).
    """
    n = v.size
    if n == 0:
        return np.zeros(0), np.zeros(0)
    if n < 3:
        k = int(np.argmax(v))
        return np.array([float(k)]), np.array([float(v[k])])
    mid = np.flatnonzero((v[1:-1] >= v[:-2]) & (v[1:-1] > v[2:])) + 1
    left, centre, right = v[mid - 1], v[mid], v[mid + 1]
    den = left - 2.0 * centre + right
    safe = np.where(den < 0, den, -1.0)
    shift = np.where(den < 0, 0.5 * (left - right) / safe, 0.0)
    height = np.where(den < 0, centre - 0.25 * (left - right) * shift, centre)
    where = mid + shift
    ends = [(0, v[0])] if v[0] > v[1] else []
    ends += [(n - 1, v[-1])] if v[-1] > v[-2] else []
    if ends:
        where = np.concatenate([where, [float(e[0]) for e in ends]])
        height = np.concatenate([height, [float(e[1]) for e in ends]])
        order = np.argsort(where)
        where, height = where[order], height[order]
    return where.astype(np.float64), np.minimum(height, 1.0).astype(np.float64)


class ClickRepairer:
    """Streaming click repairer (:class:`dsp.stream.BlockProcessor`), linked across channels.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1. Detection runs on the channels' mean and, with two channels, on
        their half difference for antiphase clicks (the side pass, module notes); each detected
        event is repaired in every channel (interpolated from each channel's own context).
    detection_mult : float
        Threshold, in [6, 10], on the AR residual in multiples of its robust local scale
        (1.4826 x median absolute value); 6 finds the most clicks, 10 the fewest.
    click_len_ms : float
        Longest event treated as a click, in ms in [5, 30]: the span of its residual
        exceedances. Longer events are left alone; larger values repair more.
    keep_events : bool
        Keep every :class:`ClickEvent` in :attr:`events` (memory grows with the number of
        clicks; the report's counters never do).

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] S. V. Vaseghi, P. J. W. Rayner, "Detection and suppression of impulsive noise in
       speech communication systems," IEE Proc. I, 137(1), 1990.
    .. [2] S. J. Godsill, P. J. W. Rayner, "Digital Audio Restoration," Springer, 1998, ch. 5.
    .. [3] J. Rissanen, "Modeling by shortest data description," Automatica, 14(5), 1978
       (the order test of the tonal pass).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(16000) / 16000
    >>> x = (0.1 * np.sin(2 * np.pi * 440 * t) + 1e-3 * rng.standard_normal(16000)).astype(np.float32)
    >>> x[8000] += 0.5
    >>> cr = ClickRepairer(16000, 1)
    >>> y = np.concatenate([cr.process(x[None, :5000]), cr.process(x[None, 5000:]), cr.flush()], axis=-1)
    >>> y.shape, cr.report()["clicks_found"]
    ((1, 16000), 1)
    >>> bool(abs(y[0, 8000] - 0.1 * np.sin(2 * np.pi * 440 * 0.5)) < 0.05)
    True
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        detection_mult: float = 8.0,
        click_len_ms: float = 10.0,
        keep_events: bool = False,
    ) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.detection_mult = check_range("detection_mult", detection_mult, 6.0, 10.0)
        self.click_len_ms = check_range("click_len_ms", click_len_ms, 5.0, 30.0)
        self.keep_events = bool(keep_events)
        self.events: list[ClickEvent] = []
        sr_ = self.sr
        self._p = _ar_order(sr_)
        self._seg = round(_SEG_S * sr_)
        self._hist = round(_HIST_S * sr_)
        self._look = round(_LOOK_S * sr_)
        self._frame = round(_FRAME_S * sr_)
        self._ar_window = np.hanning(2 * self._frame).astype(np.float32)  # see _residual
        self._merge = max(1, round(_MERGE_S * sr_))
        self._pad = max(1, round(_PAD_S * sr_))
        self._lsar_max = round(_LSAR_MAX_S * sr_)
        self._lsar_ctx = max(round(_LSAR_CTX_S * sr_), 2 * self._p)
        self._max_core = round(self.click_len_ms * 1e-3 * sr_)
        self._max_burst = round(_BURST_MAX_MULT * self.click_len_ms * 1e-3 * sr_)
        self._pmin, self._pmax = round(_PITCH_MIN_S * sr_), round(_PITCH_MAX_S * sr_)
        self._iso = round(_ISOLATION_S * sr_)
        self._bf = max(16, 2 * round(_BURST_FRAME_S * sr_ / 2))
        self._bctx = round(_BURST_CTX_S * sr_)
        # buffer: history (already output) followed by pending input
        self._buf = np.zeros((self.channels, self._hist), np.float32)
        self._pos = 0  # stream index of the first pending sample (= samples output so far)
        self._n_in = 0
        self._done_until = 0  # events with onset before this stream index are handled
        self._n_found = 0
        self._n_interp = 0
        self._n_atten = 0
        self._n_guarded = 0
        self._n_onsets = 0
        self._n_one_sided = 0
        self._n_not_isolated = 0
        self._onset_win = round(_ONSET_WIN_S * sr_)
        self._onset_after = round(_BURST_ONSET_AFTER_S * sr_)
        self._struck_len = max(2, round(_STRUCK_S * sr_))
        self._tonal_max = round(_TONAL_MAX_S * sr_)
        self._bars = _stricter_bars(self.detection_mult)  # see _MULT_LADDER
        self._longest = 0
        self._flushed = False  # process() after flush() is refused
        # re-check share per candidate onset (window index) of the coarse-scale and bump candidates
        self._pop_kept_at: dict[int, float] = {}
        # onsets only ever interpolated: coarse candidates not isolated at their scale, refined bumps
        self._crowded: set[int] = set()
        # onsets judged for pitch where the notes are whitened: the tonal pop scale's and the refined bumps
        self._tonal_pops: set[int] = set()
        self._refine = _REFINED_ORDER_MULT > 0 and sr_ >= _REFINED_MIN_SR
        self._refined_order = _REFINED_ORDER_MULT * self._p
        self._refined: set[int] = set()  # onsets of the refined bumps (interpolated with the longer model)
        self._trace: list[tuple[int, int, str]] | None = None  # (onset, end, verdict) per candidate, for the bench
        # the last base-order detection pass's residuals, their 5 ms medians and AR coefficients (:meth:`_residual`)
        self._last_res: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None
        # the last base residual's frame lags 0..2p and order-p models (:meth:`_residual`)
        self._base_fit: tuple[FloatArray, FloatArray] | None = None
        # the last base pass's residual scale and magnitude, (window,): the side pass's floor and reference
        self._mid_scale: FloatArray | None = None
        self._mid_mag: FloatArray | None = None

    # ------------------------------------------------------------------ detection

    def _frame_acf(self, hp: FloatArray, f: int, lags: int, window: FloatArray) -> FloatArray:
        """Autocorrelation lags ``0..lags`` of each frame of ``hp`` (``(n,)``), ``(ceil(n / f), lags + 1)``.

        Frame ``k``'s lags are taken over the ``2 f`` samples of ``window`` centred on
        ``hp[k f .. (k + 1) f)``.
        """
        n = hp.size
        k_n = -(-n // f)
        padded_hp = np.concatenate([np.zeros(f // 2), hp, np.zeros(k_n * f - n + f)])
        # the windowed frames and their autocorrelation FFT in single precision (rounding of the
        # order of 1e-7 to 1e-6 of lag 0, the size of levinson's white-noise correction); the
        # recursion runs in float64. Speed x1.08; on the dev and check click corpora one event edge
        # moved by a sample each, one event more on one real check track (bench/README.md)
        # frame k is padded_hp[k f:(k + 2) f]: its halves are rows k of two (k_n, f) reshapes
        frames = np.empty((k_n, 2 * f), np.float32)
        np.multiply(padded_hp[: k_n * f].reshape(k_n, f), window[:f], out=frames[:, :f], casting="same_kind")
        np.multiply(padded_hp[f : (k_n + 1) * f].reshape(k_n, f), window[f:], out=frames[:, f:], casting="same_kind")
        # lags 0..lags of a 2f-sample frame: 2f + lags + 1 points avoid circular wrap-around
        nfft = sfft.next_fast_len(2 * f + lags + 1, real=True)
        spec = sfft.rfft(frames, n=nfft, axis=-1)
        acf: FloatArray = sfft.irfft(spec.real**2 + spec.imag**2, n=nfft, axis=-1)[:, : lags + 1]
        return acf

    def _whiten(
        self, hp: FloatArray, a: FloatArray, f: int, rows: npt.NDArray[np.intp] | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """:meth:`_residual`'s five results for the high-passed ``hp`` (``(n,)``) and frame models ``a``.

        With ``rows`` (frame indices) the residuals are taken in those frames only (zero elsewhere).
        """
        n = hp.size
        res, back = _ar_filter(hp, a, a, f, rows)
        # median absolute residual per 5 ms sub-frame, then the median of five neighbours
        q = max(1, f // 4)
        sub = _sub_medians(res, q)
        local = _median5(np.concatenate([sub[:1], sub[:1], sub, sub[-1:], sub[-1:]]))
        scale = np.maximum(_MAD_TO_SIGMA * local, _SCALE_FLOOR)
        return res, back, np.repeat(scale, q)[:n], sub, a

    def _residual(
        self, mono: FloatArray, frame: int | None = None, p: int | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Forward and backward residuals of the high-passed ``mono``, their scale, medians and model.

        The first three are ``(n,)``: the residuals and their robust local scale. The fourth is
        the median absolute forward residual per sub-frame of ``frame // 4`` samples,
        ``(ceil(n / (frame // 4)),)``, from which the scale is taken. The fifth is the AR
        coefficients of each frame, ``(ceil(n / frame), p)``. A click at ``t`` leaves the
        forward residual high from ``t`` to ``p`` samples after its end and the backward one from
        ``p`` samples before ``t`` to its end; where each starts and ends bounds the click
        (autocorrelation-method coefficients serve both directions).
        """
        hp = _first_difference(mono)
        if frame is None and p is None:
            # the base models; the lags of the tonal pass's longer models are kept for it
            acf = self._frame_acf(hp, self._frame, _TONAL_ORDER_MULT * self._p, self._ar_window)
            a = levinson(np.ascontiguousarray(acf[:, : self._p + 1]))  # (k_n, p), float64
            self._base_fit = (acf, a)
            return self._whiten(hp, a, self._frame)
        f = self._frame if frame is None else frame
        p = self._p if p is None else p
        # AR coefficients per frame from the autocorrelation of a 2f Hann window centred on it
        window = self._ar_window if frame is None else _hann_f32(2 * f)
        a = levinson(self._frame_acf(hp, f, p, window))  # (k_n, p), float64
        return self._whiten(hp, a, f)

    def _tonal_residual(
        self, mono: FloatArray, base: tuple[FloatArray, FloatArray] | None = None
    ) -> tuple[tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray], npt.NDArray[np.bool_]] | None:
        """:meth:`_residual` with the order doubled in tonal frames, and which frames are; None if none is.

        A frame is tonal when the model of order ``_TONAL_ORDER_MULT * p`` predicts it markedly
        better than the model of order ``p``: by the minimum description length criterion
        (Rissanen 1978), the log ratio of the two prediction-error powers exceeds the extra
        coefficients' cost, ``(p2 - p) ln(N) / N`` for ``N = f`` (the effective length of the
        ``2 f`` Hann window), times ``_TONAL_MDL_SHARE``. Chords of harmonic tones hold more
        partials than ``p / 2`` pole pairs can whiten, and the partials left in the residual lift
        its scale over the smaller clicks among them. The other frames keep order ``p`` (a voice
        whitened by a longer model shows its glottal pulses). The model array is
        ``(ceil(n / f), p2)``, zero-padded for the frames of order ``p``; the mask of tonal frames
        is ``(ceil(n / f),)``. ``base`` is the frames' lags ``0..p2`` and order-``p`` models when
        already taken on this very ``mono`` (:meth:`_residual` keeps them).
        """
        f, p = self._frame, self._p
        p2 = _TONAL_ORDER_MULT * p
        hp = _first_difference(mono)
        if base is None:
            acf = self._frame_acf(hp, f, p2, self._ar_window)
            a_lo = levinson(np.ascontiguousarray(acf[:, : p + 1]))
        else:
            acf, a_lo = base
        acf = acf.astype(np.float64)
        a_hi = levinson(acf)
        e_lo = acf[:, 0] - np.einsum("kj,kj->k", a_lo, acf[:, 1 : p + 1])
        e_hi = acf[:, 0] - np.einsum("kj,kj->k", a_hi, acf[:, 1:])
        cost = _TONAL_MDL_SHARE * (p2 - p) * np.log(f) / f
        tonal = (e_hi > 0) & (e_lo > e_hi * np.exp(cost))
        if not tonal.any():
            return None
        a = np.zeros((acf.shape[0], p2))
        a[:, :p] = a_lo
        a[tonal] = a_hi[tonal]
        # the residuals in the tonal frames and their neighbours only: the guards of an event in a
        # tonal frame read at most 20 ms (one frame) around it, and the scale 10 ms
        near = np.flatnonzero(np.convolve(tonal, np.ones(3), "same") > 0)
        return self._whiten(hp, a, f, near), tonal

    def _cross_residual(self, mono: FloatArray, a: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Residuals of ``mono`` (``(n,)``) with the neighbouring frames' AR models, and their 5 ms medians.

        ``a`` is the per-frame coefficients of :meth:`_residual` on the same ``mono``. Frame ``k``'s
        forward residual is taken with the model of frame ``k - _CROSS_SHIFT``, its backward
        residual with that of frame ``k + _CROSS_SHIFT`` (the first and last frames keep their
        own). A 5-30 ms keyboard burst trains the model of its own frame, which then predicts
        much of it (the click trains the model that should find it, Godsill & Rayner 1998,
        sec. 5.3 iterate detection and estimation for this reason); the model of the frame
        before it, fitted mostly on what came before, does not, and the one after it predicts
        it backwards no better. Returns the ``(n,)`` forward and backward residuals and the
        median absolute forward residual per ``frame // 4`` sub-frame.
        """
        hp = _first_difference(mono)
        k = np.arange(a.shape[0])
        last = a.shape[0] - 1
        res, back = _ar_filter(
            hp, a[np.clip(k - _CROSS_SHIFT, 0, last)], a[np.clip(k + _CROSS_SHIFT, 0, last)], self._frame
        )
        return res, back, _sub_medians(res, max(1, self._frame // 4))

    def _groups(
        self,
        fwd_over: npt.NDArray[np.bool_],
        bwd_over: npt.NDArray[np.bool_],
        mag: FloatArray,
        bmag: FloatArray,
        thr: FloatArray,
        *,
        weak: bool,
        ladder: bool = True,
    ) -> list[tuple[int, int, int, bool, bool]]:
        """Candidate events ``(c0, c1, peak, two_sided, weak)`` from the residuals' exceedances.

        Exceedances closer than ``max(1 ms, p)`` form one event, from its first forward to its
        last backward exceedance; ``peak`` is its largest forward residual and ``two_sided``
        whether its backward residual also exceeds ``thr`` there. An event longer than
        ``click_len`` is grouped again at the stricter bars of :func:`_stricter_bars` (with
        ``ladder``), and replaced by the events of the first bar at which all are short enough.
        """
        over = np.flatnonzero(fwd_over | bwd_over)
        if over.size == 0:
            return []
        spans = _group_spans(over, max(self._merge, self._p), fwd_over, bwd_over)
        out = []
        for g0, g1, f0, b1 in zip(*(v.tolist() for v in spans), strict=True):
            if ladder and g1 - g0 > self._max_core:
                # too long for a click at this threshold: what a larger detection_mult sees in it
                shorter = None
                for bar in self._bars[1:]:
                    inner = self._groups_at(mag, bmag, thr, g0, g1, bar, weak=weak)
                    if inner and all(c1 - c0 <= self._max_core for c0, c1, *_ in inner):
                        shorter = inner
                        break
                if shorter is not None:
                    out += shorter
                    continue
            c0 = f0 if f0 >= 0 else g0
            c1 = b1 if b1 >= 0 else g1
            if c1 <= c0:
                c1 = c0 + 1
            peak_i = c0 + int(np.argmax(mag[c0:c1]))
            two_sided = f0 >= 0 and b1 >= 0 and float(bmag[c0:c1].max()) > thr[peak_i]
            out.append((c0, c1, peak_i, two_sided, weak))
        return out

    def _pop_candidates(
        self,
        mono: FloatArray,
        dec: FloatArray,
        d: int,
        order: int,
        strong_bar: float | None = None,
        ladder: bool = False,
    ) -> list[tuple[int, int, int, bool, bool | None, float, bool]]:
        """Pop candidates ``(c0, c1, peak, True, None, kept, strong)`` (full-rate window indices) in ``mono``.

        ``mono`` is ``(n,)``; ``dec`` is ``mono`` averaged over blocks of ``d >= 2`` samples, ``(n // d,)``. A pop is a
        smooth low-frequency bump (0.5-3 ms) that the order-``p`` full-rate residual barely sees;
        averaged so it becomes a few samples long, impulsive for an order-``order`` model (the same
        detector at a coarser time scale, Godsill & Rayner 1998, ch. 5). Kept: events over
        ``_POP_RATIO`` of the threshold in both residuals, not pitch-synchronous at that scale, at
        most ``_LSAR_MAX_S`` long, and whose LSAR interpolation at that scale leaves at most
        ``_RECHECK_WIDE`` of the local residual energy (``kept``, the share left; the caller holds
        candidates of its own to ``_RECHECK_POP``) if they stand ``_ISOLATION_RATIO`` above every
        other peak within ``_ISOLATION_S``, at most ``_RECHECK_CLICK`` if they do not (their onsets
        are added to ``_crowded``). With ``strong_bar`` (a share of ``detection_mult``), an isolated
        candidate whose forward and backward residuals both reach ``strong_bar * detection_mult``
        times the scale is ``strong`` and kept up to ``_RECHECK_POP_STRONG`` (the caller decides).
        With ``ladder``, a two-sided group longer than ``_LSAR_MAX_S`` is grouped again at the
        multiples ``_POP_LADDER`` of the bar, and the events of the first multiple at which every
        two-sided event is short enough are candidates too (never ``strong``).
        """
        m = dec.size
        res, back, scale, _, _ = self._residual(dec, frame=max(4 * order, self._frame // d), p=order)
        mag, bmag = np.abs(res), np.abs(back)
        thr = _POP_RATIO * self.detection_mult * scale
        fwd_over, bwd_over = mag > thr, bmag > thr
        over = np.flatnonzero(fwd_over | bwd_over)
        if over.size == 0:
            return []
        iso = max(1, self._iso // d)
        g0s, g1s, c0s, c1s = _group_spans(over, order, fwd_over, bwd_over)
        both = (c0s >= 0) & (c1s >= 0)  # both residuals over the bar
        c1s = np.maximum(c1s, c0s + 1)
        keep = both & ((c1s - c0s) * d <= self._lsar_max)  # longer than a pop: a plosive release or a burst
        spans = [(c0, c1, False) for c0, c1 in zip(c0s[keep].tolist(), c1s[keep].tolist(), strict=True)]
        if ladder:  # what a stricter bar sees in the long groups
            for g0, g1 in zip(g0s[both & ~keep].tolist(), g1s[both & ~keep].tolist(), strict=True):
                spans += [
                    (g0 + e0, g0 + e1, True)
                    for e0, e1 in self._pop_regroup(mag[g0:g1], bmag[g0:g1], thr[g0:g1], d, order)
                ]
        out: list[tuple[int, int, int, bool, bool | None, float, bool]] = []
        for c0, c1, regrouped in spans:
            peak = c0 + int(np.argmax(mag[c0:c1]))
            if self._pitch_synchronous(mag, peak, d):  # glottal pulses recur at this scale too
                continue
            # not isolated at this scale (a pop beside another, or among a voice's pulses): held
            # to the full rate's bar for a click whatever stands near it
            alone = self._alone(mag, c0, c1, peak, _ISOLATION_RATIO, 1, order, iso)
            # the re-check at this scale: LSAR interpolation of the decimated event
            a0, a1, ctx_d = c0 - 1, c1 + 1, max(4 * order, self._lsar_ctx // d)
            if a0 - ctx_d < 0 or a1 + ctx_d > m:
                continue
            a = _ar_fit(np.concatenate([dec[a0 - ctx_d : a0], dec[a1 : a1 + ctx_d]]), order)
            seg = dec[a0 - order : a1 + order]
            fixed = seg.copy()
            fixed[order : order + a1 - a0] = _lsar(dec, a0, a1, a)
            coef = np.concatenate([[1.0], -a])
            before = float(np.sum(_fir(coef, seg)[order:] ** 2))
            after = float(np.sum(_fir(coef, fixed)[order:] ** 2))
            kept = after / max(before, _SCALE_FLOOR**2)
            strong = (
                strong_bar is not None
                and not regrouped
                and alone
                and min(float(mag[peak]), float(bmag[c0:c1].max())) >= strong_bar * self.detection_mult * scale[peak]
            )
            if kept > (
                max(_RECHECK_WIDE, _RECHECK_POP_STRONG) if strong else _RECHECK_WIDE if alone else _RECHECK_CLICK
            ):
                continue
            f0, f1 = c0 * d, c1 * d
            if not alone:
                self._crowded.add(f0)
            hp = np.abs(np.diff(mono[f0 : f1 + 1]))
            out.append((f0, f1, f0 + int(np.argmax(hp)), True, None, kept, strong))
        return out

    def _pop_regroup(
        self, mag: FloatArray, bmag: FloatArray, thr: FloatArray, d: int, order: int
    ) -> list[tuple[int, int]]:
        """Two-sided events ``(c0, c1)`` of a long pop-scale group at the first stricter bar that leaves them all short.

        ``mag``, ``bmag`` and ``thr`` are the group's residual magnitudes and bar, ``(g,)``, at the scale
        decimated by ``d`` (order ``order``). Each multiple of ``_POP_LADDER`` of ``thr`` is tried in turn;
        none when a bar leaves no two-sided event.
        """
        for k in _POP_LADDER:
            fwd_over, bwd_over = mag > k * thr, bmag > k * thr
            over = np.flatnonzero(fwd_over | bwd_over)
            if over.size == 0:
                return []
            _, _, c0s, c1s = _group_spans(over, order, fwd_over, bwd_over)
            both = (c0s >= 0) & (c1s >= 0)
            if not both.any():
                return []
            c0s, c1s = c0s[both], np.maximum(c1s[both], c0s[both] + 1)
            if np.all((c1s - c0s) * d <= self._lsar_max):
                return list(zip(c0s.tolist(), c1s.tolist(), strict=True))
        return []

    def _bump_candidates(
        self,
        mono: FloatArray,
        res: FloatArray,
        coefs: FloatArray,
        scale: FloatArray,
        mag: FloatArray,
        seg_lo: int = 0,
        seg_hi: int | None = None,
    ) -> list[tuple[int, int, int, bool, bool | None]]:
        """Smooth-bump candidates ``(c0, c1, peak, True, None)`` (window indices) of the matched filters.

        ``mono`` is the analysed window, ``res`` its forward residual with the per-frame model
        ``coefs`` (``(frames, p)``), ``scale`` the residual's robust scale and ``mag`` its absolute
        value, all ``(n,)``. A bump ``b`` starting at ``s`` adds ``w = c * diff(b)`` to the residual
        (``c`` the frame's prediction-error filter); the matched filter's output ``<w, res[s:]>``
        equals ``<diff(b), v[s:]>`` with ``v`` the residual filtered backwards by ``c``, and its
        standard deviation under no click is ``||w||`` times the residual's scale. The output in
        those units, the largest over the widths of ``_BUMP_WIDTHS_S``, over ``detection_mult``
        marks a candidate spanning the bump; it is kept when it stands ``_BUMP_ALONE`` over every
        other output within ``_ISOLATION_S`` (outside its own span and the ``p`` samples its
        residual smears into), when the step filter (the same for an impulse in the first
        difference, a jump of the waveform) stays under ``_BUMP_STEP`` of it, and when its
        interpolation re-check leaves at most ``_RECHECK_BUMP`` (recorded in ``_pop_kept_at``).
        The candidates of :meth:`_refined_bumps` with onset in ``[seg_lo, seg_hi)`` follow.
        """
        if not _BUMP_WIDTHS_S:
            return []
        f, n = self._frame, res.size
        k_n = coefs.shape[0]
        v = _ar_reverse(res, coefs, f)
        pef = np.concatenate([np.ones((k_n, 1)), -coefs], axis=1)
        inv_scale = 1.0 / scale
        widths = _BUMP_WIDTHS_S + (_REFINED_WIDTHS_S if self._refine else ())
        sizes = [max(2, round(width_s * self.sr)) for width_s in widths]
        outs = np.zeros((len(sizes), k_n * f))
        for i, size in enumerate(sizes):
            d_shape, conv = _bump_shape(size, pef.shape[1])
            norms = np.linalg.norm(pef @ conv, axis=1)  # each frame's filter convolved with the shape
            # out_f[s] = sum_i d_shape[i] v[s + i] (one frame as long as the valid part)
            out_f = kernels.framewise_fir(v, d_shape[None, :], v.size - d_shape.size + 1)[0]
            outs[i, : out_f.size] = np.abs(out_f)
            outs[i].reshape(k_n, f)[...] /= norms[:, None]  # per frame, the filtered shape's norm
        nb = len(_BUMP_WIDTHS_S)
        best = outs[:nb].max(axis=0)[:n]
        best *= inv_scale
        refined: list[tuple[int, int, int, bool, bool | None]] = []
        if self._refine:
            refined = self._refined_bumps(
                mono, outs, inv_scale, best, sizes, mag, seg_lo, n if seg_hi is None else seg_hi
            )
        over = np.flatnonzero(best > self.detection_mult)
        if over.size == 0:
            return refined
        step_norm = np.linalg.norm(pef, axis=1)
        out: list[tuple[int, int, int, bool, bool | None]] = []
        breaks = np.flatnonzero(np.diff(over) > self._merge)
        for fi, la in zip(np.concatenate([[0], breaks + 1]), np.concatenate([breaks, [over.size - 1]]), strict=True):
            g0, g1 = int(over[fi]), int(over[la]) + 1
            s0 = g0 + int(np.argmax(best[g0:g1]))
            c0, c1 = s0, s0 + sizes[int(np.argmax(outs[:nb, s0]))]
            if c0 < self._p:
                continue
            lo, hi = max(0, c0 - self._iso), min(n, c1 + self._iso)
            around = np.concatenate([best[lo : max(lo, c0 - self._p)], best[min(hi, c1 + self._p) : hi]])
            if around.size and best[s0] < _BUMP_ALONE * float(around.max()):
                continue
            e0, e1 = max(0, c0 - self._pad), min(n, c1 + self._pad + 1)
            z_step = np.abs(v[e0:e1]) * inv_scale[e0:e1] / step_norm[np.arange(e0, e1) // f]
            if float(z_step.max()) >= _BUMP_STEP * best[s0]:
                continue
            kept = self._recheck(mono, c0, c1)
            if kept is None or kept > _RECHECK_BUMP:
                continue
            out.append((c0, c1, c0 + int(np.argmax(mag[c0 : c1 + self._p])), True, None))
            self._pop_kept_at[c0] = kept
        return out + refined

    def _refined_bumps(
        self,
        mono: FloatArray,
        outs: FloatArray,
        inv_scale: FloatArray,
        best: FloatArray,
        sizes: list[int],
        mag: FloatArray,
        seg_lo: int,
        seg_hi: int,
    ) -> list[tuple[int, int, int, bool, bool | None]]:
        """Candidates ``(c0, c1, peak, True, None)`` of bump outputs under the bar, judged by a longer model.

        ``outs`` is the matched filters' output per width (``sizes``, the widths of
        ``_BUMP_WIDTHS_S`` then ``_REFINED_WIDTHS_S``) before scaling, ``inv_scale`` the residual's
        inverse scale and ``best`` the largest output of ``_BUMP_WIDTHS_S`` in units, all ``(n,)``
        but ``outs`` (``(widths, >= n)``). A group of outputs over ``_REFINED_PRE`` of
        ``detection_mult`` where ``best`` never passes it, at an onset in ``[seg_lo, seg_hi)``, is
        judged by the matched filter of a model ``_REFINED_ORDER_MULT`` times the order fitted on
        the ``_ISOLATION_S`` either side of it, ``_REFINED_GAP_S`` away (the autocorrelation of the
        two stretches, each Hann-windowed), in units of that model's own residual scale over the
        ``_ONSET_WIN_S`` either side (module notes). All groups of a window are judged in one batch.
        Kept onsets go into ``_crowded`` and ``_tonal_pops``, their re-check into ``_pop_kept_at``.
        """
        n = best.size
        mult = self.detection_mult
        order = self._refined_order
        gap = round(_REFINED_GAP_S * self.sr)
        big, ctx, near, pad = max(sizes), self._iso, self._onset_win, self._pad
        lo, hi = max(0, seg_lo - pad), min(n, seg_hi + pad)
        # every width's output in units, over the segment only (the groups start in it)
        all_w = best.copy()
        if outs.shape[0] > len(_BUMP_WIDTHS_S):
            extra = outs[len(_BUMP_WIDTHS_S) :, lo:hi].max(axis=0) * inv_scale[lo:hi]
            np.maximum(all_w[lo:hi], extra, out=all_w[lo:hi])
        over = lo + np.flatnonzero(all_w[lo:hi] > _REFINED_PRE * mult)
        if over.size == 0:
            return []
        breaks = np.flatnonzero(np.diff(over) > self._merge)
        starts = []
        for fi, la in zip(np.concatenate([[0], breaks + 1]), np.concatenate([breaks, [over.size - 1]]), strict=True):
            g0, g1 = int(over[fi]), int(over[la]) + 1
            if float(best[g0:g1].max()) > mult:  # the matched filters' own candidate
                continue
            s0 = g0 + int(np.argmax(all_w[g0:g1]))
            if s0 - max(near + order, gap + ctx) >= 0 and s0 + big + max(near + order, gap + ctx) <= n:
                starts.append(s0)
        if not starts:
            return []
        hp = _first_difference(mono)
        st = np.asarray(starts)
        # each model from the autocorrelation of the two Hann-windowed stretches around its bump
        window = _hann(ctx)
        left = hp[(st - gap - ctx)[:, None] + np.arange(ctx)] * window
        right = hp[(st + big + gap)[:, None] + np.arange(ctx)] * window
        nfft = sfft.next_fast_len(ctx + order + 1, real=True)
        spec_l, spec_r = sfft.rfft(left, n=nfft, axis=1), sfft.rfft(right, n=nfft, axis=1)
        power = spec_l.real**2 + spec_l.imag**2 + spec_r.real**2 + spec_r.imag**2
        acf = sfft.irfft(power, n=nfft, axis=1)[:, : order + 1]
        coef = np.concatenate([np.ones((st.size, 1)), -levinson(np.ascontiguousarray(acf))], axis=1)
        # e: the forward residual over [s0 - near, s0 + big + near + order); filtered backwards by the
        # same filter it gives the step filter's output u, and u correlated with a shape the bump's
        length = 2 * near + big + order
        seg = hp[(st - near - order)[:, None] + np.arange(length + order)]
        nfft = sfft.next_fast_len(length + 2 * order, real=True)
        c_spec = sfft.rfft(coef, n=nfft, axis=1)
        e = sfft.irfft(sfft.rfft(seg, n=nfft, axis=1) * c_spec, n=nfft, axis=1)[:, order : order + length]
        valid = length - order
        outside = np.ones(length, bool)
        outside[near - 2 : near + big + order + 2] = False  # the bump's own residual
        sigma = np.maximum(_MAD_TO_SIGMA * _row_median(np.abs(e[:, outside])), _SCALE_FLOOR)
        shapes = [_bump_shape(size, order + 1) for size in sizes]
        # the outputs at the onsets judged (within pad of the group's peak) first, directly from e and
        # with each filtered shape's norm from the spectra (Parseval): most groups stay under the bar
        # there, and only the others need every output of the span, computed as before
        weight = np.full(c_spec.shape[1], 2.0 / nfft)
        weight[0] = weight[-1 if nfft % 2 == 0 else 0] = 1.0 / nfft
        d_power = np.stack([np.abs(sfft.rfft(d_shape, n=nfft)) ** 2 * weight for d_shape, _ in shapes], axis=1)
        norms_c = np.sqrt((c_spec.real**2 + c_spec.imag**2) @ d_power).T * sigma
        u_c = np.einsum(
            "rtk,rk->rt",
            np.lib.stride_tricks.sliding_window_view(
                e[:, near - pad : near + pad + big + order + 1], order + 1, axis=1
            ),
            coef,
        )
        centre = np.zeros(st.size)
        for i, (d_shape, _) in enumerate(shapes):
            y_c = (
                np.lib.stride_tricks.sliding_window_view(u_c[:, : 2 * pad + d_shape.size], d_shape.size, axis=1)
                @ d_shape
            )
            centre = np.maximum(centre, np.abs(y_c).max(axis=1) / norms_c[i])
        # a margin for the rounding of the two ways of computing the same output
        judged = np.flatnonzero(centre > mult * (1 - 1e-6)) if _REFINED_SCREEN else np.arange(st.size)
        if judged.size == 0:
            return []
        coef, sigma, e = coef[judged], sigma[judged], e[judged]
        u_spec = sfft.rfft(e, n=nfft, axis=1) * np.conj(c_spec[judged])
        u = sfft.irfft(u_spec, n=nfft, axis=1)[:, :valid]
        ys = np.empty((len(sizes), judged.size, valid))
        for i, (d_shape, conv) in enumerate(shapes):
            y = sfft.irfft(u_spec * np.conj(sfft.rfft(d_shape, n=nfft)), n=nfft, axis=1)[:, :valid]
            ys[i] = np.abs(y) / (np.linalg.norm(coef @ conv, axis=1) * sigma)[:, None]
        y_best = ys.max(axis=0)
        z_step = np.abs(u) / (np.linalg.norm(coef, axis=1) * sigma)[:, None]
        pops = [_bump_shape(round(width_s * self.sr), 1)[0] for width_s in _REFINED_POP_WIDTHS_S]
        out: list[tuple[int, int, int, bool, bool | None]] = []
        for r, s0 in enumerate(st[judged].tolist()):
            j = near - pad + int(np.argmax(y_best[r, near - pad : near + pad + 1]))
            z = float(y_best[r, j])
            size = sizes[int(np.argmax(ys[:, r, j]))]
            around = np.concatenate([y_best[r, : max(0, j - big - order)], y_best[r, j + big + order : valid - big]])
            if z <= mult or (around.size and z < _BUMP_ALONE * float(around.max())):
                continue
            if float(z_step[r, j - pad : j + size + pad + 1].max()) >= _BUMP_STEP * z:
                continue
            # the same filter for pop-long bumps: a bump it explains better is part of a pop (the coarse
            # scales' to judge); and the kink filter, the same for a step in the first difference as long
            # as the widest bump (a bend of the waveform, such as a note's envelope reaching its level,
            # which a noiseless tone's longer model reads as foreign), a running sum of u
            u_r, k0 = u[r], max(0, j - big)
            if any(
                float(np.abs(np.correlate(u_r[k0 : j + big + d.size - 1], d, "valid")).max())
                > z * sigma[r] * float(np.linalg.norm(np.convolve(coef[r], d)))
                for d in pops
            ):
                continue
            run_sum = np.convolve(u_r[k0 : j + size + pad + big + 1], np.ones(big), "valid")
            if float(np.abs(run_sum).max()) >= _BUMP_STEP * z * sigma[r] * float(
                np.linalg.norm(np.convolve(coef[r], np.ones(big)))
            ):
                continue
            c0 = s0 + j - near
            c1 = c0 + size
            if self._is_offset(hp, c0, c1):
                continue
            kept = self._recheck(mono, c0, c1, order)
            if kept is None or kept > _RECHECK_REFINED:
                continue
            out.append((c0, c1, c0 + int(np.argmax(mag[c0 : c1 + self._p])), True, None))
            self._pop_kept_at[c0] = kept
            self._crowded.add(c0)
            self._tonal_pops.add(c0)
            self._refined.add(c0)
        return out

    def _coarse_candidates(
        self, mono: FloatArray, taken: list[tuple[int, int]]
    ) -> tuple[list[tuple[int, int, int, bool, bool | None]], list[tuple[int, int, int, bool, bool | None]]]:
        """Candidates of the coarse scales ``_SCALES`` and the tonal pop scale: ``(new, fallback)``.

        ``new`` overlap none of the spans in ``taken`` (the full-rate candidates) and passed the
        re-check at their scale under ``_RECHECK_POP`` (strong ones of the tonal pop scale under
        ``_RECHECK_POP_STRONG``, :meth:`_pop_candidates`); ``fallback`` overlap one and passed it
        under ``_RECHECK_WIDE``: they are tried when the full-rate candidate they overlap was
        spared by the two-sided, pitch or onset guard. A candidate overlapping one already kept
        (of a finer scale, or earlier at its own) is dropped. ``mono`` is ``(n,)``; spans are
        window indices. The tonal pop scale (order ``_POP_TONAL_ORDER`` at ``_POP_TONAL_RATE``)
        runs last, for what the short models missed. Sets ``_pop_kept_at`` (onset -> share left),
        ``_crowded`` and ``_tonal_pops`` (the tonal pop scale's onsets).
        """
        self._pop_kept_at = {}
        self._crowded = set()
        self._tonal_pops = set()
        self._refined = set()
        decimated: dict[int, FloatArray] = {}  # mono averaged over blocks of d samples, by d (scales share it)
        new: list[tuple[int, int, int, bool, bool | None]] = []
        fallback: list[tuple[int, int, int, bool, bool | None]] = []
        seen: list[tuple[int, int]] = []
        passes = [(rate, round(_POP_ORDER * rate / 2000)) for rate in _SCALES]
        if _POP_TONAL_ORDER:
            passes.append((_POP_TONAL_RATE, _POP_TONAL_ORDER))
        for i, (rate, order) in enumerate(passes):
            tonal = i == len(_SCALES)
            d = int(self.sr // rate)
            if d < 2:  # no coarser than the full rate
                continue
            if d not in decimated:
                m = mono.size // d
                decimated[d] = mono[: m * d].reshape(m, d).mean(axis=1)
            strong_bar = _POP_STRONG if tonal else None
            found = self._pop_candidates(mono, decimated[d], d, order, strong_bar, ladder=tonal)
            for f0, f1, peak, two, weak, kept, strong in found:
                if any(s < f1 and f0 < e for s, e in seen):
                    continue
                if any(s < f1 and f0 < e for s, e in taken):
                    if kept > _RECHECK_WIDE:  # a fall-back's bar is the same, strong or not
                        continue
                    fallback.append((f0, f1, peak, two, weak))
                elif kept <= _RECHECK_POP or (strong and kept <= _RECHECK_POP_STRONG):
                    new.append((f0, f1, peak, two, weak))
                else:
                    continue
                seen.append((f0, f1))
                self._pop_kept_at[f0] = kept
                if tonal:
                    self._tonal_pops.add(f0)
        return new, fallback

    def _pitch_synchronous(self, mag: FloatArray, peak_i: int, d: int = 1) -> bool:
        """True when residual peaks at least half as high sit about one period either side.

        ``d`` is the decimation factor of ``mag`` (the pop scale) against the full rate.
        """
        ref = _PITCH_PEAK_RATIO * mag[peak_i]
        pmin, pmax = max(1, self._pmin // d), max(2, self._pmax // d)
        lo0, lo1 = peak_i - pmax, peak_i - pmin
        hi0, hi1 = peak_i + pmin, peak_i + pmax
        if lo0 < 0 or hi1 > mag.size:
            return False
        left = mag[lo0:lo1]
        right = mag[hi0:hi1]
        li, ri = int(np.argmax(left)), int(np.argmax(right))
        if left[li] < ref and right[ri] < ref:
            return False
        if left[li] < ref or right[ri] < ref:  # pulses on one side only: the end of a voiced stretch
            step = -(pmax - li) if left[li] >= ref else pmin + ri
            return self._train(mag, peak_i, step, ref)
        dl, dr = pmax - li, pmin + ri
        if abs(dl - dr) <= _PITCH_SYMMETRY * 0.5 * (dl + dr):
            return True
        return self._train(mag, peak_i, -dl, ref) or self._train(mag, peak_i, dr, ref)

    @staticmethod
    def _train(mag: FloatArray, peak_i: int, step: int, ref: float) -> bool:
        """True when a pulse also sits about ``2 * step`` from ``peak_i`` (a train on one side)."""
        tol = max(1, int(_PITCH_SYMMETRY * abs(step)))
        c = peak_i + 2 * step
        lo, hi = c - tol, c + tol + 1
        return lo >= 0 and hi <= mag.size and float(mag[lo:hi].max()) >= ref

    @staticmethod
    def _alone(mag: FloatArray, c0: int, c1: int, peak_i: int, ratio: float, margin: int, smear: int, iso: int) -> bool:
        """True when ``mag[peak_i]`` is at least ``ratio`` times every other peak of ``mag`` around the event.

        ``mag`` is a residual's magnitude ``(n,)``; the peaks compared are those within ``iso``
        samples of ``[c0, c1)``, outside ``[c0 - margin, c1 + smear + margin)`` (the event and
        the ``smear`` samples its residual spreads into).
        """
        lo = max(0, c0 - iso)
        hi = min(mag.size, c1 + iso)
        ctx = mag[lo:hi].copy()
        ctx[max(0, c0 - margin) - lo : max(0, min(hi, c1 + smear + margin) - lo)] = 0.0
        return bool(mag[peak_i] >= ratio * float(ctx.max(initial=0.0)))

    def _isolated(self, mag: FloatArray, c0: int, c1: int, peak_i: int, mono: FloatArray) -> bool:
        """True when the event stands alone, or when interpolating it removes its residual.

        Alone: its peak is ``_ISOLATION_RATIO`` times every other peak of ``mag`` (the forward
        residual's magnitude) within ``_ISOLATION_S`` of the event, outside ``[c0 - 1 ms,
        c1 + p + 1 ms)`` (the event and the ``p`` samples its residual smears into), and the
        interpolation re-check (:meth:`_recheck`) leaves at most ``_RECHECK_SOUND`` of the local
        residual energy. Or, whatever stands near it: the re-check leaves at most
        ``_RECHECK_CLICK``.
        """
        alone = self._alone(mag, c0, c1, peak_i, _ISOLATION_RATIO, self._merge, self._p, self._iso)
        kept = self._recheck(mono, c0, c1)
        if kept is None:
            return alone
        return (alone and kept <= _RECHECK_SOUND) or kept <= _RECHECK_CLICK

    def _in_side(self, mag: FloatArray, c0: int, c1: int) -> bool:
        """Whether the side pass's event ``[c0, c1)`` stands ``_SIDE_RATIO`` over the mid's residual there.

        ``mag`` is the side residual's magnitude; the mid's is the last base pass's, on the same
        window (``(n,)`` both). An event the mid saw about as strongly was judged by the mid passes.
        """
        if self._mid_mag is None or self._mid_mag.size != mag.size:
            return True
        lo, hi = max(0, c0 - self._merge), c1 + self._merge
        return bool(mag[lo:hi].max() >= _SIDE_RATIO * self._mid_mag[lo:hi].max())

    def _recheck(self, mono: FloatArray, c0: int, c1: int, order: int | None = None) -> float | None:
        """Share of the local AR residual energy left once ``mono[c0 - pad:c1 + pad]`` is interpolated.

        An AR model of order ``p`` (or ``order``, then by :func:`_ar_fit_sides`) is fitted on the
        ``_LSAR_CTX_S`` either side (as the repair does), the event is replaced by its LSAR
        interpolation, and the model's prediction-error energy over the event and the ``p``
        samples either side is compared before and after. A
        click is foreign to the model: interpolating it removes nearly all of that energy. A
        natural excitation (a glottal pulse, a plosive) is part of the sound around it, which the
        model fitted on that sound partly predicts. None when the event is longer than
        ``_LSAR_MAX_S`` or its context leaves the window.
        """
        p = self._p if order is None else order
        a0, a1 = c0 - self._pad, c1 + self._pad
        ctx = self._lsar_ctx
        if a1 - a0 > self._lsar_max or a0 - max(ctx, p) < 0 or a1 + max(ctx, p) > mono.size:
            return None
        left, right = mono[a0 - ctx : a0], mono[a1 : a1 + ctx]
        a = _ar_fit(np.concatenate([left, right]), p) if order is None else _ar_fit_sides(left, right, p)
        seg = mono[a0 - p : a1 + p]
        fixed = seg.copy()
        fixed[p : p + a1 - a0] = _lsar(mono, a0, a1, a)
        coef = np.concatenate([[1.0], -a])
        before = _fir(coef, seg)[p:]
        after = _fir(coef, fixed)[p:]
        return float(np.sum(after**2) / max(float(np.sum(before**2)), _SCALE_FLOOR**2))

    def _level_rises(self, mono: FloatArray, a0: int, a1: int) -> bool:
        """True when the 10 ms of ``mono`` after ``a1`` carry more than 4x the energy of the 10 ms before ``a0``.

        Energies of the mean-removed signal, not high-passed: the onset test for bursts.
        """
        before = mono[max(0, a0 - self._onset_win) : a0]
        after = mono[a1 : a1 + self._onset_win]
        if before.size == 0 or after.size == 0:
            return False
        e_before = float(np.mean((before - before.mean()) ** 2))
        e_after = float(np.mean((after - after.mean()) ** 2))
        return e_after > _ONSET_RISE * e_before + _SCALE_FLOOR**2

    def _shift_ncc(self, hp: FloatArray, a0: int, a1: int, reach: int) -> tuple[FloatArray, int] | None:
        """Normalised correlation of ``hp[a0:a1]`` with every span of its length within ``reach`` of it.

        ``hp`` is the high-passed mono signal ``(n,)``. Returns ``(ncc, lo)``: ``ncc[j]`` is the
        correlation with ``hp[lo + j:lo + j + a1 - a0]``, the span clipped to ``hp``; None when it
        is empty or silent.
        """
        a0, a1 = max(0, a0), min(hp.size, a1)
        n_span = a1 - a0
        seg = hp[a0:a1]
        e = float(seg @ seg)
        if n_span <= 0 or e <= n_span * _SCALE_FLOOR**2:
            return None
        lo, hi = max(0, a0 - reach), min(hp.size, a1 + reach)
        region = hp[lo:hi]
        num = np.correlate(region, seg, mode="valid")  # num[j] = region[j:j + n_span] @ seg
        c2 = np.concatenate([[0.0], np.cumsum(region**2)])
        energy = c2[n_span:] - c2[:-n_span]
        return num / np.sqrt(np.maximum(energy, _SCALE_FLOOR**2) * e), lo

    @staticmethod
    def _at_shifts(got: tuple[FloatArray, int], a0: int, shifts: npt.NDArray[np.int64]) -> FloatArray:
        """The correlations of :meth:`_shift_ncc` at the spans starting ``a0 + shifts``, those in reach.

        For shifts growing away from ``a0`` (``side * lags``) the ones in reach are a prefix.
        """
        ncc, lo = got
        j = a0 + shifts - lo
        return ncc[j[(j >= 0) & (j < ncc.size)]]

    def _repeats(self, hp: FloatArray, a0: int, a1: int) -> bool:
        """True when ``hp[a0:a1]`` repeats one pitch period away and again two periods away, on one side.

        ``hp`` is the high-passed mono signal ``(n,)``. The normalised correlation of the span
        with the span shifted by every lag ``T`` of the glottal range (``_PITCH_MIN_S`` to
        ``_PITCH_MAX_S``), before it or after it, is taken at its best lag; the span is periodic
        when that reaches ``_PERIODIC_NCC`` and so does the best shift within
        ``_PERIODIC_TOL`` of ``2 T`` on the same side (a train, as :meth:`_train` asks of
        residual peaks). The waveform test of voicing (the normalised autocorrelation of
        Boersma 1993, here over the span only) complements :meth:`_pitch_synchronous`, which
        looks for residual peaks at least half as high and misses a pulse that stands out of
        its neighbours, as at the start of a vowel.
        """
        got = self._shift_ncc(hp, a0, a1, 2 * self._pmax + int(_PERIODIC_TOL * 2 * self._pmax) + 1)
        if got is None:
            return False
        lags = np.arange(self._pmin, self._pmax + 1)
        for side in (-1, 1):
            first = self._at_shifts(got, a0, side * lags)
            if first.size == 0:
                continue
            k = int(np.argmax(first))
            if first[k] < _PERIODIC_NCC:
                continue
            t2 = 2 * int(lags[k])  # the shifts in reach are a prefix of the lags
            tol = max(2, round(_PERIODIC_TOL * t2))
            second = self._at_shifts(got, a0, side * np.arange(t2 - tol, t2 + tol + 1))
            if second.size and float(second.max()) >= _PERIODIC_NCC:
                return True
        return False

    def _periodic(self, hp: FloatArray, a0: int, a1: int) -> bool:
        """True when ``hp[a0:a1]`` repeats at one pitch period: on both sides, or twice on one side.

        ``hp`` is the high-passed mono signal ``(n,)``. On each side, the period is the first lag
        of the glottal range at which the normalised correlation (:meth:`_shift_ncc`) peaks at
        ``_PERIODIC_NCC`` or more, each peak refined between lags (:func:`_parabolic_peaks`: a
        period is rarely a whole number of samples, and a sharp waveform correlates well only
        within a fraction of a sample of it). The span is periodic when both sides give a period
        and the two agree within ``_PERIODIC_TOL``, or when one side's span also repeats at twice
        its period (a train: the other side may hold a repair, or a click). A click is added to
        the sound at one place: the sound a period away lacks it.
        """
        reach = 2 * self._pmax + int(2 * _PERIODIC_TOL * self._pmax) + 2
        got = self._shift_ncc(hp, a0, a1, reach)
        if got is None:
            return False
        lags = np.arange(self._pmin, self._pmax + 1)
        periods = []
        for side in (-1, 1):
            where, height = _parabolic_peaks(self._at_shifts(got, a0, side * lags))
            ok = np.flatnonzero(height >= _PERIODIC_NCC)
            if ok.size == 0:
                continue
            period = self._pmin + float(where[ok[0]])
            tol = max(2.0, _PERIODIC_TOL * 2 * period)
            twice = np.arange(int(2 * period - tol), int(np.ceil(2 * period + tol)) + 1)
            _, height2 = _parabolic_peaks(self._at_shifts(got, a0, side * twice))
            if height2.size and float(height2.max()) >= _PERIODIC_NCC:
                return True
            periods.append(period)
        return len(periods) == 2 and abs(periods[0] - periods[1]) <= max(2.0, _PERIODIC_TOL * max(periods))

    def _repeats_once(self, hp: FloatArray, a0: int, a1: int) -> bool:
        """True unless ``hp[a0:a1]`` correlates less than ``_PITCH_NCC_MIN`` with every span one pitch period away.

        ``hp`` is the high-passed mono signal ``(n,)``. The best normalised correlation over all
        the lags of the glottal range, before or after the span (:meth:`_shift_ncc`): a best
        over some 2 x (``_PITCH_MAX_S`` - ``_PITCH_MIN_S``) x rate shifts of a short span is
        high for most sounds, so only a span that some foreign event dominates falls under the
        bar. A silent span counts as repeating (nothing to repair there).
        """
        got = self._shift_ncc(hp, a0, a1, self._pmax)
        if got is None:
            return True
        lags = np.arange(self._pmin, self._pmax + 1)
        sides = (self._at_shifts(got, a0, -lags), self._at_shifts(got, a0, lags))
        return max((float(v.max()) for v in sides if v.size), default=1.0) >= _PITCH_NCC_MIN

    def _struck(self, res: FloatArray, a0: int) -> bool:
        """True when a burst starting at ``a0`` opens with a strike (a key's, not a plosive's build-up).

        A strike is a forward-residual peak ``_STRUCK_DB`` over the residual's level before it.

        ``res`` is the forward residual, ``(n,)``. The peak is taken over the ``_STRUCK_S`` after
        ``a0`` (and the repair pad), the level over the ``_ONSET_WIN_S`` before it.
        """
        before = res[max(0, a0 - self._onset_win) : a0]
        head = res[a0 : a0 + self._struck_len + self._pad]
        if self.sr < _STRUCK_MIN_SR or before.size == 0 or head.size == 0:
            return False
        level = float(np.sqrt(np.mean(before.astype(np.float64) ** 2)))
        if level <= _SCALE_FLOOR:  # out of digital silence any sound starts with a strike
            return False
        return float(np.max(np.abs(head))) > level * 10 ** (_STRUCK_DB / 20)

    def _is_onset(self, hp: FloatArray, c0: int, c1: int) -> bool:
        """True when the 10 ms after the event carry far more energy than the 10 ms before it."""
        before = hp[max(0, c0 - self._onset_win) : max(1, c0 - self._pad)]
        after = hp[c1 + self._pad : c1 + self._pad + self._onset_win]
        if before.size == 0 or after.size == 0:
            return False
        return float(np.mean(after**2)) > _ONSET_RISE * float(np.mean(before**2)) + _SCALE_FLOOR**2

    def _is_offset(self, hp: FloatArray, c0: int, c1: int) -> bool:
        """True when the 10 ms before the event carry far more energy than the 10 ms after it (an onset reversed)."""
        w, pad = self._onset_win, self._pad
        before = hp[max(0, c0 - pad - w) : max(1, c0 - pad)]
        after = hp[c1 + pad : c1 + pad + w]
        if before.size == 0 or after.size == 0:
            return False
        return _ONSET_RISE * float(np.mean(after**2)) < float(np.mean(before**2))

    def _onset_yields(self, mag: FloatArray, mono: FloatArray, c0: int, c1: int, peak_i: int) -> bool:
        """True when an event the onset guard would spare is a click on an onset after all.

        It stands ``_ONSET_ALONE`` dB above every other peak of the forward residual ``mag``
        within ``_ISOLATION_S`` (:meth:`_alone`) and interpolating it leaves at most
        ``_RECHECK_ONSET`` of its residual energy (:meth:`_recheck`): a click just before a
        note or a word, which an onset's own residual (a family of peaks, partly predicted by
        the sound that follows) does not pass.
        """
        ratio = 10 ** (_ONSET_ALONE / 20)
        if not self._alone(mag, c0, c1, peak_i, ratio, self._merge, self._p, self._iso):
            return False
        kept = self._recheck(mono, c0, c1)
        return kept is not None and kept <= _RECHECK_ONSET

    def _burst_end(self, hp_env: FloatArray, a0: int, a1: int) -> int | None:
        """Where a long event's envelope is back near its pre-onset level; None if it never is."""
        pre = hp_env[max(0, a0 - self._bctx) : max(1, a0 - self._pad)]
        level = float(np.median(pre)) if pre.size else 0.0
        limit = level * 10 ** (_BURST_END_DB / 10) + _SCALE_FLOOR**2
        stop = min(hp_env.size, a0 + self._max_burst)
        quiet = np.flatnonzero(hp_env[a1:stop] <= limit)
        return None if quiet.size == 0 else a1 + int(quiet[0])

    def _steps_to_silence(self, mono: FloatArray, a0: int, a1: int) -> bool:
        """True when the level steps down at the event and stays down: a note cut off to silence.

        Energy of ``mono`` over the ``_SILENCE_WIN_S`` before ``a0`` against each of the two
        windows of half that length from ``a1``: both later ones under ``_SILENCE_DROP``
        (-10 dB) of the first. A click leaves the signal as it was; a note that stops with a
        step to zero (synthetic music, an edit) breaks the prediction once and leaves silence
        behind, which no repair would improve. The windows are short because the next note may
        start a few ms later.
        """
        win = max(2, round(_SILENCE_WIN_S * self.sr))
        half = win // 2
        before = mono[max(0, a0 - win) : a0]
        after = mono[a1 : a1 + win]
        if before.size < win or after.size < win:
            return False
        e_before = float(np.mean(before**2))
        if e_before <= _SCALE_FLOOR**2:
            return False
        lim = _SILENCE_DROP * e_before
        if float(np.mean(after[:half] ** 2)) >= lim or float(np.mean(after[half:] ** 2)) >= lim:
            return False
        # a step, not a pulse: the level jumps once (a click goes out and comes back)
        k = max(1, round(_STEP_EDGE_S * self.sr))
        pre, post = float(mono[a0 - k : a0].mean()), float(mono[a1 : a1 + k].mean())
        dev = float(np.max(np.abs(mono[a0:a1] - pre))) if a1 > a0 else 0.0
        return abs(post - pre) >= _STEP_SHARE * max(dev, abs(post - pre))

    def _burst_ratio(self, res: FloatArray, back: FloatArray, sub_all: FloatArray) -> FloatArray | None:
        """The burst test's margin per sample, ``(n,)``; None when ``res`` is shorter than the scale's span.

        The smaller of the two windowed residual energies of ``res`` and ``back`` (``(n,)``) over
        ``(_BURST_RATIO * detection_mult * scale) ** 2``, the scale taken from the 5 ms medians
        ``sub_all``; over 1 is a burst sample (:meth:`_burst_candidates`).
        """
        n = res.size
        q = max(1, self._frame // 4)
        m = n // q
        if m < _BURST_SCALE_N:
            return None
        sub = sub_all[:m]  # the whole sub-frames' medians (the last, part repeated tail, left out)
        h = _BURST_SCALE_N // 2
        padded = np.concatenate([np.full(h, sub[0]), sub, np.full(h, sub[-1])])
        local = _row_median(np.lib.stride_tricks.sliding_window_view(padded, _BURST_SCALE_N))
        scale = np.repeat(np.maximum(_MAD_TO_SIGMA * local, _SCALE_FLOOR), q)
        scale = np.concatenate([scale, np.full(n - scale.size, scale[-1])])
        win = max(2, round(_BURST_WIN_S * self.sr))
        cf = np.concatenate([[0.0], np.cumsum(res**2), np.zeros(win)])
        cf[n + 1 :] = cf[n]
        e_f = (cf[win : n + win] - cf[:n]) / win  # window [t, t + win)
        cb = np.concatenate([np.zeros(win), [0.0], np.cumsum(back**2)])
        e_b = (cb[win + 1 :] - cb[1 : n + 1]) / win  # window (t - win, t]
        thr2 = (_BURST_RATIO * self.detection_mult * scale) ** 2
        ratio: FloatArray = np.minimum(e_f, e_b) / thr2
        return ratio

    def _burst_candidates(
        self,
        mono: FloatArray,
        resid: tuple[FloatArray, FloatArray, FloatArray] | None = None,
        ratio: FloatArray | None = None,
    ) -> list[tuple[int, int]]:
        """Keyboard-burst spans ``(b0, b1)`` (window indices) in ``mono`` (``(n,)``).

        ``resid`` is ``mono``'s forward and backward residual and their 5 ms medians when
        already computed (:meth:`_residual`).

        A keyboard click is 5-30 ms of decaying broadband noise: the AR residual rises and
        stays up in both time directions, instead of spiking once. Over a 5 ms window the
        forward residual's energy (window after each sample) and the backward one's (window
        before it) must both reach ``(_BURST_RATIO * detection_mult * scale) ** 2``, where
        ``scale`` is the residual's robust RMS (1.4826 x median absolute value per 5 ms, median
        of ``_BURST_SCALE_N`` sub-frames, so a burst does not lift its own scale). Kept: spans
        from ``_LSAR_MAX_S`` to three ``click_len`` long whose residual energy is at least
        ``_BURST_ABOVE`` times the louder of the 20 ms either side, and that are sustained (no
        sample carries ``_BURST_PEAK_SHARE`` of the energy of the windows over the span), or whose
        part after its largest sample and the strike length ``_STRUCK_S`` is (a struck burst: the
        span then starts at that sample). A span that fails these tests is searched again at the
        stricter bars of :func:`_stricter_bars`.
        """
        if resid is None:
            res, back, _, sub_all, _ = self._residual(mono)
        else:
            res, back, sub_all = resid
        n = res.size
        if ratio is None:
            ratio = self._burst_ratio(res, back, sub_all)
        if ratio is None:
            return []
        win = max(2, round(_BURST_WIN_S * self.sr))
        bars = [b * b for b in self._bars]  # the ratio is of energies
        out: list[tuple[int, int]] = []
        ctx = self._bctx
        todo = [(0, n, 0)]  # (lo, hi, rung): search ratio[lo:hi] over bars[rung]
        while todo:
            lo, hi, rung = todo.pop()
            over = lo + np.flatnonzero(ratio[lo:hi] > bars[rung])
            if over.size == 0:
                continue
            breaks = np.flatnonzero(np.diff(over) > self._merge)
            firsts, lasts = np.concatenate([[0], breaks + 1]), np.concatenate([breaks, [over.size - 1]])
            for fi, la in zip(firsts, lasts, strict=True):
                b0, b1 = int(over[fi]), int(over[la]) + win  # the forward window of the last sample
                b1 = min(b1, n)
                if b1 - b0 < self._lsar_max:
                    continue  # a stricter bar only shortens it
                ok = b1 - b0 <= self._max_burst and b0 - ctx >= 0 and b1 + ctx <= n
                if ok:
                    inside = res[b0:b1] ** 2
                    e_in = float(inside.mean())
                    e_nb = max(float(np.mean(res[b0 - ctx : b0] ** 2)), float(np.mean(res[b1 : b1 + ctx] ** 2)))
                    # one sample carrying the windows' energy is a click, not a burst
                    ok = e_in >= _BURST_ABOVE * e_nb and float(inside.max()) <= _BURST_PEAK_SHARE * win * e_in
                    if not ok and e_in >= _BURST_ABOVE * e_nb:
                        # unless a sustained tail follows it: a struck burst, from its strike on
                        strike = int(np.argmax(inside))
                        tail = inside[strike + self._struck_len + self._pad :]
                        if tail.size >= self._lsar_max:
                            e_t = float(tail.mean())
                            ok = e_t >= _BURST_ABOVE * e_nb and float(tail.max()) <= _BURST_PEAK_SHARE * win * e_t
                            # a strike that steps to silence is a note cut off (its residual rings on for
                            # the model's order, and the next note may follow within the span)
                            s0 = b0 + strike
                            ok = ok and not self._steps_to_silence(mono, s0, s0 + self._struck_len)
                            b0 = s0 if ok else b0
                if ok:
                    out.append((b0, b1))
                elif rung + 1 < len(bars):  # what a larger detection_mult would find inside it
                    todo.append((b0, int(over[la]) + 1, rung + 1))
        return sorted(out)

    def _groups_at(
        self, mag: FloatArray, bmag: FloatArray, thr: FloatArray, lo: int, hi: int, bar: float, *, weak: bool
    ) -> list[tuple[int, int, int, bool, bool]]:
        """:meth:`_groups` of ``[lo, hi)`` (window indices) at ``bar`` times ``thr``, in window indices."""
        t = thr[lo:hi] * bar
        inner = self._groups(mag[lo:hi] > t, bmag[lo:hi] > t, mag[lo:hi], bmag[lo:hi], t, weak=weak, ladder=False)
        return [(lo + a, lo + b, lo + pk, two, wk) for a, b, pk, two, wk in inner]

    def _regroup(
        self, mag: FloatArray, bmag: FloatArray, thr: FloatArray, c0: int, c1: int, rung: int
    ) -> list[tuple[int, tuple[int, int, int, bool, bool]]]:
        """The events a stricter bar than ``rung`` makes of ``[c0, c1)`` (window indices), with that bar's rung.

        ``mag``, ``bmag`` and ``thr`` are as for :meth:`_groups`. The first bar of ``_bars`` (see
        :func:`_stricter_bars`) past ``rung`` at which the exceedances within ``_MERGE_S`` of the
        event group differently from ``[c0, c1)`` gives the events; none when no bar does.
        """
        lo, hi = max(0, c0 - self._merge), min(mag.size, c1 + self._merge)
        for r in range(rung + 1, len(self._bars)):
            inner = self._groups_at(mag, bmag, thr, lo, hi, self._bars[r], weak=False)
            if inner and [(a, b) for a, b, *_ in inner] != [(c0, c1)]:
                return [(r, event) for event in inner]
        return []

    def _bursts(
        self,
        w: Audio,
        seg_lo: int,
        seg_hi: int,
        stream_off: int,
        start: int,
        done: list[tuple[int, int]],
        found: list[ClickEvent],
        resid: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None,
    ) -> None:
        """Find keyboard bursts with onset in ``w[:, seg_lo:seg_hi]`` after the impulsive passes; clamp them.

        ``resid`` is the last detection pass's residuals, 5 ms medians and AR coefficients
        (:meth:`_residual`) when they still describe ``w``. The candidates are those of the
        residuals (:meth:`_burst_candidates`) and then those of the cross-model residuals
        (:meth:`_cross_residual`) where the own-model residuals reached between
        ``_CROSS_MIN_RATIO`` of the burst bar and the bar itself (a burst its own model
        half-predicted; where the own-model test already passed, its verdict stands).

        Judged on the signal with its impulsive clicks already repaired (a click inside a burst
        would otherwise dominate it). A candidate (:meth:`_burst_candidates`) is left alone when
        it overlaps a span already repaired, when the level steps to silence after it, or when
        the spectral clamp would remove less than ``_BURST_MIN_REMOVED`` of its energy (nothing
        in it stands above its neighbourhoods: sound), or when the level rises after it (an
        onset, :meth:`_level_rises`), measured from ``_BURST_ONSET_AFTER_S`` past its onset or from
        its end, whichever is later (three times the default ``click_len``, the longest burst it
        follows; fixed, so that a larger ``click_len`` never spares a burst a smaller one
        repairs): a key's own decaying tail lifts the 10 ms right after the span
        (that window spared 27 keyboard bursts on the dev corpus, 10 ms past the span 29, this
        one 23), while the voicing after a plosive release goes on (without the test a rough
        synthetic voice at 8 kHz loses 10 dB to clamped plosives).
        """
        mono = w.mean(axis=0).astype(np.float64) if self.channels > 1 else w[0].astype(np.float64)
        last = self._n_in - self._frame - stream_off
        if resid is None:
            res, back, _, sub, coefs = self._residual(mono)
        else:
            res, back, sub, coefs = resid
        ratio = self._burst_ratio(res, back, sub)
        cands = self._burst_candidates(mono, (res, back, sub), ratio)
        # the cross-model search only where some own-model margin is in the bar's range
        if _CROSS_SHIFT and ratio is not None and np.any((ratio >= _CROSS_MIN_RATIO) & (ratio < 1.0)):
            for b0, b1 in self._burst_candidates(mono, self._cross_residual(mono, coefs)):
                if _CROSS_MIN_RATIO <= float(ratio[b0:b1].max()) < 1.0:
                    cands.append((b0, b1))
        for b0, b1 in cands:
            a0, a1 = max(self._p, b0 - self._pad), b1 + self._pad
            if a0 < seg_lo or a0 >= seg_hi or stream_off + a0 < max(start, self._frame) or a1 > last:
                continue
            if any(a0 < e and s < a1 for s, e in done):
                continue
            # the onset test, past the longest burst: a key's tail has decayed by then, the
            # voicing after a plosive release has not
            rises = self._level_rises(mono, a0, max(a1, a0 + self._onset_after)) and not self._struck(res, a0)
            if rises or self._steps_to_silence(mono, a0, a1):
                self._note(stream_off, a0, a1, "burst-guard")
                continue
            lo = max(0, a0 - self._bctx - 2 * self._bf)  # the clamp reads at most this far out
            hi = min(w.shape[-1], a1 + self._bctx + 2 * self._bf)
            trial = w[:, lo:hi].copy()
            self._attenuate(trial, a0 - lo, a1 - lo)
            e0 = float(np.sum(w[:, a0:a1].astype(np.float64) ** 2))
            e1 = float(np.sum(trial[:, a0 - lo : a1 - lo].astype(np.float64) ** 2))
            if e0 <= 0.0 or e1 > (1.0 - _BURST_MIN_REMOVED) * e0:
                self._note(stream_off, a0, a1, "burst-kept")
                continue
            w[:, lo:hi] = trial
            self._n_found += 1
            self._n_atten += 1
            self._longest = max(self._longest, a1 - a0)
            done.append((a0, a1))
            if self.keep_events:
                found.append(ClickEvent((stream_off + a0) / self.sr, (a1 - a0) / self.sr, "attenuated"))

    def _note(self, stream_off: int, c0: int, c1: int, verdict: str) -> None:
        """Record a spared candidate in ``_trace`` when a bench asked for it."""
        if self._trace is not None:
            self._trace.append((stream_off + c0, stream_off + c1, verdict))

    # ------------------------------------------------------------------ repair

    def _interpolate(self, w: Audio, a0: int, a1: int, order: int | None = None) -> None:
        """LSAR-interpolate ``w[:, a0:a1]`` per channel: order ``p``, or ``order`` fitted by :func:`_ar_fit_sides`."""
        ctx = self._lsar_ctx
        for c in range(self.channels):
            x = w[c].astype(np.float64)
            left, right = x[max(0, a0 - ctx) : a0], x[a1 : a1 + ctx]
            a = _ar_fit(np.concatenate([left, right]), self._p) if order is None else _ar_fit_sides(left, right, order)
            w[c, a0:a1] = _lsar(x, a0, a1, a).astype(np.float32)

    def _attenuate(self, w: Audio, a0: int, a1: int) -> None:
        """Clamp each 4 ms STFT bin over ``[a0, a1)`` to the louder of its two neighbourhoods."""
        nf = self._bf
        hop = nf // 2
        win = np.sqrt(np.hanning(nf + 1)[:nf])  # sqrt-Hann, 50 % overlap: perfect reconstruction
        lo = max(0, a0 - self._bctx - nf)
        hi = min(w.shape[-1], a1 + self._bctx + nf)
        n_fr = (hi - lo - nf) // hop + 1
        if n_fr < 3:
            return
        starts = lo + hop * np.arange(n_fr)
        idx = starts[:, None] + np.arange(nf)[None, :]
        spec = np.fft.rfft(w[:, idx].astype(np.float64) * win, axis=-1)  # (channels, frames, bins)
        power = np.mean(np.abs(spec) ** 2, axis=0)
        inside = (starts + nf > a0) & (starts < a1)
        left = starts + nf <= a0
        right = starts >= a1
        if not inside.any() or not left.any() or not right.any():
            return
        ref = np.maximum(power[left].mean(axis=0), power[right].mean(axis=0))
        gain = np.ones_like(power)
        gain[inside] = np.minimum(1.0, np.sqrt((ref + 1e-20) / (power[inside] + 1e-20)))
        out = np.zeros((self.channels, hi - lo))
        frames = np.fft.irfft(spec * gain, n=nf, axis=-1) * win
        for j, s in enumerate(starts):
            out[:, s - lo : s - lo + nf] += frames[:, j]
        # only frames whose gain moved are rewritten; their overlap-add is exact elsewhere
        touched = np.flatnonzero(inside)
        s0 = int(starts[touched[0]]) + hop
        s1 = int(starts[touched[-1]]) + nf - hop
        w[:, s0:s1] = out[:, s0 - lo : s1 - lo].astype(np.float32)

    def _segment(self, w: Audio, seg_lo: int, seg_hi: int, stream_off: int) -> None:
        """Detect events with onset in ``w[:, seg_lo:seg_hi]`` and repair them in place.

        Detection and repair alternate for up to ``_PASSES`` passes: a click next to a louder
        one fails the isolation guard until the louder one is repaired, and the AR models of the
        next pass are fitted on the repaired signal (detection and AR estimation iterated, as
        Godsill & Rayner 1998, ch. 5, suggest), then the burst search, then one pass more with the
        longer models of :meth:`_tonal_residual` where frames are tonal. Counters of spared events
        come from the last pass of the base order.
        """
        start = self._done_until
        done: list[tuple[int, int]] = []
        found: list[ClickEvent] = []
        spared = np.zeros(4, np.int64)
        fresh = False  # the last pass's residuals still describe w (it repaired nothing)
        for _ in range(_PASSES):
            spared[:] = 0
            if self._detect(w, seg_lo, seg_hi, stream_off, start, done, found, spared) == 0:
                fresh = True
                break
        n_done = len(done)
        self._bursts(w, seg_lo, seg_hi, stream_off, start, done, found, self._last_res if fresh else None)
        # a last pass where the frames are tonal, with the longer models of _tonal_residual (after
        # the bursts: a key's onset is clamped with the key, not interpolated alone)
        base = self._base_fit if len(done) == n_done else None  # the bursts' own fit when they refitted
        self._detect(w, seg_lo, seg_hi, stream_off, start, done, found, np.zeros(4, np.int64), tonal=True, base=base)
        if self.channels == 2:
            self._detect(w, seg_lo, seg_hi, stream_off, start, done, found, np.zeros(4, np.int64), side=True)
        self._n_one_sided += int(spared[0])
        self._n_not_isolated += int(spared[1])
        self._n_guarded += int(spared[2])
        self._n_onsets += int(spared[3])
        if done:
            self._done_until = max(self._done_until, stream_off + max(e for _, e in done))
        if self.keep_events:
            self.events.extend(sorted(found, key=lambda e: e.onset_s))

    def _detect(
        self,
        w: Audio,
        seg_lo: int,
        seg_hi: int,
        stream_off: int,
        start: int,
        done: list[tuple[int, int]],
        found: list[ClickEvent],
        spared: npt.NDArray[np.int64],
        *,
        tonal: bool = False,
        base: tuple[FloatArray, FloatArray] | None = None,
        side: bool = False,
    ) -> int:
        """One detection pass; repairs in place, appends to ``done`` and ``found``; returns the repairs made.

        ``start`` is the stream index before which events belong to the previous segment;
        ``done`` holds the spans already repaired in this segment (window indices); ``spared``
        counts one-sided, not isolated, pitch-synchronous and onset events. ``tonal`` takes the
        residual of :meth:`_tonal_residual` (nothing is done when no frame is tonal), from the
        frame lags and models ``base`` when they were taken on ``w`` as it is. ``side`` runs on
        the half difference of two channels (the side pass, module notes): full-rate candidates
        only, the threshold floored at the mid's, events judged only where :meth:`_in_side`.
        """
        if side:
            mono = 0.5 * (w[0].astype(np.float64) - w[1])
            if not np.any(np.abs(mono) > _SCALE_FLOOR):
                return 0  # the channels are one: nothing is in antiphase
        else:
            mono = w.mean(axis=0).astype(np.float64) if self.channels > 1 else w[0].astype(np.float64)
        tonal_frames = None
        if side:
            res, back, scale, sub, coefs = self._residual(mono, self._frame, self._p)  # the base order, no tonal lags
            if self._mid_scale is not None and self._mid_scale.size == scale.size:
                scale = np.maximum(scale, self._mid_scale)
        elif tonal:
            got = self._tonal_residual(mono, base)
            if got is None:
                return 0
            (res, back, scale, sub, coefs), tonal_frames = got
        else:
            res, back, scale, sub, coefs = self._residual(mono)
            self._last_res = (res, back, sub, coefs)  # for the burst search (base order)
            if self.channels == 2:  # the side pass's floor and reference
                self._mid_scale, self._mid_mag = scale, np.abs(res)
        mag = np.abs(res)
        thr = self.detection_mult * scale
        bmag = np.abs(back)
        cands: list[tuple[int, int, int, bool, bool | None]] = list(
            self._groups(mag > thr, bmag > thr, mag, bmag, thr, weak=False)
        )
        if _WEAK_RATIO < 1.0:
            lo_thr = _WEAK_RATIO * thr
            fwd_lo, bwd_lo = mag > lo_thr, bmag > lo_thr
            weak = self._groups(fwd_lo, bwd_lo, mag, bmag, lo_thr, weak=True)
            cands += [c for c in weak if c[3] and not any(s < c[1] and c[0] < e for s, e, *_ in cands)]
        pops: list[tuple[int, int, int, bool, bool | None]] = []
        fallback: list[tuple[int, int, int, bool, bool | None]] = []
        if tonal_frames is not None:
            # the tonal pass: the full-rate events of the tonal frames only (the coarse scales and
            # the bump search ran in the base passes)
            cands = [c for c in cands if tonal_frames[c[0] // self._frame]]
            if not cands:
                return 0
        elif not side:
            pops, fallback = self._coarse_candidates(mono, [(c[0], c[1]) for c in cands])
        cands += pops
        n_first = len(cands)
        cands += fallback  # tried after those, on spans the two-sided, pitch or onset guard spared
        n_fallback = len(cands)
        if tonal_frames is None and not side:
            # last: bumps no other candidate repaired
            cands += self._bump_candidates(mono, res, coefs, scale, mag, seg_lo, seg_hi)
        if not cands:
            return 0
        n_rep = 0
        hp = np.diff(mono, prepend=mono[:1])
        env: FloatArray | None = None  # hp's 1 ms energy, a moving mean from rest: taken when first needed
        # the last 20 ms of the stream are never repaired (in the flush the window is zero-padded)
        last = self._n_in - self._frame - stream_off
        guarded: list[tuple[int, int]] = []  # spans the two-sided, pitch or onset guard spared in this pass
        rungs: dict[int, int] = {}
        for k, (c0, c1, peak_i, two_sided, is_weak) in enumerate(cands):
            onset_stream = stream_off + c0
            if c0 < seg_lo or c0 >= seg_hi or onset_stream < max(start, self._frame):
                continue
            is_fallback = n_first <= k < n_fallback
            if is_fallback and not any(s < c1 and c0 < e for s, e in guarded):
                continue
            if any(c0 < e and s < c1 + self._pad for s, e in done):
                continue
            core = c1 - c0
            if core > self._max_core:
                self._note(stream_off, c0, c1, "long")
                continue
            if side and not self._in_side(mag, c0, c1):
                self._note(stream_off, c0, c1, "in-mid")
                continue
            if not two_sided:
                spared[0] += 1
                self._note(stream_off, c0, c1, "one-sided")
                guarded.append((c0, c1))
                continue
            if is_weak:
                kept = self._recheck(mono, c0, c1) if c1 - c0 + 2 * self._pad <= self._lsar_max else None
                if kept is None or kept > _RECHECK_WEAK:
                    self._note(stream_off, c0, c1, "weak")
                    continue
            elif is_weak is not None and not self._isolated(mag, c0, c1, peak_i, mono):
                spared[1] += 1
                self._note(stream_off, c0, c1, "not-isolated")
                # what a larger detection_mult makes of it is judged again, after the others
                for sub_rung, event in self._regroup(mag, bmag, thr, c0, c1, rungs.get(k, 0)):
                    rungs[len(cands)] = sub_rung
                    cands.append(event)
                continue
            pulses = self._pitch_synchronous(mag, peak_i)  # residual peaks a pitch period either side
            if (
                pulses and c0 not in self._tonal_pops and self._periodic(hp, max(0, c0 - self._pad), c1 + self._pad)
            ):  # a periodic waveform (a synthesiser's pulse or edge): no re-check overrules it
                spared[2] += 1
                guarded.append((c0, c1))
                self._note(stream_off, c0, c1, "periodic")
                continue
            pop_kept = self._pop_kept_at.get(c0, 1.0)
            if (
                is_weak is None
                and c0 not in self._tonal_pops  # judged for pitch at its own scale, where the notes are whitened
                and pulses
                and pop_kept > (_RECHECK_WIDE if is_fallback else _RECHECK_PITCH)
                and self._repeats_once(hp, max(0, c0 - self._pad), c1 + self._pad)
            ):
                spared[2] += 1
                guarded.append((c0, c1))
                self._note(stream_off, c0, c1, "pitch")
                continue
            if (
                is_weak is not None
                and pulses
                and not ((kept := self._recheck(mono, c0, c1)) is not None and kept <= _RECHECK_PITCH)
                and self._repeats_once(hp, max(0, c0 - self._pad), c1 + self._pad)
            ):
                spared[2] += 1
                guarded.append((c0, c1))
                self._note(stream_off, c0, c1, "pitch")
                continue
            a0 = max(self._p, c0 - self._pad)
            a1 = c1 + self._pad
            if a1 > last:
                continue
            if tonal_frames is not None and a1 - a0 > self._tonal_max:
                self._note(stream_off, c0, c1, "tonal-long")
                # what a larger detection_mult makes of it is judged again (monotonic parameters)
                for sub_rung, event in self._regroup(mag, bmag, thr, c0, c1, rungs.get(k, 0)):
                    rungs[len(cands)] = sub_rung
                    cands.append(event)
                continue
            if self._steps_to_silence(mono, a0, a1):
                self._note(stream_off, c0, c1, "to-silence")
                continue
            if env is None:
                env = np.convolve(hp**2, np.full(self._merge, 1.0 / self._merge))[: hp.size]
            end = self._burst_end(env, a0, a1)
            if end is not None and end - a0 > self._lsar_max:
                if c0 in self._crowded:  # its re-check judged an interpolation, not a clamp
                    self._note(stream_off, c0, c1, "crowded")
                    continue
                if end > last or any(a0 < e and s < end for s, e in done):
                    continue  # (a burst running into a span already repaired was repaired with it)
                if self._level_rises(mono, a0, end):
                    spared[3] += 1
                    self._note(stream_off, c0, c1, "level-rise")
                    continue
                if self._repeats(hp, a0, end):
                    spared[2] += 1
                    self._note(stream_off, c0, c1, "periodic")
                    continue
                a1 = end
                self._attenuate(w, a0, a1)
                method = "attenuated"
                self._n_atten += 1
            elif a1 - a0 <= self._lsar_max and a1 + self._lsar_ctx <= w.shape[-1]:
                if self._is_onset(hp, c0, c1) and not self._onset_yields(mag, mono, c0, c1, peak_i):
                    spared[3] += 1
                    guarded.append((c0, c1))
                    self._note(stream_off, c0, c1, "onset")
                    continue
                # a refined bump is interpolated with the longer model its re-check judged
                self._interpolate(w, a0, a1, self._refined_order if c0 in self._refined else None)
                method = "interpolated"
                self._n_interp += 1
            else:
                self._note(stream_off, c0, c1, "mid-length")
                continue
            self._n_found += 1
            self._longest = max(self._longest, a1 - a0)
            done.append((a0, a1))
            n_rep += 1
            if self.keep_events:
                found.append(ClickEvent((stream_off + a0) / self.sr, (a1 - a0) / self.sr, method))
        return n_rep

    # ------------------------------------------------------------------ stream

    def _run(self, final: bool) -> Audio:
        outs = []
        while True:
            pending = self._buf.shape[-1] - self._hist
            if pending >= self._seg + self._look or (final and pending > 0):
                n = min(self._seg, pending)
                span = self._hist + self._seg + self._look
                w = self._buf[:, :span]  # a view: repairs land in the buffer
                if w.shape[-1] < span:
                    w = np.concatenate([w, np.zeros((self.channels, span - w.shape[-1]), np.float32)], -1)
                self._segment(w, self._hist, self._hist + n, self._pos - self._hist)
                if not np.shares_memory(w, self._buf):
                    self._buf[:, self._hist :] = w[:, self._hist : self._buf.shape[-1]]
                outs.append(self._buf[:, self._hist : self._hist + n].copy())
                self._buf = self._buf[:, n:]
                self._pos += n
            else:
                break
        if not outs:
            return np.zeros((self.channels, 0), np.float32)
        return np.ascontiguousarray(np.concatenate(outs, axis=-1))

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples now final.

        Raises :class:`~dsp.errors.InvalidParameterError` after :meth:`flush`.
        """
        if self._flushed:
            raise InvalidParameterError("process() called after flush(): make a new ClickRepairer for more audio")
        x = check_block(block, self.channels)
        self._n_in += x.shape[-1]
        self._buf = np.concatenate([self._buf, x], axis=-1)
        return self._run(final=False)

    def flush(self) -> Audio:
        """Return every sample still held back; the processor is finished afterwards."""
        self._flushed = True
        return self._run(final=True)

    def report(self) -> dict[str, Any]:
        """Step name, parameters, clicks found / interpolated / attenuated, longest, rate per minute.

        With no click found, ``not_applied`` says so (the output is then the input, sample for sample).
        """
        minutes = self._n_in / self.sr / 60.0
        return {
            "step": "declick",
            "detection_mult": self.detection_mult,
            "click_len_ms": self.click_len_ms,
            "clicks_found": self._n_found,
            "interpolated": self._n_interp,
            "attenuated": self._n_atten,
            "pitch_pulses_spared": self._n_guarded,
            "onsets_spared": self._n_onsets,
            "one_sided_spared": self._n_one_sided,
            "not_isolated_spared": self._n_not_isolated,
            "longest_ms": round(1000.0 * self._longest / self.sr, 2),
            "clicks_per_minute": round(self._n_found / minutes, 2) if minutes > 0 else 0.0,
            **({} if self._n_found else {"not_applied": "no clicks found: the audio is unchanged"}),
        }


def repair_clicks(audio: Audio, sr: int, *, detection_mult: float = 8.0, click_len_ms: float = 10.0) -> Audio:
    """Repair clicks: whole-signal form of :class:`ClickRepairer`.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, ``n >= 1``.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    detection_mult : float
        Residual threshold in multiples of its robust local scale, in [6, 10].
    click_len_ms : float
        Longest event treated as a click, in ms in [5, 30].

    Returns
    -------
    ndarray, float32
        Same shape and length as ``audio``, aligned with it.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    Examples
    --------
    >>> x = np.zeros(4000, np.float32)
    >>> repair_clicks(x, 16000).shape
    (4000,)
    """
    audio = valid_audio(audio)
    proc = ClickRepairer(sr, as_2d(audio).shape[0], detection_mult=detection_mult, click_len_ms=click_len_ms)
    return run_processor(proc, audio)
