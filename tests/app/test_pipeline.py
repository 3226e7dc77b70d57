"""The streaming pipeline end to end on a file: the speech detector's pass before the denoiser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import media
from app.errors import InvalidParameterError
from app.jobs import pipeline
from app.jobs.models import OutputSpec, Step
from app.jobs.pipeline import PREPASS_SHARE, process_file
from app.jobs.steps import check_steps
from tests.app._media_fixtures import make_video_file
from tests.signals import make_hum, make_speech_like

SR = 16000


def test_denoise_gates_what_the_speech_pass_found_no_speech_in(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    speech = make_speech_like(rng, SR, 6.0, lead_silence_s=2.0)[0]
    clatter = np.zeros(speech.size)
    for i in range(int(0.1 * SR), int(1.6 * SR), int(0.25 * SR)):  # dishes: bursts with no pitch
        m = int(0.03 * SR)
        clatter[i : i + m] = 0.03 * rng.standard_normal(m) * np.exp(-np.arange(m) / (0.006 * SR))
    x = (speech + clatter).astype(np.float32)
    src = tmp_path / "in.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    info = media.probe(src)
    seen: list[float] = []
    res = process_file(
        src,
        info,
        [Step(name="denoise")],
        OutputSpec(container="wav"),
        tmp_path,
        progress=seen.append,
        block_seconds=0.5,
    )
    assert res.path is not None
    y, sr = sf.read(res.path, dtype="float32")
    assert sr == SR
    assert y.shape == x.shape
    rep = res.reports[0]
    assert rep["step"] == "denoise"
    gate = rep["speech_gate"]
    assert gate["applied"] is True
    assert gate["depth_db"] == 30.0
    assert gate["speech_segments"] >= 1
    lead = slice(int(0.2 * SR), int(1.0 * SR))
    assert 20 * np.log10(np.std(x[lead]) / np.std(y[lead])) > 25.0
    # progress: the speech pass fills the first tenth, then the denoiser; never backwards
    assert seen == sorted(seen)
    assert any(0 < p <= PREPASS_SHARE * 100 for p in seen)
    assert seen[-1] == 100.0


def test_a_lossy_input_keeps_its_bit_rate_through_a_lossy_output(tmp_path: Path) -> None:
    """A 128 kbit/s MP3 at 16 kHz came back at the format's default 32 kbit/s: a re-encode must
    not throw away quality the input had (up to the format's limit: MPEG-2 Layer III, 160)."""
    rng = np.random.default_rng(8)
    x = make_speech_like(rng, SR, 3.0)[0].astype(np.float32)
    with media.AudioWriter(tmp_path / "in.mp3", "mp3", SR, 1, bit_rate=128_000) as w:
        w.write(x[None, :])
    src = tmp_path / "in.mp3"
    info = media.probe(src)
    assert info.bit_rate == 128_000
    for steps in ([Step(name="denoise")], [Step(name="denoise"), Step(name="loudness")]):  # one pass, and two
        work = tmp_path / str(len(steps))
        work.mkdir()
        res = process_file(src, info, steps, OutputSpec(container="mp3"), work, block_seconds=1.0)
        assert res.path is not None
        assert media.probe(res.path).bit_rate == 128_000


def test_process_file_reports_a_cut_off_input_once(tmp_path: Path) -> None:
    """The speech pass and the chain both decode the input; its warning is in the result once."""
    rng = np.random.default_rng(3)
    x = make_speech_like(rng, SR, 3.0)[0]
    whole = tmp_path / "whole.wav"
    sf.write(whole, x, SR, subtype="PCM_16")
    data = whole.read_bytes()
    src = tmp_path / "cut.wav"
    src.write_bytes(data[: len(data) - 2 * SR * 2])
    res = process_file(src, media.probe(src), [Step(name="denoise")], OutputSpec(container="wav"), tmp_path)
    assert res.data["warnings"] == [
        "The WAV file may be truncated: its header declares 3.000 s of audio but only 1.000 s is present; "
        "the audio present was processed (send or export the complete file if the end is missing)"
    ]
    assert res.data["duration_s"] == 1.0


def test_denoise_channels_each_takes_each_microphone_alone(tmp_path: Path) -> None:
    # an interview on two microphones: a clean voice left, a noisy room right
    rng = np.random.default_rng(3)
    speech = make_speech_like(rng, SR, 4.0)[0]
    x = np.stack([speech + 0.003 * rng.standard_normal(speech.size), 0.1 * rng.standard_normal(speech.size)])
    src = tmp_path / "in.wav"
    sf.write(src, x.T.astype(np.float32), SR, subtype="FLOAT")
    out = {}
    for mode in ("linked", "each"):
        (tmp_path / mode).mkdir()
        res = process_file(
            src,
            media.probe(src),
            [Step(name="denoise", params={"channels": mode})],
            OutputSpec(container="wav"),
            tmp_path / mode,
        )
        assert res.path is not None
        out[mode] = sf.read(res.path, dtype="float32")[0].T
        assert out[mode].shape == x.shape
        if mode == "each":
            assert res.reports[0]["channels_processed"] == "each channel separately"
            assert len(res.reports[0]["per_channel"]) == 2

    def err_db(y: np.ndarray) -> float:
        return float(10 * np.log10(np.sum((y - speech) ** 2) / np.sum(speech**2)))

    assert err_db(out["each"][0]) < err_db(out["linked"][0]) - 6.0
    with pytest.raises(InvalidParameterError, match="channels must be 'linked' or 'each'"):
        check_steps([Step(name="denoise", params={"channels": "both"})])


def test_check_steps_names_the_parameter_the_client_sent() -> None:
    """The declick step's ``click_len`` is ``click_len_ms`` inside: an error names the step's."""
    with pytest.raises(InvalidParameterError) as caught:
        check_steps([Step(name="declick", params={"click_len": 40})])
    assert caught.value.message == "step 'declick': click_len must be in [5.0, 30.0], got 40.0"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"target_lufs": 5.0}, "step 'loudness': target_lufs must be in [-70.0, 0.0], got 5.0"),
        ({"max_peak_dbfs": 2.0}, "step 'loudness': max_peak_dbfs must be in [-20.0, 0.0], got 2.0"),
    ],
)
def test_check_steps_refuses_loudness_targets_out_of_range_at_submit(params: dict[str, float], says: str) -> None:
    # the targets apply only once the whole recording is measured: before, a bad one was found there,
    # after every other step had run, and the job failed instead of the request
    with pytest.raises(InvalidParameterError) as caught:
        check_steps([Step(name="denoise"), Step(name="loudness", params=params)])
    assert caught.value.message == says
    check_steps([Step(name="loudness", params={"target_lufs": -23.0, "max_peak_dbfs": -2.0})])


