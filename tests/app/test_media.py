"""app.media on real files written by the tests: sniffing, decode/encode round trips, remux."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.errors import (
    CorruptMediaError,
    EmptyInputError,
    InputTooLargeError,
    InvalidParameterError,
    UnsupportedMediaError,
)
from app.media import (
    AudioWriter,
    MediaInfo,
    check_encodable,
    decode_blocks,
    encoded_rate,
    mime_type,
    output_container,
    probe,
    remux_video,
    resample_note,
    sniff_container,
)
from tests.app._media_fixtures import (
    decode_all,
    make_audio_file,
    make_music,
    make_silent_video,
    make_video_file,
    raw_wav_bytes,
    video_packets,
)
from tests.signals import with_wav_data_size

ROOT = Path(__file__).resolve().parents[2]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.shape[-1], b.shape[-1])
    return float(np.corrcoef(a[..., :n].ravel(), b[..., :n].ravel())[0, 1])


def _round_trip(src: Path, dst: Path, container: str) -> MediaInfo:
    info = probe(src)
    with AudioWriter(dst, container, info.sr, info.channels, sample_format=info.sample_format) as w:
        for block in decode_blocks(src, info, 4096):
            w.write(block)
    return info


# container, sr, channels, subtype of the source, codec frame (duration tolerance), min correlation
ROUND_TRIPS = [
    ("wav", 16_000, 1, "PCM_16", 0, None),
    ("wav", 44_100, 2, "PCM_24", 0, None),
    ("wav", 48_000, 2, "FLOAT", 0, None),
    ("flac", 44_100, 2, "PCM_16", 0, None),
    ("flac", 22_050, 1, "PCM_24", 0, None),
    ("mp3", 44_100, 2, None, 1152, 0.98),
    ("mp3", 16_000, 1, None, 1152, 0.98),
    ("ogg", 48_000, 2, None, 960, 0.98),  # Opus
    ("ogg", 16_000, 1, None, 320, 0.98),  # Opus, OpusHead declares 16 kHz
    ("ogg", 44_100, 1, None, 2048, 0.98),  # Vorbis (Opus cannot run at 44.1 kHz)
    ("m4a", 44_100, 2, None, 1024, 0.98),
    ("m4a", 16_000, 1, None, 1024, 0.98),
    ("webm", 48_000, 2, None, 960, 0.98),
    ("webm", 24_000, 1, None, 480, 0.98),
    ("mp4", 48_000, 1, None, 1024, 0.98),
]


@pytest.mark.parametrize(("container", "sr", "channels", "subtype", "frame", "min_corr"), ROUND_TRIPS)
def test_media_round_trip_keeps_rate_channels_duration(
    tmp_path: Path, container: str, sr: int, channels: int, subtype: str | None, frame: int, min_corr: float | None
) -> None:
    x = make_music(sr, 1.5, channels)
    src = make_audio_file(tmp_path / "input.bin", container, x, sr, subtype=subtype)
    decoded, dec_sr = decode_all(src)
    assert decoded.dtype == np.float32
    assert decoded.shape[0] == channels
    assert dec_sr == sr
    assert abs(decoded.shape[1] - x.shape[1]) <= frame

    dst = tmp_path / "output.bin"
    info = _round_trip(src, dst, container)
    out_info = probe(dst)
    again, again_sr = decode_all(dst)
    assert (out_info.sr, out_info.channels) == (sr, channels) == (info.sr, info.channels)
    assert again_sr == sr
    assert again.shape[0] == channels
    assert abs(again.shape[1] - decoded.shape[1]) <= frame
    assert not np.isnan(again).any()
    if min_corr is None:  # lossless: bit exact after one more pass
        assert out_info.sample_format == subtype
        assert again.shape == decoded.shape
        np.testing.assert_array_equal(again, decoded)
        quantum = {"PCM_16": 2.0**-15, "PCM_24": 2.0**-23, "FLOAT": 1e-7}[subtype or "PCM_16"]
        np.testing.assert_allclose(decoded, x, atol=quantum)
    else:
        assert _corr(x, decoded) > min_corr
        assert _corr(x, again) > min_corr


def test_media_wav_float_input_becomes_24_bit_flac(tmp_path: Path) -> None:
    x = make_music(48_000, 0.5, 2)
    src = make_audio_file(tmp_path / "in.wav", "wav", x, 48_000, subtype="FLOAT")
    _round_trip(src, tmp_path / "out.flac", "flac")
    assert probe(tmp_path / "out.flac").sample_format == "PCM_24"


@pytest.mark.parametrize(
    ("sr", "rate"),
    [(96_000, 48_000), (88_200, 44_100), (192_000, 48_000), (64_000, 48_000), (37_800, 44_100), (6_000, 8_000)],
)
def test_media_mp3_at_a_rate_it_cannot_carry_is_written_at_an_mpeg_rate(tmp_path: Path, sr: int, rate: int) -> None:
    """The rate is converted as it is encoded: same length, the tone where it was, nothing of its band lost."""
    assert encoded_rate("mp3", sr) == rate
    t = np.arange(int(1.5 * sr)) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 1000.0 * t), 0.2 * np.sin(2 * np.pi * 2500.0 * t)]).astype(np.float32)
    with AudioWriter(tmp_path / "out.mp3", "mp3", sr, 2) as w:
        for i in range(0, x.shape[1], 4096):  # in blocks, as the pipeline writes
            w.write(x[:, i : i + 4096])
    info = probe(tmp_path / "out.mp3")
    decoded, dec_sr = decode_all(tmp_path / "out.mp3")
    assert (info.sr, dec_sr, decoded.shape[0]) == (rate, rate, 2)
    assert abs(decoded.shape[1] / rate - 1.5) < 0.06  # the encoder's priming and padding aside
    for ch, f in ((0, 1000.0), (1, 2500.0)):
        spec = np.abs(np.fft.rfft(decoded[ch, rate // 4 : rate // 4 + rate // 2]))
        assert abs(np.argmax(spec) * 2 - f) <= 2.0  # 2 Hz bins
        peak_db = 20 * np.log10(np.max(spec) / (rate / 4))
        assert abs(peak_db - 20 * np.log10(0.3 if ch == 0 else 0.2)) < 1.0  # the level kept


def test_media_resample_note_names_formats_that_keep_the_rate() -> None:
    assert resample_note("mp3", 48_000, 2) is None
    assert resample_note("wav", 96_000, 2) is None
    assert resample_note("mp3", 88_200, 2) == (
        "MP3 cannot carry 88200 Hz audio: the output is encoded at 44100 Hz; ask for wav, flac or m4a to keep 88200 Hz"
    )
    assert resample_note("webm", 44_100, 1, offered=("webm",)) == (
        "WEBM cannot carry 44100 Hz audio: the output is encoded at 48000 Hz"
    )


def test_media_webm_at_non_opus_rate_is_written_at_48k(tmp_path: Path) -> None:
    x = make_music(44_100, 1.0, 2)
    dst = make_audio_file(tmp_path / "out.webm", "webm", x, 44_100)
    decoded, sr = decode_all(dst)
    assert sr == 48_000
    assert abs(decoded.shape[1] - 48_000) <= 960


def test_media_opus_asked_by_name_is_opus_at_any_rate(tmp_path: Path) -> None:
    # an Audo client's outputExtension "opus" on a 44.1 kHz file got Ogg Vorbis in a .opus file,
    # which Opus players refuse: "ogg" keeps the rate (Vorbis), "opus" keeps the codec
    x = make_music(44_100, 1.0, 2)
    asked = make_audio_file(tmp_path / "out.opus", "opus", x, 44_100)
    info = probe(asked)
    assert (info.container, info.codec, info.sr) == ("ogg", "opus", 48_000)
    decoded, _ = decode_all(asked)
    assert abs(decoded.shape[1] - 48_000) <= 960
    plain = probe(make_audio_file(tmp_path / "out.ogg", "ogg", x, 44_100))
    assert (plain.container, plain.codec, plain.sr) == ("ogg", "vorbis", 44_100)
    assert resample_note("opus", 44_100, 2) == (
        "OPUS cannot carry 44100 Hz audio: the output is encoded at 48000 Hz; ask for wav, flac or m4a to keep 44100 Hz"
    )


def test_media_writer_clips_and_rejects_bad_blocks(tmp_path: Path) -> None:
    with AudioWriter(tmp_path / "c.wav", "wav", 8000, 1) as w:
        w.write(np.array([[2.0, -2.0, np.nan, 0.5]], np.float32))
        with pytest.raises(ValueError, match="block"):
            w.write(np.zeros((2, 4), np.float32))
    y, _ = sf.read(tmp_path / "c.wav", dtype="int16")
    assert y.tolist() == [32767, -32768, 0, 16384]


@pytest.mark.parametrize(
    ("fmt", "name", "expected"),
    [
        ("flac", "song.wav", "flac"),
        ("wav", "song.mp3", "wav"),
        ("mp3", "song.flac", "mp3"),
        ("ogg", "song.m4a", "ogg"),
        ("m4a", "song.ogg", "m4a"),
        ("webm", "song.wav", "webm"),
    ],
)
def test_media_sniffing_ignores_file_names(tmp_path: Path, fmt: str, name: str, expected: str) -> None:
    x = make_music(16_000, 0.3, 1)
    path = make_audio_file(tmp_path / name, fmt, x, 16_000)
    assert sniff_container(path.read_bytes()[:4096]) == expected
    info = probe(path)
    assert info.container == expected
    assert info.sr == 16_000


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02", "ogg"),
        (b"\x1a\x45\xdf\xa3\x01\x00", "webm"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "m4a"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00fLaC\x00\x00\x00\x22\x00\x00", "flac"),
        (b"\xff\xfb\x90\x64" + b"\x00" * 8, "mp3"),
        (b"\xff\xf1\x50\x80", None),  # ADTS AAC is not MPEG layer audio
        (b"<!DOCTYPE html><html>", None),
        (b"", None),
    ],
)
def test_media_sniff_container_magic(head: bytes, expected: str | None) -> None:
    assert sniff_container(head) == expected


def _cut_wav(tmp_path: Path) -> Path:
    """Cut off inside its header, before the audio: nothing to process."""
    src = make_audio_file(tmp_path / "full.wav", "wav", make_music(16_000, 1.0, 1), 16_000)
    (tmp_path / "cut.wav").write_bytes(src.read_bytes()[:40])
    return tmp_path / "cut.wav"


def _cut_moov(tmp_path: Path) -> Path:
    src = tmp_path / "full.m4a"
    # without faststart the moov atom sits at the end; write one that way and cut it off
    import av

    with av.open(str(src), "w", format="ipod") as oc:
        st = oc.add_stream("aac", rate=16_000)
        st.codec_context.layout = "mono"
        frame = av.AudioFrame.from_ndarray(make_music(16_000, 1.0, 1), format="fltp", layout="mono")
        frame.sample_rate = 16_000
        frame.pts = 0
        oc.mux(st.encode(frame))
        oc.mux(st.encode(None))
    data = src.read_bytes()
    moov = data.rindex(b"moov") - 4
    (tmp_path / "cut.m4a").write_bytes(data[:moov])
    return tmp_path / "cut.m4a"


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(1).bytes(20_000))
    return path


def _html(tmp_path: Path) -> Path:
    path = tmp_path / "page.wav"
    path.write_bytes(b"<!DOCTYPE html><html><body>Not found</body></html>")
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    return path


def _no_samples(tmp_path: Path) -> Path:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 16_000)
    return path


def _video_only(tmp_path: Path) -> Path:
    return make_silent_video(tmp_path / "silent.webm")


def _odd_chunk_without_pad(tmp_path: Path) -> Path:
    # a 3-byte chunk with no pad byte before an intact data chunk read "truncated" (odd-files audit)
    import struct

    pcm = (np.sin(np.arange(1600) / 5) * 8000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 16_000, 32_000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"junk" + struct.pack("<I", 3) + b"abc"
    body += b"data" + struct.pack("<I", len(pcm)) + pcm
    path = tmp_path / "odd.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _ok_wav(tmp_path: Path) -> Path:
    return make_audio_file(tmp_path / "ok.wav", "wav", make_music(16_000, 0.2, 1), 16_000)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (_ok_wav, None, ""),
        (_garbage, UnsupportedMediaError, "not a recognized"),
        (_html, UnsupportedMediaError, "HTML"),
        (_empty, EmptyInputError, "empty"),
        (_no_samples, EmptyInputError, "no audio samples"),
        (_cut_wav, CorruptMediaError, "no 'data' chunk"),
        (_odd_chunk_without_pad, CorruptMediaError, "odd size without the pad byte"),
        (_cut_moov, CorruptMediaError, "moov"),
        (_video_only, UnsupportedMediaError, "no audio track"),
    ],
)
def test_media_probe_errors(tmp_path: Path, make: object, error: type[Exception] | None, words: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    if error is None:
        assert probe(path).container == "wav"
        return
    with pytest.raises(error, match=words) as caught:
        probe(path)
    assert "Send" in str(caught.value) or "send" in str(caught.value)


@pytest.mark.parametrize("container", ["wav", "flac", "mp3", "m4a"])
def test_media_cut_off_file_decodes_what_is_there_with_a_warning(tmp_path: Path, container: str) -> None:
    """Half the bytes of a 6 s file: the audio they hold is decoded, and one warning gives the
    declared and the present duration; the whole file decodes without one."""
    sr = 16_000
    whole = make_audio_file(tmp_path / f"whole.{container}", container, make_music(sr, 6.0, 1), sr)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{container}"
    cut.write_bytes(data[: len(data) // 2])
    for path in (whole, cut):
        warnings: list[str] = []
        n = sum(b.shape[1] for b in decode_blocks(path, probe(path), 4096, warnings=warnings))
        if path == whole:
            assert warnings == []
            continue
        assert 2.0 * sr < n < 4.0 * sr
        assert warnings == [
            f"The {container.upper()} file may be truncated: its header declares 6.000 s of audio but only "
            f"{n / sr:.3f} s is present; the audio present was processed (send or export the complete file if "
            "the end is missing)"
        ]


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_media_wav_with_a_recorders_placeholder_size_decodes_to_the_end(tmp_path: Path, size: int) -> None:
    sr = 16_000
    x = make_music(sr, 2.0, 2)
    src = make_audio_file(tmp_path / "recording.wav", "wav", x, sr)
    src.write_bytes(with_wav_data_size(src.read_bytes(), size))
    info = probe(src)
    assert (info.duration_s, info.channels) == (2.0, 2)
    warnings: list[str] = []
    y = np.concatenate(list(decode_blocks(src, info, 4096, warnings=warnings)), axis=1)
    assert y.shape == x.shape
    assert warnings == []


def test_media_flac_damaged_before_its_end_is_refused(tmp_path: Path) -> None:
    src = make_audio_file(tmp_path / "damaged.flac", "flac", make_music(16_000, 6.0, 1), 16_000)
    data = bytearray(src.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2000] = bytes(2000)
    src.write_bytes(data)
    with pytest.raises(CorruptMediaError, match=r"The FLAC audio is damaged at [0-9.]+ s, before the end"):
        for _ in decode_blocks(src, probe(src), 4096):
            pass


def test_media_headerless_pcm_decodes_with_given_rate(tmp_path: Path) -> None:
    x = make_music(8000, 0.5, 2)
    raw = np.clip(np.rint(x.T * 32768), -32768, 32767).astype("<i2").tobytes()
    path = tmp_path / "audio.raw"
    path.write_bytes(raw)
    with pytest.raises(UnsupportedMediaError):
        probe(path)
    info = probe(path, pcm_sample_rate=8000, pcm_channels=2)
    assert (info.container, info.sr, info.channels, info.sample_format) == ("pcm", 8000, 2, "PCM_16")
    y = np.concatenate(list(decode_blocks(path, info, 1000)), axis=1)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=2.0**-15)
    assert output_container(info, None) == "wav"


def test_media_headerless_pcm_written_on_request_is_bit_exact(tmp_path: Path) -> None:
    x = make_music(8000, 0.5, 2)
    raw_in = np.clip(np.rint(x.T * 32768), -32768, 32767).astype("<i2").tobytes()
    src = tmp_path / "in.raw"
    src.write_bytes(raw_in)
    info = probe(src, pcm_sample_rate=8000, pcm_channels=2)
    out = tmp_path / "out.pcm"
    with AudioWriter(out, output_container(info, "pcm"), info.sr, info.channels) as w:
        for block in decode_blocks(src, info, 1000):
            w.write(block)
    assert out.read_bytes() == raw_in  # no header, little-endian, interleaved, same samples


def test_media_decode_blocks_have_requested_size(tmp_path: Path) -> None:
    src = make_audio_file(tmp_path / "a.mp3", "mp3", make_music(16_000, 1.0, 2), 16_000)
    sizes = [b.shape for b in decode_blocks(src, probe(src), 1000)]
    assert all(s == (2, 1000) for s in sizes[:-1])
    assert 0 < sizes[-1][1] <= 1000
    assert sum(s[1] for s in sizes) == 16_000


@pytest.mark.parametrize("container", ["webm", "mp4"])
def test_media_remux_copies_video_packets(tmp_path: Path, container: str) -> None:
    src = make_video_file(tmp_path / f"in.{container}", container)
    info = probe(src)
    assert info.has_video
    assert info.container == container
    assert output_container(info, None) == container
    audio, sr = decode_all(src)
    cleaned = tmp_path / "clean.wav"
    sf.write(cleaned, (0.25 * audio[:, ::-1]).T, sr)  # time-reversed and quieter: clearly different
    out = tmp_path / f"out.{container}"
    remux_video(src, cleaned, out, container)

    assert video_packets(out) == video_packets(src)
    out_info = probe(out)
    assert out_info.has_video
    assert (out_info.sr, out_info.channels) == (info.sr, info.channels)
    new_audio, _ = decode_all(out)
    assert abs(new_audio.shape[1] - audio.shape[1]) <= 1024
    n = min(audio.shape[1], new_audio.shape[1])
    assert np.sqrt(np.mean(new_audio[:, :n] ** 2)) < 0.5 * np.sqrt(np.mean(audio[:, :n] ** 2))
    assert _corr(new_audio, 0.25 * audio[:, ::-1]) > 0.9


def test_media_remux_refuses_h264_in_webm(tmp_path: Path) -> None:
    src = make_video_file(tmp_path / "in.mp4", "mp4")
    info = probe(src)
    cleaned = tmp_path / "clean.wav"
    sf.write(cleaned, np.zeros((4800, 2), np.float32), 48_000)
    with pytest.raises(UnsupportedMediaError, match="h264"):
        remux_video(src, cleaned, tmp_path / "out.webm", "webm")
    with pytest.raises(UnsupportedMediaError, match="h264"):
        output_container(info, "webm")
    assert output_container(info, ".M4A") == "m4a"  # audio only is always possible


def _info(container: str, *, video: str | None = None) -> MediaInfo:
    return MediaInfo(container, "aac", 48_000, 2, 1.0, video is not None, None, video)


@pytest.mark.parametrize(
    ("info", "requested", "expected"),
    [
        (_info("mp3"), None, "mp3"),
        (_info("mp3"), ".WAV", "wav"),
        (_info("wav"), "audio/mpeg", "mp3"),
        (_info("ogg"), "opus", "opus"),
        (_info("ogg"), "audio/ogg", "ogg"),
        (_info("pcm"), None, "wav"),
        (_info("webm", video="h264"), None, "mp4"),  # Matroska with H.264 cannot stay WebM
        (_info("webm", video="vp9"), None, "webm"),
        (_info("mp4", video="h264"), "mp4", "mp4"),
        (_info("mp4", video="h264"), "flac", "flac"),
        (_info("wav"), "exe", InvalidParameterError),
        (_info("mp4", video="h264"), "webm", UnsupportedMediaError),
    ],
)
def test_media_output_container(info: MediaInfo, requested: str | None, expected: object) -> None:
    if isinstance(expected, str):
        assert output_container(info, requested) == expected
    else:
        with pytest.raises(expected):  # type: ignore[call-overload]
            output_container(info, requested)


@pytest.mark.parametrize(
    ("container", "sr", "channels", "ok"),
    [
        ("mp3", 44_100, 2, True),
        ("mp3", 96_000, 1, True),  # encoded at 48 kHz
        ("mp3", 44_100, 6, False),
        ("mp3", 96_000, 6, False),
        ("m4a", 12_345, 1, False),
    ],
)
def test_media_check_encodable(container: str, sr: int, channels: int, ok: bool) -> None:
    if ok:
        check_encodable(container, sr, channels)
    else:
        with pytest.raises(InvalidParameterError):
            check_encodable(container, sr, channels)


@pytest.mark.parametrize(
    ("container", "sr", "channels", "offered", "hint"),
    [
        ("mp3", 96_000, 6, None, "ask for wav, flac or m4a."),
        ("mp3", 96_000, 6, ("mp3", "wav"), "ask for wav."),
        ("mp3", 44_100, 6, None, "ask for wav, flac or m4a."),
        ("mp3", 44_100, 10, None, "ask for wav or flac."),
        ("m4a", 12_345, 1, ("m4a", "mp3"), "ask for mp3."),  # MP3 writes it at 16 kHz
        ("m4a", 12_345, 1, ("m4a", "ogg"), "ask for ogg."),  # Vorbis at 12345 Hz
        ("mp4", 12_345, 9, ("mp4", "mp3"), "no other output format this API offers can hold it either."),
    ],
)
def test_media_check_encodable_suggests_only_formats_that_fit_and_are_offered(
    container: str, sr: int, channels: int, offered: tuple[str, ...] | None, hint: str
) -> None:
    with pytest.raises(InvalidParameterError) as err:
        check_encodable(container, sr, channels, offered=offered)
    assert str(err.value).endswith(hint)


def test_media_mime_types() -> None:
    assert mime_type("mp4", video=True) == "video/mp4"
    assert mime_type("mp4") == "audio/mp4"
    assert mime_type("mp3") == "audio/mpeg"
    assert _info("webm", video="vp8").mime == "video/webm"
    assert _info("wav").ext == ".wav"


_STREAM_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    import soundfile as sf
    from app.media import AudioWriter, decode_blocks, probe

    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    sr, minutes = 16_000, 60
    t = np.arange(sr * 10) / sr
    chunk = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with sf.SoundFile(src, "w", sr, 1, "PCM_16", format="WAV") as f:
        for _ in range(minutes * 6):
            f.write(chunk)
    start = time.perf_counter()
    info = probe(src)
    n = 0
    with AudioWriter(dst, "flac", info.sr, info.channels, sample_format=info.sample_format) as w:
        for block in decode_blocks(src, info, 65_536):
            w.write(block * 0.5)
            n += block.shape[1]
    assert n == sr * 60 * minutes, n
    assert sf.info(dst).frames == n
    # VmHWM is this process's own peak (ru_maxrss would include the parent's, inherited at exec)
    rss_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    print(f"{rss_mb:.0f} {time.perf_counter() - start:.1f}")
    """
)


