import type tls from 'node:tls';
import { expect } from 'vitest';
import type { H2Limits } from '../h2-connection.js';
import { CLIENT_PREFACE, Flag, FrameType, Setting, frame, settingsFrame } from '../h2-frames.js';
import { HpackDecoder } from '../hpack.js';

/** What the server's connection-level WINDOW_UPDATE raises its receive window by. */
export const SERVER_CONNECTION_WINDOW_INCREMENT = (1 << 20) - 65_535;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A frame as the assertions compare it. */
export type Seen =
  | { frame: 'HEADERS'; stream: number; end: boolean; fields: [string, string][] }
  | { frame: 'DATA'; stream: number; end: boolean; data: string }
  | { frame: 'RST_STREAM'; stream: number; code: number }
  | { frame: 'GOAWAY'; lastStreamId: number; code: number; debug: string }
  | { frame: 'SETTINGS'; ack: boolean; settings: [number, number][] }
  | { frame: 'PING'; ack: boolean; data: string }
  | { frame: 'WINDOW_UPDATE'; stream: number; increment: number }
  | { frame: 'OTHER'; type: number };

/** One TLS connection speaking HTTP/2 frame by frame, for tests that send hostile or unusual frames. */
export class RawH2Client {
  readonly decoder = new HpackDecoder();
  readonly closed: Promise<void>;
  #buffer = Buffer.alloc(0);
  readonly #frames: Frame[] = [];
  #wake: (() => void) | undefined;
  #isClosed = false;

  /** `limits`: what the server is expected to announce in its SETTINGS, unless handshake() says. */
  constructor(
    readonly socket: tls.TLSSocket,
    readonly limits: H2Limits,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 9) {
        const length = this.#buffer.readUIntBE(0, 3);
        if (this.#buffer.length < 9 + length) break;
        this.#frames.push({
          type: this.#buffer[3]!,
          flags: this.#buffer[4]!,
          streamId: this.#buffer.readUInt32BE(5) & 0x7fff_ffff,
          payload: Buffer.from(this.#buffer.subarray(9, 9 + length)),
        });
        this.#buffer = this.#buffer.subarray(9 + length);
      }
      this.#wake?.();
    });
    // Resets and broken pipes are how a server that drops us looks from here.
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.#isClosed = true;
        this.#wake?.();
        resolve();
      }),
    );
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** The next frame, or undefined once the connection has closed and every frame was read. */
  async next(): Promise<Frame | undefined> {
    for (;;) {
      const f = this.#frames.shift();
      if (f !== undefined) return f;
      if (this.#isClosed) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  /** The next frame, described. */
  async nextSeen(): Promise<Seen | undefined> {
    const f = await this.next();
    return f === undefined ? undefined : this.describe(f);
  }

  /** Every frame until the server closes the connection. */
  async untilClose(): Promise<Seen[]> {
    const out: Seen[] = [];
    for (let s = await this.nextSeen(); s !== undefined; s = await this.nextSeen()) out.push(s);
    return out;
  }

  /** `count` frames. */
  async take(count: number): Promise<Seen[]> {
    const out: Seen[] = [];
    for (let i = 0; i < count; i++) {
      const s = await this.nextSeen();
      if (s === undefined)
        throw new Error(`the connection closed after ${i} of ${count} frames: ${JSON.stringify(out)}`);
      out.push(s);
    }
    return out;
  }

  /** Frames until one with END_STREAM on `stream` (or a RST_STREAM of it). */
  async untilStreamEnd(stream: number): Promise<Seen[]> {
    const out: Seen[] = [];
    for (;;) {
      const f = await this.next();
      if (f === undefined)
        throw new Error(`the connection closed before stream ${stream} ended: ${JSON.stringify(out)}`);
      const s = this.describe(f);
      out.push(s);
      if (f.streamId !== stream) continue;
      if (f.type === FrameType.RST_STREAM) return out;
      if ((f.type === FrameType.DATA || f.type === FrameType.HEADERS) && (f.flags & Flag.END_STREAM) !== 0)
        return out;
    }
  }

  /**
   * Sends a PING and returns the frames that arrive before its ACK: the server handles frames in
   * order, so whatever it was going to send for the earlier frames has been sent by then.
   */
  async barrier(): Promise<Seen[]> {
    const token = Buffer.from('barrier!');
    this.send(frame(FrameType.PING, 0, 0, token));
    const out: Seen[] = [];
    for (;;) {
      const f = await this.next();
      if (f === undefined)
        throw new Error(`the connection closed before the PING ACK: ${JSON.stringify(out)}`);
      if (f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(token)) return out;
      out.push(this.describe(f));
    }
  }

  describe(f: Frame): Seen {
    switch (f.type) {
      case FrameType.HEADERS:
        return {
          frame: 'HEADERS',
          stream: f.streamId,
          end: (f.flags & Flag.END_STREAM) !== 0,
          fields: this.decoder.decode(f.payload, 1 << 20).fields,
        };
      case FrameType.DATA:
        return {
          frame: 'DATA',
          stream: f.streamId,
          end: (f.flags & Flag.END_STREAM) !== 0,
          data: f.payload.toString('latin1'),
        };
      case FrameType.RST_STREAM:
        return { frame: 'RST_STREAM', stream: f.streamId, code: f.payload.readUInt32BE(0) };
      case FrameType.GOAWAY:
        return {
          frame: 'GOAWAY',
          lastStreamId: f.payload.readUInt32BE(0),
          code: f.payload.readUInt32BE(4),
          debug: f.payload.subarray(8).toString('utf8'),
        };
      case FrameType.SETTINGS: {
        const settings: [number, number][] = [];
        for (let i = 0; i + 6 <= f.payload.length; i += 6)
          settings.push([f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2)]);
        return { frame: 'SETTINGS', ack: (f.flags & Flag.ACK) !== 0, settings };
      }
      case FrameType.PING:
        return { frame: 'PING', ack: (f.flags & Flag.ACK) !== 0, data: f.payload.toString('latin1') };
      case FrameType.WINDOW_UPDATE:
        return { frame: 'WINDOW_UPDATE', stream: f.streamId, increment: f.payload.readUInt32BE(0) };
      default:
        return { frame: 'OTHER', type: f.type };
    }
  }

  /** Preface and SETTINGS out; the server's SETTINGS, window increase and our ACK back. */
  async handshake(
    settings: [number, number][] = [],
    limits: H2Limits = this.limits,
    preface = true,
  ): Promise<void> {
    this.send(...(preface ? [CLIENT_PREFACE] : []), settingsFrame(settings));
    expect(await this.take(3)).toEqual([
      serverSettings(limits),
      { frame: 'WINDOW_UPDATE', stream: 0, increment: SERVER_CONNECTION_WINDOW_INCREMENT },
      { frame: 'SETTINGS', ack: true, settings: [] },
    ]);
    this.send(frame(FrameType.SETTINGS, Flag.ACK, 0));
  }
}

/** The SETTINGS frame a server with these limits sends first. */
export function serverSettings(limits: H2Limits): Seen {
  return {
    frame: 'SETTINGS',
    ack: false,
    settings: [
      [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, limits.maxRequestBodyBytes],
      [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListBytes],
      [Setting.ENABLE_PUSH, 0],
    ],
  };
}