def test_a_lossy_input_nothing_was_done_to_comes_back_as_it_was(tmp_path: Path) -> None:
    # re-encoding it would lose a generation for nothing (an outside audit measured 21 dB SNR)
    rng = np.random.default_rng(5)
    speech = make_speech_like(rng, SR, 3.0)[0]
    src = tmp_path / "dry.mp3"
    sf.write(src, speech.astype(np.float32), SR, format="MP3")
    info = media.probe(src)
    assert info.bit_rate is not None
    res = process_file(src, info, [Step(name="remove_echo")], OutputSpec(), tmp_path)
    assert res.reports[0].get("not_applied")  # a dry voice has no discrete echo
    assert res.path is not None
    assert res.path.read_bytes() == src.read_bytes()
    # nor when no step was asked for (AudioCleaner's flags without an engine)
    res = process_file(src, info, [], OutputSpec(), tmp_path)
    assert res.path is not None
    assert res.path.read_bytes() == src.read_bytes()
    # a step that changes the audio is encoded afresh
    res = process_file(src, info, [Step(name="denoise")], OutputSpec(), tmp_path)
    assert res.path is not None
    assert res.path.read_bytes() != src.read_bytes()


def test_every_step_report_says_applied_and_idle_steps_leave_a_lossy_input_as_it_was(tmp_path: Path) -> None:
    # a compressor with nothing over its threshold, a de-esser with nothing to cut and a hum
    # remover with no hum reported no not_applied (dehum said it in `reason`), so an MP3 was
    # encoded afresh for nothing, and `applied` was missing from 9 steps' reports (report audit)
    rng = np.random.default_rng(6)
    speech = 0.1 * make_speech_like(rng, SR, 3.0)[0]
    src = tmp_path / "quiet.mp3"
    sf.write(src, speech.astype(np.float32), SR, format="MP3")
    info = media.probe(src)
    idle = [
        Step(name="dehum"),
        Step(name="compress", params={"threshold_lu": 20.0}),
        Step(name="deess", params={"threshold_db": 0.0, "max_reduction_db": 0.0}),
    ]
    res = process_file(src, info, idle, OutputSpec(), tmp_path)
    assert [r["applied"] for r in res.reports] == [False, False, False], res.reports
    assert all(isinstance(r["not_applied"], str) and r["not_applied"] for r in res.reports), res.reports
    assert res.path is not None
    assert res.path.read_bytes() == src.read_bytes()
    # steps that did something say so in the same word
    res = process_file(
        src, info, [Step(name="denoise"), Step(name="declick"), Step(name="vad")], OutputSpec(), tmp_path
    )
    applied = {r["step"]: r["applied"] for r in res.reports}
    assert applied == {"denoise": True, "declick": False, "vad": True}, res.reports  # (no click in it)