@pytest.mark.slow
def test_media_one_hour_streams_in_flat_memory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _STREAM_SCRIPT, str(tmp_path / "hour.wav"), str(tmp_path / "hour.flac")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rss_mb, seconds = (float(v) for v in result.stdout.split())
    print(f"peak RSS {rss_mb:.0f} MB, {seconds:.1f} s for one hour of 16 kHz audio")
    assert rss_mb < 250


def _raw_wav(path: Path, *, tag: int, channels: int, sr: int, bits: int, data: bytes) -> Path:
    path.write_bytes(raw_wav_bytes(tag=tag, channels=channels, sr=sr, bits=bits, data=data))
    return path


_TONE16 = (np.sin(np.arange(8000) / 5) * 3000).astype("<i2").tobytes()


# each header lie, and the error it must give (never an AttributeError or an internal error)
@pytest.mark.parametrize(
    ("tag", "channels", "sr", "bits", "data", "error", "words"),
    [
        (1, 1, 16_000, 0, bytes(3200), UnsupportedMediaError, "cannot decode"),
        (3, 1, 16_000, 16, bytes(3200), UnsupportedMediaError, "cannot decode"),
        (1, 1, 768_000, 16, _TONE16, UnsupportedMediaError, "768000 Hz"),
        (1, 1, 1, 16, _TONE16, UnsupportedMediaError, "1 Hz"),
        (1, 1, 4_000, 16, _TONE16, UnsupportedMediaError, "8000–192000"),
        (1, 0, 16_000, 16, _TONE16, CorruptMediaError, "could not be decoded"),
    ],
)
def test_media_probe_refuses_header_lies(
    tmp_path: Path, tag: int, channels: int, sr: int, bits: int, data: bytes, error: type[Exception], words: str
) -> None:
    path = _raw_wav(tmp_path / "lie.wav", tag=tag, channels=channels, sr=sr, bits=bits, data=data)
    with pytest.raises(error, match=words):
        probe(path)


