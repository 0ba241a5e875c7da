"""sound_check finds a recording's tone, also in a WAV file whose header QEMU has not finished."""

from __future__ import annotations

import math
import pathlib
import random
import struct
import sys
import wave

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / 'tools'))

import sound_check  # noqa: E402  pylint: disable=wrong-import-position


def write_wav(path, frequency, rate=48000, seconds=1.5, channels=2, silence=0.5, noise=0.0):
    rng = random.Random(7)
    frames = []
    for i in range(int(rate * (silence + seconds))):
        value = 0.0 if i < rate * silence else 12000 * math.sin(2 * math.pi * frequency * i / rate)
        value += rng.uniform(-noise, noise)
        frames.append(struct.pack('<h', int(value)) * channels)
    with wave.open(str(path), 'wb') as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b''.join(frames))
    return path


@pytest.mark.parametrize('frequency', [440, 1234, 1237, 2999])
def test_the_tone_is_found(tmp_path, frequency):
    found, share = sound_check.tone(write_wav(tmp_path / 'tone.wav', frequency))
    assert abs(found - frequency) <= 1
    assert share > 0.9


def test_a_header_without_sizes_is_read_to_the_end(tmp_path):
    # QEMU writes the sizes when it ends; while it runs they are 0.
    path = write_wav(tmp_path / 'open.wav', 1234)
    data = bytearray(path.read_bytes())
    data[4:8] = data[40:44] = b'\0\0\0\0'
    path.write_bytes(bytes(data))
    assert sound_check.tone(path)[0] == 1234


def test_noise_alone_has_no_dominant_tone(tmp_path):
    path = write_wav(tmp_path / 'noise.wav', 1234, seconds=0.0, silence=1.0, noise=8000)
    assert sound_check.tone(path)[1] < 0.2


def test_silence_is_no_tone(tmp_path):
    assert sound_check.tone(write_wav(tmp_path / 'silence.wav', 1234, seconds=0.0)) == (0, 0.0)


def test_only_what_came_after_a_point_is_read(tmp_path):
    # As QEMU's file is while it records: the header's sizes are 0.
    first = bytearray(write_wav(tmp_path / 'first.wav', 440).read_bytes())
    first[4:8] = first[40:44] = b'\0\0\0\0'
    first = bytes(first)
    second = write_wav(tmp_path / 'second.wav', 1234, silence=0.0).read_bytes()[44:]
    quiet = write_wav(tmp_path / 'quiet.wav', 1234, seconds=0.0).read_bytes()[44:]
    path = tmp_path / 'both.wav'
    path.write_bytes(first + second)
    # From the middle of a frame on: the next whole frame.
    assert sound_check.tone(path, since=len(first) + 1)[0] == 1234
    path.write_bytes(first + quiet)
    assert sound_check.tone(path, since=len(first))[0] == 0


def test_an_odd_sized_chunk_before_the_data_is_skipped_with_its_pad_byte(tmp_path):
    data = write_wav(tmp_path / 'plain.wav', 1234).read_bytes()
    extra = b'LIST' + (3).to_bytes(4, 'little') + b'abc' + b'\0'
    path = tmp_path / 'listed.wav'
    path.write_bytes(data[:36] + extra + data[36:])
    assert sound_check.tone(path)[0] == 1234


def test_a_chunk_after_the_data_is_no_sound(tmp_path):
    path = write_wav(tmp_path / 'tail.wav', 1234, seconds=0.0)
    path.write_bytes(path.read_bytes() + b'LIST' + (4000).to_bytes(4, 'little') + bytes(range(250)) * 16)
    assert sound_check.tone(path) == (0, 0.0)