def test_a_video_nothing_was_done_to_comes_back_as_it_was(tmp_path: Path) -> None:
    # its audio re-encoded lost bit rate (69 -> 64 kb/s in an outside audit) for nothing
    src = make_video_file(tmp_path / "clip.mp4", "mp4", duration_s=2.0)
    res = process_file(src, media.probe(src), [Step(name="remove_echo")], OutputSpec(), tmp_path)
    assert res.reports[0].get("not_applied")
    assert res.path is not None
    assert res.path.read_bytes() == src.read_bytes()


@pytest.mark.parametrize(("container", "ceiling"), [("ogg", -2.0), ("mp3", -2.0), ("wav", -1.0)])
def test_loudness_leaves_a_lossy_encoder_headroom(tmp_path: Path, container: str, ceiling: float) -> None:
    # Vorbis and Opus outputs of a -1 dBTP limiter read -0.6 / -0.7 dBTP after encoding (an audit)
    from scipy.signal import resample_poly

    rng = np.random.default_rng(9)
    sr = 44100
    x = np.clip(0.3 * rng.standard_normal((2 * sr, 2)), -1, 1).astype(np.float32)  # wideband: peaky
    src = tmp_path / "in.wav"
    sf.write(src, x, sr)
    res = process_file(src, media.probe(src), [Step(name="loudness")], OutputSpec(container=container), tmp_path)
    loud = res.reports[-1]
    assert loud["step"] == "loudness"
    assert loud["limiter"]["ceiling_dbtp"] == ceiling
    assert ("lossy_peak_margin_db" in loud) is (container != "wav")
    if container != "wav":  # the encode itself was measured
        assert loud["encoded_true_peak_dbtp"] <= -1.0 + pipeline.TRUE_PEAK_SLACK_DB
    assert res.path is not None
    y, _ = sf.read(res.path, dtype="float64", always_2d=True)
    assert 20 * np.log10(np.abs(resample_poly(y, 8, 1, axis=0)).max()) <= -1.0