def test_media_64_bit_integer_wav_decodes_to_its_values(tmp_path: Path) -> None:
    x = np.sin(np.arange(16_000) / 5) * 0.5
    path = _raw_wav(
        tmp_path / "s64.wav", tag=1, channels=1, sr=16_000, bits=64, data=(x * 2.0**63).astype("<i8").tobytes()
    )
    info = probe(path)
    y = np.concatenate(list(decode_blocks(path, info, 4096)), axis=-1)
    assert y.shape == (1, 16_000)
    assert np.max(np.abs(y[0] - x)) < 1e-6


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e9])
def test_media_non_finite_float_sample_is_refused_with_its_time(tmp_path: Path, bad: float) -> None:
    x = (np.sin(np.arange(32_000) / 5) * 0.3).astype(np.float32)
    x[24_000] = bad  # at 1.5 s, in the second block
    path = tmp_path / "bad.wav"
    sf.write(path, x, 16_000, subtype="FLOAT")
    info = probe(path)
    blocks = decode_blocks(path, info, 16_000)
    first = next(blocks)
    assert np.all(np.isfinite(first))  # what comes before the bad sample is delivered
    with pytest.raises(CorruptMediaError, match=r"at 1\.500 s"):
        next(blocks)


def test_media_declared_duration_over_the_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    path = make_audio_file(tmp_path / "ok.flac", "flac", make_music(16_000, 1.0, 1), 16_000)
    data = bytearray(path.read_bytes())
    # STREAMINFO's 36-bit total-samples field (bytes 21-25 of the file): claim 2**36 - 1 frames
    data[21] |= 0x0F
    data[22:26] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    with pytest.raises(InputTooLargeError, match=r"1193\.0 hours"):
        probe(path, max_duration_s=6 * 3600)
    assert probe(tmp_path / "ok.flac").sr == 16_000  # the limit is the caller's to give


