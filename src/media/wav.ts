// WAV files as the media layer stores and plays them: RIFF, PCM, 16-bit, 8000 Hz, mono
// (what G.711 decodes to). Other formats are refused with a message that says what the
// file is and what is needed (an admin's uploaded greeting, a prompt folder).
import { close, closeSync, fsync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';

export const SAMPLE_RATE = 8000;

export class WavFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WavFormatError';
  }
}

/** The samples of a 16-bit 8 kHz mono PCM WAV file. */
export function decodeWav(data: Buffer, name = 'the file'): Int16Array {
  if (data.length < 12 || data.toString('latin1', 0, 4) !== 'RIFF' || data.toString('latin1', 8, 12) !== 'WAVE') {
    throw new WavFormatError(`${name} is not a WAV file (no RIFF/WAVE header)`);
  }
  let offset = 12;
  let format: { tag: number; channels: number; rate: number; bits: number } | undefined;
  while (offset + 8 <= data.length) {
    const id = data.toString('latin1', offset, offset + 4);
    const size = data.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > data.length) throw new WavFormatError(`${name}: the fmt chunk is truncated`);
      format = { tag: data.readUInt16LE(body), channels: data.readUInt16LE(body + 2), rate: data.readUInt32LE(body + 4), bits: data.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!format) throw new WavFormatError(`${name}: the data chunk comes before the fmt chunk`);
      // WAVE_FORMAT_EXTENSIBLE (0xFFFE) with PCM inside is written by sox for 16-bit too.
      if ((format.tag !== 1 && format.tag !== 0xfffe) || format.bits !== 16 || format.channels !== 1 || format.rate !== SAMPLE_RATE) {
        throw new WavFormatError(
          `${name} is ${format.channels}-channel ${format.bits}-bit ${format.rate} Hz (format ${format.tag}); needed: mono 16-bit PCM at 8000 Hz (sox in.wav -r 8000 -c 1 -b 16 out.wav)`,
        );
      }
      const end = Math.min(body + size, data.length) & ~1;
      const samples = new Int16Array((end - body) / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = data.readInt16LE(body + 2 * i);
      return samples;
    }
    offset = body + size + (size & 1);
  }
  throw new WavFormatError(`${name} has no data chunk`);
}

export function readWav(path: string): Int16Array {
  return decodeWav(readFileSync(path), path);
}

/** A 44-byte header for `samples` 16-bit mono samples at 8 kHz. */
export function wavHeader(samples: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + samples * 2, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(SAMPLE_RATE, 24);
  h.writeUInt32LE(SAMPLE_RATE * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(samples * 2, 40);
  return h;
}

export function encodeWav(samples: Int16Array): Buffer {
  const out = Buffer.alloc(44 + samples.length * 2);
  wavHeader(samples.length).copy(out, 0);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i]!, 44 + 2 * i);
  return out;
}

/**
 * Appends frames to a WAV file as they arrive (a recording) and writes the sizes in the
 * header when it is finished. Until then the header says 0 samples: a file cut short by
 * a crash is recognisable, never taken for a complete one.
 */
export class WavWriter {
  private readonly fd: number;
  private samples = 0;
  private written = 0;
  private closed = false;
  /** Frames gather here and go to disk a second at a time: one write, not fifty. */
  private readonly pending = Buffer.allocUnsafe(SAMPLE_RATE * 2);
  private pendingBytes = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w', 0o640);
    writeSync(this.fd, wavHeader(0));
  }

  get sampleCount(): number {
    return this.samples;
  }

  write(frame: Int16Array): void {
    if (this.closed) return;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    if (this.pendingBytes + bytes.length > this.pending.length) this.flush();
    // WAV is little-endian; so is every platform Node runs this on (x86, ARM).
    bytes.copy(this.pending, this.pendingBytes);
    this.pendingBytes += bytes.length;
    this.samples += frame.length;
  }

  /** Writes the final sizes and flushes to disk; returns the number of samples. */
  finish(): number {
    if (this.closed) return this.samples;
    this.flush();
    this.closed = true;
    writeSync(this.fd, wavHeader(this.samples), 0, 44, 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    return this.samples;
  }

  /** As finish(), but the fsync (which can take a disk's whole latency) waits off the event loop. */
  async finishAsync(): Promise<number> {
    if (this.closed) return this.samples;
    this.flush();
    this.closed = true;
    writeSync(this.fd, wavHeader(this.samples), 0, 44, 0);
    try {
      await new Promise<void>((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve())));
    } finally {
      await new Promise<void>((resolve) => close(this.fd, () => resolve()));
    }
    return this.samples;
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    writeSync(this.fd, this.pending, 0, this.pendingBytes, 44 + this.written);
    this.written += this.pendingBytes;
    this.pendingBytes = 0;
  }
}