def test_a_lossy_encode_that_reads_over_the_ceiling_is_written_again_lower(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The encoder puts peaks back by an amount that varies from encode to encode (FFmpeg's AAC:
    1 to 3.5 dB on a real voice), so the encode is measured and, when over, written again with the
    limiter lower by the excess: here the first encode is made to read -0.2 dBTP."""
    readings = iter([-0.2, -1.4])
    measured: list[Path] = []

    def encoded_peak(path: Path, block: int, progress: object = None) -> tuple[float, float]:
        measured.append(path)
        return next(readings), -16.0  # on the loudness target: only the peak is over

    monkeypatch.setattr(pipeline, "_encoded_levels", encoded_peak)
    rng = np.random.default_rng(10)
    src = tmp_path / "in.wav"
    sf.write(src, make_speech_like(rng, SR, 2.0)[0].astype(np.float32), SR)
    res = process_file(src, media.probe(src), [Step(name="loudness")], OutputSpec(container="m4a"), tmp_path)
    loud = res.reports[-1]
    assert len(measured) == 2
    lower = 0.8 + pipeline.TRUE_PEAK_RETRY_EXTRA_DB  # the excess over -1 dBTP, and some
    assert loud["limiter"]["ceiling_dbtp"] == pytest.approx(-1.0 - pipeline.LOSSY_PEAK_MARGIN_DB - lower)
    assert loud["lossy_peak_margin_db"] == pytest.approx(pipeline.LOSSY_PEAK_MARGIN_DB + lower)
    assert loud["encoded_true_peak_dbtp"] == -1.4
    assert res.path is not None
    assert media.probe(res.path).container == "m4a"


def test_a_lossy_encode_that_misses_the_loudness_target_is_written_again_at_it(tmp_path: Path) -> None:
    """A constant-bit-rate MP3 encode comes out a quarter of a dB quieter than the audio given to
    it (an audit read -16.3 to -16.5 LUFS for a -16 target): the encode's loudness is measured
    with its peak, and a miss over LOUDNESS_SLACK_LU moves the gain by it once."""
    from dsp.loudness import LoudnessMeter

    rng = np.random.default_rng(12)
    sr = 44_100
    x = np.stack([make_speech_like(rng, sr, 8.0)[0], make_speech_like(rng, sr, 8.0)[0]]).astype(np.float32)
    src = tmp_path / "in.wav"
    sf.write(src, (0.3 * x).T, sr)
    res = process_file(src, media.probe(src), [Step(name="loudness")], OutputSpec(container="mp3"), tmp_path)
    loud = res.reports[-1]
    assert res.path is not None
    info = media.probe(res.path)
    meter = LoudnessMeter(info.sr, info.channels)
    for b in media.decode_blocks(res.path, info, 65536):
        meter.process(b)
    got = meter.finish().integrated_lufs
    assert got == pytest.approx(-16.0, abs=pipeline.LOUDNESS_SLACK_LU)
    assert loud["encoded_loudness_lufs"] == pytest.approx(got, abs=0.01)
    assert loud["encoded_true_peak_dbtp"] <= -1.0 + pipeline.TRUE_PEAK_SLACK_DB


@pytest.mark.parametrize(
    ("sr", "channels", "kbit"), [(16_000, 1, 64), (22_050, 2, 128), (44_100, 2, 128), (8_000, 1, 64)]
)
def test_an_mp3_result_gets_64_kbit_per_channel_within_the_format_ceiling(
    tmp_path: Path, sr: int, channels: int, kbit: int
) -> None:
    # a 16 kHz voice (Wondershare's default output is MP3) was coded at 32 kbit/s
    x = (0.1 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)).astype(np.float32)[None].repeat(channels, axis=0)
    with media.AudioWriter(tmp_path / "o.mp3", "mp3", sr, channels) as w:
        w.write(x)
    assert media.probe(tmp_path / "o.mp3").bit_rate == kbit * 1000


def test_a_lossless_result_reaches_the_loudness_target_and_reports_what_it_reads(tmp_path: Path) -> None:
    # the limiter after the gain left WAV results 0.2-0.6 LU under -16 LUFS, and the report gave
    # no output loudness for a lossless result (report audit)
    from dsp.loudness import measure_loudness

    rng = np.random.default_rng(11)
    speech = make_speech_like(rng, SR, 6.0)[0]
    speech[:: SR // 7] = 0.99  # sparse full-scale spikes: the gain needs the limiter on them
    src = tmp_path / "peaky.wav"
    sf.write(src, speech.astype(np.float32), SR, subtype="FLOAT")
    res = process_file(src, media.probe(src), [Step(name="loudness")], OutputSpec(container="wav"), tmp_path)
    loud = res.reports[-1]
    assert loud["limiter"]["max_reduction_db"] > 1.0, loud  # the limiter did act
    assert res.path is not None
    y, sr = sf.read(res.path, dtype="float32")
    got = measure_loudness(y[None, :] if y.ndim == 1 else y.T, sr).integrated_lufs
    assert loud["output_loudness_lufs"] == pytest.approx(got, abs=0.05)
    assert got == pytest.approx(-16.0, abs=pipeline.LOUDNESS_SLACK_LU), loud
    assert loud["output_true_peak_dbtp"] <= -1.0 + pipeline.TRUE_PEAK_SLACK_DB


def test_a_lossless_alac_input_written_as_aac_says_so(tmp_path: Path) -> None:
    # an ALAC M4A came back as 128 kbit/s AAC with no word about it (odd-files audit)
    from fractions import Fraction

    import av

    src = tmp_path / "master.m4a"
    x = (0.1 * make_speech_like(np.random.default_rng(12), SR, 2.0)[0]).astype(np.float32)
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    with av.open(str(src), "w") as oc:
        st = oc.add_stream("alac", rate=SR)
        st.codec_context.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16p", layout="mono")
        frame.sample_rate, frame.time_base, frame.pts = SR, Fraction(1, SR), 0
        for packet in [*st.encode(frame), *st.encode(None)]:
            oc.mux(packet)
    info = media.probe(src)
    assert info.codec == "alac"
    res = process_file(src, info, [Step(name="denoise")], OutputSpec(), tmp_path)
    assert any("lossless (ALAC)" in w and "wav" in w for w in res.data["warnings"]), res.data
    res = process_file(src, info, [Step(name="denoise")], OutputSpec(container="flac"), tmp_path)
    assert not any("lossless" in w for w in res.data.get("warnings", []))


def test_samples_over_full_scale_that_the_output_cannot_hold_are_counted_in_a_warning(tmp_path: Path) -> None:
    # a float input peaking at +6 dBFS came back as FLAC with 6 % of its samples at full scale and
    # no word (odd-files audit); a float WAV result keeps them
    rng = np.random.default_rng(13)
    x = (2.0 * make_speech_like(rng, SR, 2.0, level_dbfs=-3.0)[0]).astype(np.float32)
    assert np.max(np.abs(x)) > 1.0
    src = tmp_path / "hot.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    info = media.probe(src)
    res = process_file(src, info, [Step(name="declick")], OutputSpec(container="flac"), tmp_path)
    (warning,) = [w for w in res.data.get("warnings", []) if "over full scale" in w]
    assert "ask for wav" in warning
    assert int(warning.split()[0]) > 0
    res = process_file(src, info, [Step(name="declick")], OutputSpec(container="wav"), tmp_path)
    assert not any("over full scale" in w for w in res.data.get("warnings", []))


def test_the_clipping_warning_offers_only_what_the_clients_api_can_do(tmp_path: Path) -> None:
    # a 16-bit WAV near full scale came back from AudioCleaner as a WAV warned "a WAV result cannot
    # hold them; ask for wav", and an OGG one "ask for wav": that API has no output format to ask for
    rng = np.random.default_rng(14)
    x = make_speech_like(rng, SR, 2.0, level_dbfs=-3.0)[0]
    x = np.clip(1.6 * x / np.max(np.abs(x)), -1.0, 1.0).astype(np.float32)  # hard against full scale
    src = tmp_path / "loud.wav"
    sf.write(src, x, SR, subtype="PCM_16")
    info = media.probe(src)
    steps = [Step(name="denoise")]  # its DC blocker and filters overshoot a waveform held at full scale
    hint = "turn on normalize to bring the level down"
    res = process_file(src, info, steps, OutputSpec(offered=(), level_hint=hint), tmp_path)
    (warning,) = [w for w in res.data.get("warnings", []) if "over full scale" in w]
    assert "the WAV result cannot hold" in warning
    assert "ask for" not in warning
    assert warning.endswith(hint)
    res = process_file(src, info, steps, OutputSpec(container="mp3", offered=("mp3", "wav")), tmp_path)
    (warning,) = [w for w in res.data.get("warnings", []) if "over full scale" in w]
    assert "ask for wav" not in warning  # a 16-bit input's WAV result would clip them just the same
    assert warning.endswith("(the input or the processing peaks over 0 dBFS)")


def test_an_mp2_input_is_told_its_result_is_mp3(tmp_path: Path) -> None:
    # MPEG Layer II was read as MP3 and came back as MP3 without a word; the Audo SDK's save() of
    # a ".mp2" name then refused the ".mp3" link (odd-files audit)
    from fractions import Fraction

    import av

    sr = 48_000
    src = tmp_path / "broadcast.mp2"
    x = (0.1 * make_speech_like(np.random.default_rng(14), sr, 2.0)[0]).astype(np.float32)
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    with av.open(str(src), "w", format="mp2") as oc:
        st = oc.add_stream("mp2", rate=sr)
        st.codec_context.layout = "mono"
        for i in range(0, pcm.size, 1152 * 8):
            frame = av.AudioFrame.from_ndarray(pcm[None, i : i + 1152 * 8], format="s16", layout="mono")
            frame.sample_rate, frame.time_base, frame.pts = sr, Fraction(1, sr), i
            for packet in st.encode(frame):
                oc.mux(packet)
        for packet in st.encode(None):
            oc.mux(packet)
    info = media.probe(src)
    assert info.codec == "mp2"
    res = process_file(src, info, [Step(name="denoise")], OutputSpec(), tmp_path)
    assert any("MPEG Layer II (MP2)" in w for w in res.data["warnings"]), res.data


def test_vad_figures_are_rounded(tmp_path: Path) -> None:
    # a segment ended at 36.250062 s and the median SNR read 19.26622200012207 (report audit)
    src = tmp_path / "talk.wav"
    sf.write(src, make_speech_like(np.random.default_rng(15), 11_025, 4.0)[0].astype(np.float32), 11_025)
    res = process_file(src, media.probe(src), [Step(name="vad")], OutputSpec(), tmp_path)
    assert res.data["segments"]
    for t in (t for seg in res.data["segments"] for t in seg):
        assert t == round(t, 3)
    snr = res.reports[0]["speech_snr_db"]
    assert snr == round(snr, 2)


def test_the_vad_reports_the_speechs_snr_not_the_median_over_pauses_too(tmp_path: Path) -> None:
    """``median_snr_db`` was the median over every frame, pauses included: 0.7 dB on a recording
    whose speech stood 15 dB above its pauses, read by a user as the recording's SNR (audit)."""
    rng = np.random.default_rng(4)
    speech = make_speech_like(rng, SR, 12.0, lead_silence_s=1.0)[0]
    speech *= 10 ** (-20 / 20) / np.sqrt(np.mean(speech**2))
    x = np.concatenate([speech, np.zeros(6 * SR)])  # half the file is pause
    noisy = (x + 10 ** (-45 / 20) * rng.standard_normal(x.size)).astype(np.float32)
    src = tmp_path / "talk.wav"
    sf.write(src, noisy, SR, subtype="FLOAT")
    report = process_file(src, media.probe(src), [Step(name="vad")], OutputSpec(), tmp_path).reports[0]
    assert "median_snr_db" not in report
    assert report["speech_snr_db"] > 10.0, report
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(4 * SR, np.float32), SR)
    assert (
        process_file(silent, media.probe(silent), [Step(name="vad")], OutputSpec(), tmp_path).reports[0][
            "speech_snr_db"
        ]
        is None
    )


