"""What tone a recording holds: the loudest stretch of a WAV file and the frequency that stands
out in it, by Goertzel's algorithm over a coarse grid of pitches, then 1 Hz steps around the best.

QEMU's wav audio backend writes its header's sizes only when QEMU ends: a data chunk whose size
says 0 is read up to the end of the file.

  python3 sound_check.py FILE.wav      prints the tone's frequency in Hz and its share of the power
"""

from __future__ import annotations

import math
import struct
import sys

WINDOW_SECONDS = 0.5


def samples(path, since=0):
    """(rate, mono samples as floats) of a PCM WAV file, 8 or 16 bits, any number of channels;
    with `since`, only the data from that byte of the file on (what was recorded after a point)."""
    with open(path, 'rb') as wav:
        data = wav.read()
    if data[:4] != b'RIFF' or data[8:12] != b'WAVE':
        raise ValueError('%s is not a WAV file' % path)
    offset, rate, channels, bits = 12, None, None, None
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], struct.unpack('<I', data[offset + 4:offset + 8])[0]
        if chunk == b'fmt ':
            _format, channels, rate, _rate_bytes, _align, bits = struct.unpack('<HHIIHH', data[offset + 8:offset + 24])
        elif chunk == b'data':
            end = offset + 8 + size if 0 < size <= len(data) - offset - 8 else len(data)
            body = data[max(offset + 8, since):end]
            break
        # Chunks are padded to an even size.
        offset += 8 + size + (size & 1)
    else:
        raise ValueError('%s has no data chunk' % path)
    if rate is None or bits not in (8, 16):
        raise ValueError('%s: only 8- and 16-bit PCM is read' % path)
    width = bits // 8 * channels
    # A `since` inside a frame: start at the next whole one.
    skip = (max(offset + 8, since) - offset - 8) % width
    body = body[(width - skip) % width:]
    body = body[:len(body) - len(body) % width]
    if bits == 16:
        values = struct.unpack('<%dh' % (len(body) // 2), body)
    else:
        values = [value - 128 for value in body]
    return rate, [sum(values[i:i + channels]) / channels for i in range(0, len(values), channels)]


def loudest(values, length):
    """The stretch of `length` samples with the most power (in steps of a quarter of it)."""
    step = max(1, length // 4)
    best, best_power = values[:length], -1.0
    for start in range(0, max(1, len(values) - length + 1), step):
        window = values[start:start + length]
        power = sum(value * value for value in window)
        if power > best_power:
            best, best_power = window, power
    return best


def power_at(window, rate, frequency):
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before = 0.0
    for value in window:
        previous, before = value + coefficient * previous - before, previous
    return previous * previous + before * before - coefficient * previous * before


def tone(path, since=0, low=100, high=4000):
    """(frequency in Hz, its share of the stretch's power) of the tone in the file's loudest
    half second (from byte `since` on); (0, 0) for silence or no samples."""
    rate, values = samples(path, since)
    window = loudest(values, int(rate * WINDOW_SECONDS))
    total = sum(value * value for value in window)
    if not window or total == 0:
        return 0, 0.0
    # A window of N samples tells pitches apart by rate/N Hz and misses one between its grid's
    # steps: the coarse search looks at 20 ms (50 Hz apart) in 20 Hz steps, the fine one at the
    # whole stretch in 1 Hz steps around the best.
    short = window[:rate // 50]
    coarse = max(range(low, high, 20), key=lambda f: power_at(short, rate, f))
    fine = max(range(coarse - 30, coarse + 31), key=lambda f: power_at(window, rate, f))
    # A pure tone's Goertzel power is (N/2)^2 A^2 against the window's N A^2 / 2.
    share = power_at(window, rate, fine) / (len(window) * total / 2)
    return fine, round(share, 3)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    frequency, share = tone(sys.argv[1])
    print('%d Hz (%.0f %% of the power)' % (frequency, share * 100))


if __name__ == '__main__':
    main()