@pytest.mark.parametrize(
    ("seconds", "limit_s", "words"),
    [
        (2.0, 1.5, "declares 2.0 s of audio; this server takes at most 1.5 s per file"),
        (420.0, 360.0, "declares 7.0 minutes of audio; this server takes at most 6 minutes per file"),
    ],
)
def test_media_duration_refusal_states_both_lengths_in_a_unit_that_tells_them_apart(
    tmp_path: Path, seconds: float, limit_s: float, words: str
) -> None:
    """A 7-minute file over a 6-minute limit is not 'declares 0.1 hours; at most 0.1 hours'."""
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(int(seconds * 8000), np.int16), 8000, subtype="PCM_16")
    with pytest.raises(InputTooLargeError) as refused:
        probe(path, max_duration_s=limit_s)
    assert words in refused.value.message


def _id3_title(raw: bytes) -> bytes:
    """An ID3v2.3 tag holding one title frame whose text is ``raw`` under encoding byte 3 (UTF-8)."""
    body = b"\x03" + raw
    frame = b"TIT2" + len(body).to_bytes(4, "big") + b"\x00\x00" + body
    n = len(frame)
    size = bytes([(n >> 21) & 127, (n >> 14) & 127, (n >> 7) & 127, n & 127])  # syncsafe
    return b"ID3\x03\x00\x00" + size + frame