def test_the_loudness_check_after_writing_advances_the_progress(tmp_path: Path) -> None:
    """The delivered file's measurement after a loudness step reported no progress: on a 2-hour
    recording the bar stood at 98.5 % for 49 s of a 134 s job (an outside audit)."""
    rng = np.random.default_rng(5)
    src = tmp_path / "speech.wav"
    sf.write(src, make_speech_like(rng, SR, 12.0)[0].astype(np.float32), SR, subtype="FLOAT")
    events: list[tuple[str, float]] = []
    stage = ["?"]

    def on_stage(name: str) -> None:
        stage[0] = name
        events.append((name, -1.0))

    res = process_file(
        src,
        media.probe(src),
        [Step(name="loudness")],
        OutputSpec(container="wav"),
        tmp_path,
        progress=lambda pct: events.append((stage[0], pct)),
        block_seconds=1.0,
        on_stage=on_stage,
    )
    assert res.reports[-1]["output_loudness_lufs"] is not None
    stages = [name for name, pct in events if pct < 0]
    assert stages == ["loudness", "loudness", "loudness check"], stages
    checking = [pct for name, pct in events if name == "loudness check" and pct >= 0]
    writing = [pct for name, pct in events if name == "loudness" and pct >= 0]
    assert len(checking) >= 10, checking  # one step per block of the 12 s file
    assert max(writing) < 90.0 < max(checking), (writing[-3:], checking[-3:])
    assert checking[-1] == pytest.approx(100.0)
    done = [pct for _, pct in events if pct >= 0]
    assert done == sorted(done)  # never backwards