def test_media_a_tag_that_is_not_utf8_does_not_stop_the_audio(tmp_path: Path) -> None:
    # a title flagged UTF-8 but written in Latin-1, as old taggers do (the code before raised
    # UnicodeDecodeError out of the probe: an internal error, not the file's fault)
    src = make_audio_file(tmp_path / "a.mp3", "mp3", make_music(44_100, 1.0, 2), 44_100)
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(_id3_title(b"caf\xe9 \xff\xfe") + src.read_bytes())
    info = probe(tagged)
    assert (info.sr, info.channels) == (44_100, 2)
    decoded, _ = decode_all(tagged)
    assert decoded.shape[1] == pytest.approx(44_100, abs=1152)


def test_media_an_mp3_that_changes_format_part_way_is_decoded_and_says_so(tmp_path: Path) -> None:
    # two MP3 files joined byte for byte (44.1 kHz stereo, then 22.05 kHz mono): the code before
    # raised the resampler's ValueError at the join
    a = make_audio_file(tmp_path / "a.mp3", "mp3", make_music(44_100, 1.0, 2), 44_100)
    b = make_audio_file(tmp_path / "b.mp3", "mp3", make_music(22_050, 1.0, 1), 22_050)
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    info = probe(joined)
    notes: list[str] = []
    decoded = np.concatenate(list(decode_blocks(joined, info, 4096, warnings=notes)), axis=1)
    assert decoded.shape[0] == info.channels
    assert np.all(np.isfinite(decoded))
    assert decoded.shape[1] / info.sr == pytest.approx(2.0, abs=0.15)  # both halves, at one rate
    assert any("changes its format part-way" in n and f"{info.sr} Hz" in n for n in notes)
    assert not any("truncated" in n for n in notes)  # the first header's length is not the file's


def test_media_a_video_stream_of_unknown_codec_is_called_damaged(tmp_path: Path) -> None:
    # the sample entry's code renamed: FFmpeg opens the track with no codec (the code before raised
    # AttributeError on the missing codec context, an internal error)
    good = make_video_file(tmp_path / "v.mp4", "mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(good.read_bytes().replace(b"avc1", b"zzzz"))
    with pytest.raises(CorruptMediaError, match="video stream is damaged"):
        probe(bad)


def test_an_mp4_with_two_audio_tracks_says_only_the_first_was_processed(tmp_path: Path) -> None:
    # the second track (a commentary, another language) was dropped without a word
    import av

    path = tmp_path / "two.m4a"
    sr = 48_000
    with av.open(str(path), "w", format="mp4") as oc:
        tracks = [oc.add_stream("aac", rate=sr, layout="mono") for _ in range(2)]
        for k, st in enumerate(tracks):
            x = (0.1 * np.sin(2 * np.pi * (440 + 220 * k) * np.arange(sr) / sr)).astype(np.float32)[None]
            for i in range(0, sr, 1024):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(x[:, i : i + 1024]), format="fltp", layout="mono"
                )
                frame.sample_rate, frame.pts = sr, i
                oc.mux(st.encode(frame))
            oc.mux(st.encode(None))
    notes: list[str] = []
    n = sum(b.shape[1] for b in decode_blocks(path, probe(path), 4096, warnings=notes))
    assert n == pytest.approx(sr, abs=1024)
    assert any("2 audio tracks; only the first was processed" in note for note in notes), notes