def test_dehum_after_denoise_says_denoise_took_the_hum(tmp_path: Path) -> None:
    # denoise notched the hum, then dehum reported "no mains hum was found" on audio that plainly
    # had it, and a user thought the detection failed (audit)
    rng = np.random.default_rng(5)
    n = int(SR * 6.0)
    x = make_speech_like(rng, SR, 6.0)[0][:n] + make_hum(SR, n, level_dbfs=-34.0)
    src = tmp_path / "hum.wav"
    sf.write(src, x.astype(np.float32), SR, subtype="PCM_16")
    res = process_file(src, media.probe(src), [Step(name="denoise"), Step(name="dehum")], OutputSpec(), tmp_path)
    denoise, dehum = (next(r for r in res.reports if r["step"] == s) for s in ("denoise", "dehum"))
    assert denoise["hum_hz"] == pytest.approx(50.0, abs=0.5)
    assert dehum["not_applied"].startswith("the mains hum (50")
    assert "already removed by denoise" in dehum["not_applied"]
    # alone, dehum finds it and notches it
    (tmp_path / "alone").mkdir()
    alone = process_file(src, media.probe(src), [Step(name="dehum")], OutputSpec(), tmp_path / "alone")
    assert next(r for r in alone.reports if r["step"] == "dehum")["applied"] is True


def test_a_second_loudness_write_has_its_own_stage(tmp_path: Path) -> None:
    # an MP3 result's check finds the encode off its target and writes it again: that last
    # stretch ran at 98.5 % with nothing changing, a quarter of a long job (audit)
    rng = np.random.default_rng(1)
    src = tmp_path / "in.wav"
    sf.write(src, (0.3 * make_speech_like(rng, SR, 8.0)[0]).astype(np.float32), SR, subtype="PCM_16")
    stages: list[str] = []
    steps = [Step(name="denoise"), Step(name="loudness")]
    process_file(src, media.probe(src), steps, OutputSpec(container="mp3"), tmp_path, on_stage=stages.append)
    assert stages[-2:] == ["loudness check", "loudness correction"]
    stages.clear()
    (tmp_path / "w").mkdir()
    process_file(src, media.probe(src), steps, OutputSpec(container="wav"), tmp_path / "w", on_stage=stages.append)
    assert stages[-1] == "loudness check"  # a lossless result met its target at once: no second write