def test_a_wav_too_long_for_riff_sizes_is_written_as_rf64(tmp_path: Path) -> None:
    # a 4 GiB+ result (an hour of 8-channel float) was a plain WAV with wrapped sizes: readers
    # that know only RIFF stopped 24 s short and could not seek past 4 GiB
    from app.media import AudioWriter

    x = (0.1 * np.sin(np.linspace(0, 200, 4800))).astype(np.float32)[None].repeat(8, axis=0)
    big, small = tmp_path / "big.wav", tmp_path / "small.wav"
    with AudioWriter(big, "wav", 48_000, 8, sample_format="FLOAT", expected_frames=3600 * 48_000) as w:
        w.write(x)
    with AudioWriter(small, "wav", 48_000, 8, sample_format="FLOAT", expected_frames=600 * 48_000) as w:
        w.write(x)
    assert big.read_bytes()[:4] == b"RF64"
    assert small.read_bytes()[:4] == b"RIFF"
    info = probe(big)
    assert (info.container, info.channels, info.sample_format) == ("wav", 8, "FLOAT")
    y = np.concatenate(list(decode_blocks(big, info, 4096)), axis=1)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("container", ["m4a", "ogg", "webm"])
def test_eight_channels_round_trip_through_lossy_containers(tmp_path: Path, container: str) -> None:
    # PyAV miscounts an 8-channel planar frame's planes: decoding such AAC or Opus killed the
    # worker (SIGSEGV) and encoding one was an internal error (odd-files audit)
    sr, n = 48_000, 48_000
    t = np.arange(n) / sr
    freqs = [300.0 * (k + 1) for k in range(8)]
    freqs[3] = 60.0  # the 7.1 layout's low-frequency channel: the encoders band-limit it
    x = np.stack([0.2 * np.sin(2 * np.pi * f * t) for f in freqs]).astype(np.float32)
    dst = tmp_path / f"eight.{container}"
    with AudioWriter(dst, container, sr, 8) as w:
        w.write(x)
    info = probe(dst)
    assert info.channels == 8
    y = np.concatenate(list(decode_blocks(dst, info, 8192)), axis=1)
    assert y.shape[0] == 8
    assert abs(y.shape[1] - n) <= 1
    for k, f in enumerate(freqs):  # each channel keeps its own tone, in order
        spec = np.abs(np.fft.rfft(y[k, 4800:-4800]))
        peak = np.argmax(spec) * sr / (y.shape[1] - 9600)
        assert peak == pytest.approx(f, abs=5.0), (k, peak)


def test_the_headerless_pcm_hint_is_given_only_for_bytes_of_no_known_kind(tmp_path: Path) -> None:
    # an AIFF refusal came with a hint for headerless PCM, and the hint named one interface's
    # field to users of the others (odd-files audit)
    aiff = tmp_path / "a.aiff"
    aiff.write_bytes(b"FORM" + b"\x00\x00\x10\x00" + b"AIFF" + bytes(4096))
    with pytest.raises(UnsupportedMediaError) as caught:
        probe(aiff)
    assert "AIFF" in caught.value.message
    assert "PCM" not in caught.value.message
    noise = tmp_path / "n.bin"
    noise.write_bytes(np.random.default_rng(3).integers(-3000, 3000, 8000).astype("<i2").tobytes())
    with pytest.raises(UnsupportedMediaError) as caught:
        probe(noise)
    assert "pcm_sample_rate" in caught.value.message
    assert "LINEAR16" in caught.value.message


@pytest.mark.parametrize("codec", ["adpcm_ima_wav", "adpcm_ms"])
def test_an_adpcm_wav_comes_back_as_pcm_of_its_exact_length(tmp_path: Path, codec: str) -> None:
    # libsndfile pads the last ADPCM block when it writes: an IMA-ADPCM result was 28.7 ms longer
    # than its input (odd-files audit); the input here is FFmpeg's, whose fact chunk is exact
    from fractions import Fraction

    import av

    sr, n = 22_050, 112_255
    src = tmp_path / "adpcm.wav"
    pcm = (0.3 * 32767 * np.sin(np.arange(n) / 7.0)).astype(np.int16)
    with av.open(str(src), "w", format="wav") as oc:
        st = oc.add_stream(codec, rate=sr)
        st.codec_context.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate, frame.time_base, frame.pts = sr, Fraction(1, sr), 0
        for packet in [*st.encode(frame), *st.encode(None)]:
            oc.mux(packet)
    info = probe(src)
    assert info.sample_format in ("IMA_ADPCM", "MS_ADPCM")
    got = sum(b.shape[1] for b in decode_blocks(src, info, 8192))
    dst = tmp_path / "out.wav"
    with AudioWriter(dst, "wav", sr, 1, sample_format=info.sample_format) as w:
        for block in decode_blocks(src, info, 8192):
            w.write(block)
    out = sf.info(str(dst))
    assert out.subtype == "PCM_16"
    assert out.frames == got


def test_audio_after_the_declared_data_is_said_not_read(tmp_path: Path) -> None:
    # a recorder that last updated its header at 2 s and went on to 5 s lost 3 s without a word
    # (odd-files audit); a chunk after the data (LIST) is no such thing
    import struct

    sr = 8000
    pcm = (np.sin(np.arange(5 * sr) / 5) * 8000).astype("<i2").tobytes()
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, 2 * sr, 2, 16)
    declared = 2 * sr * 2
    lie = tmp_path / "lie.wav"
    lie.write_bytes(
        b"RIFF"
        + struct.pack("<I", 4 + len(fmt) + 8 + declared)
        + b"WAVE"
        + fmt
        + b"data"
        + struct.pack("<I", declared)
        + pcm
    )
    info = probe(lie)
    notes: list[str] = []
    got = sum(b.shape[1] for b in decode_blocks(lie, info, 4096, warnings=notes))
    assert got == 2 * sr
    (note,) = notes
    assert "3.0 s more" in note
    assert "not read" in note
    listed = tmp_path / "listed.wav"
    data = pcm[:declared]
    tail = b"LIST" + struct.pack("<I", 10) + b"INFOabcdef"
    body = b"WAVE" + fmt + b"data" + struct.pack("<I", len(data)) + data + tail
    listed.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    notes = []
    assert sum(b.shape[1] for b in decode_blocks(listed, probe(listed), 4096, warnings=notes)) == 2 * sr
    assert notes == []
