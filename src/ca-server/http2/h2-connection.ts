/**
 * The server side of one HTTP/2 connection (RFC 9113), for unary request/response exchanges.
 *
 * Why by hand and not node:http2: measured on this project's 2-core machine with h2load and a
 * trivial gRPC-shaped answer, node:http2 over TLS costs ≈ 99 µs of server CPU per call (its
 * Http2Stream objects, header objects and stream machinery around nghttp2), a frame layer on a
 * bare TLS socket ≈ 21 µs. For the CSR server that difference is most of the gap to its target
 * (docs/benchmarks.md). The part of HTTP/2 a gRPC unary server needs is bounded: frames, SETTINGS,
 * flow control in both directions, HPACK (hpack.ts), stream states, GOAWAY; no push, no priority.
 *
 * Hostile peers: every limit is checked where the bytes arrive. A frame larger than our
 * SETTINGS_MAX_FRAME_SIZE, a header block past its cap (CONTINUATION flood), too many empty
 * frames, a peer that does not read what we write (PING/SETTINGS floods), and flow-control
 * violations end the connection with GOAWAY and the matching error code. A stream whose handler is
 * at work keeps its concurrency slot until that handler has finished, whatever happened on the wire
 * meanwhile (answered early, say at a deadline, or reset by the peer): neither the "rapid reset"
 * attack (CVE-2023-44487) nor a client-chosen deadline can start more work than
 * SETTINGS_MAX_CONCURRENT_STREAMS allows. A malformed request costs its stream, not a log line each:
 * the first per connection is reported, the rest are counted and summed up when the connection ends.
 */
import type { TLSSocket } from 'node:tls';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  Flag,
  FrameType,
  H2Error,
  MAX_WINDOW,
  Setting,
  frame,
  goawayFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
} from './h2-frames.js';
import { HpackDecoder, HpackError, encodeHeaderBlock } from './hpack.js';

/** Limits of one connection. */
export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams (and their handlers) at once. */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: decoded request headers, RFC 9113 §6.5.2 octets. */
  readonly maxHeaderListBytes: number;
  /** Request body octets a stream may send (its flow-control window; never replenished). */
  readonly maxRequestBodyBytes: number;
  /** A connection with no frame for this long and no handler at work is closed with GOAWAY. */
  readonly idleTimeoutMs: number;
  /** Octets waiting to be written before a peer that does not read is disconnected. */
  readonly maxOutputBufferBytes: number;
  /** Frames with nothing in them (no END_STREAM) tolerated per connection. */
  readonly maxEmptyFrames: number;
}

/** A header field as the wire carries it. */
export type HeaderField = readonly [string, string];

/** Reasons a stream ends before its response went out. */
export type H2AbortReason = 'stream reset' | 'connection closed';

/** One request stream, as the application sees it. */
export class H2Stream {
  /** Request headers, names lower-case; repeated fields joined with ", " (cookie with "; "). */
  readonly headers: Readonly<Record<string, string>>;
  /** Called with each DATA payload, padding removed; the buffer is only valid during the call. */
  ondata: ((chunk: Buffer) => void) | undefined;
  /** Called once when the request ended (END_STREAM). */
  onend: (() => void) | undefined;
  /** Called once if the stream ends before respond(): reset by the peer, or the connection closed. */
  onabort: ((reason: H2AbortReason) => void) | undefined;

  /** @internal */ remoteEnded = false;
  /** @internal */ responded = false;
  /** @internal */ aborted = false;
  /** @internal */ held = false;
  /** @internal Done on the wire (answered and sent, or reset) and gone from the connection's map. */
  closed = false;
  /** @internal */ released = false;
  /** @internal */ sendWindow: number;
  /** @internal */ recvWindow: number;
  /** @internal */ pendingBody: Buffer | undefined;
  /** @internal */ pendingTrailers: readonly HeaderField[] | undefined;

  constructor(
    readonly id: number,
    headers: Record<string, string>,
    readonly connection: H2Connection,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.headers = headers;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** The TLS socket of the connection (peer certificate, addresses). */
  get socket(): TLSSocket {
    return this.connection.socket;
  }

  /** True once the stream was reset by the peer or lost with its connection. */
  get isAborted(): boolean {
    return this.aborted;
  }

  /**
   * Says asynchronous work (a handler) runs for this stream: its concurrency slot stays taken until
   * done() is called, whatever happens on the wire meanwhile: an answer sent before the work ends
   * (a deadline), a reset by the peer, the connection closing.
   */
  hold(): void {
    this.held = true;
  }

  /**
   * Says the work held for this stream (hold()) is over: frees its concurrency slot, now if the
   * stream is already done on the wire, else once it is. Idempotent.
   */
  done(): void {
    this.held = false;
    this.connection.releaseIfFree(this);
  }

  /**
   * Sends the response and ends the stream: headers, then the body (if any) as flow control
   * allows, then trailers (if any). If the peer is still sending, RST_STREAM(NO_ERROR) follows
   * (RFC 9113 §8.1). Calling it again, or after an abort, does nothing. It does not end a hold():
   * a held stream keeps its slot until done().
   */
  respond(headers: readonly HeaderField[], body?: Buffer, trailers?: readonly HeaderField[]): void {
    if (this.responded || this.aborted) return;
    this.responded = true;
    this.connection.sendResponse(this, headers, body, trailers);
  }
}

/** What a connection reports to its server. */
export interface H2ConnectionHooks {
  readonly onStream: (stream: H2Stream) => void;
  /**
   * For the log: errors of the server, and, at a bounded rate, the peer's malformed requests (the
   * first of a connection, then one summary with the count when it ends).
   */
  readonly onError: (err: unknown, context: string) => void;
  /** Called for every malformed request (RST_STREAM PROTOCOL_ERROR), with why: for a counter. */
  readonly onMalformedRequest?: (reason: string) => void;
  readonly onClose: (connection: H2Connection) => void;
}

/** A protocol violation that ends the connection. */
class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const PSEUDO_REQUEST = new Set([':method', ':scheme', ':authority', ':path']);
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);
// RFC 9113 §8.2.1 / RFC 9110 §5.1: lower-case token characters (a leading ':' for pseudo-fields).
const FIELD_NAME = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// No NUL, CR or LF anywhere, no leading or trailing space or tab.
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;
/** Our connection-level receive window: raised once, then topped up as data is read. */
const CONNECTION_WINDOW = 1 << 20;
/** Runs of client stream ids skipped over (never opened) that a connection remembers. */
const MAX_SKIPPED_RANGES = 64;

/** The server side of one HTTP/2 connection over an established TLS socket with ALPN h2. */
export class H2Connection {
  readonly #limits: H2Limits;
  readonly #hooks: H2ConnectionHooks;
  // Our SETTINGS never carry HEADER_TABLE_SIZE, so the decoder's limit is 4096 for the whole
  // connection and RFC 7541 §4.2's "size update first after the setting is lowered" never arises;
  // a size update above 4096 or after a field is a COMPRESSION_ERROR (HpackDecoder.decode).
  readonly #decoder = new HpackDecoder();
  readonly #streams = new Map<number, H2Stream>();
  #buffer: Buffer | undefined;
  #prefaceSeen = false;
  #settingsSeen = false;
  #lastStreamId = 0;
  /**
   * Odd stream ids below #lastStreamId that the client skipped over, as [first, last] runs, oldest
   * first: never opened, so closed by the first use of a higher id (RFC 9113 §5.1.1). A client
   * opens its streams in order, so this is normally empty; one that leaves more than
   * MAX_SKIPPED_RANGES gaps has its oldest forgotten, and frames on those ids are then dropped like
   * frames on streams closed by RST_STREAM (as nghttp2 does for every lower id).
   */
  readonly #skipped: [number, number][] = [];
  /**
   * The most recent streams closed by END_STREAM both ways, without a RST_STREAM (at most
   * maxConcurrentStreams, the closed streams nghttp2 1.61 retains on a server): the client ended
   * them itself, so a DATA or HEADERS frame on one is its error, not a frame in flight.
   */
  readonly #endedBothWays = new Set<number>();
  #slots = 0;
  #emptyFrames = 0;
  #continuation: { streamId: number; flags: number; chunks: Buffer[]; size: number } | undefined;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  #sendWindow = DEFAULT_WINDOW;
  #recvWindow = DEFAULT_WINDOW;
  #recvConsumed = 0;
  #blocked: H2Stream[] = [];
  #out: Buffer[] = [];
  #flushScheduled = false;
  #goingAway = false;
  #closed = false;
  /** Malformed requests on this connection, and the last one's description (see #malformed). */
  #malformedCount = 0;
  #malformedLast = '';
  /** The peer's address, read while the socket is open (it is gone once closed). */
  #peerName: string | undefined;

  constructor(
    readonly socket: TLSSocket,
    limits: H2Limits,
    hooks: H2ConnectionHooks,
  ) {
    this.#limits = limits;
    this.#hooks = hooks;
    // Our SETTINGS, then a connection window large enough for many requests in flight.
    this.#write(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, limits.maxRequestBodyBytes],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListBytes],
        [Setting.ENABLE_PUSH, 0],
      ]),
    );
    this.#write(windowUpdateFrame(0, CONNECTION_WINDOW - DEFAULT_WINDOW));
    this.#recvWindow = CONNECTION_WINDOW;
    socket.setTimeout(limits.idleTimeoutMs, () => {
      // Idle unless a handler of ours is at work: streams that only wait on the peer (for the
      // rest of a request, or for window to send a response) must not keep a silent
      // connection, and the responses it holds, alive forever.
      if (this.#slots === this.#waitingOnPeer())
        this.#goaway(H2Error.NO_ERROR, 'idle connection closed', true);
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // The peer closed its side: nothing more can be read, and what we write would fail.
    socket.on('end', () => {
      this.#closed = true;
      for (const s of this.#streams.values()) this.#abort(s, 'connection closed');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A peer that goes away mid-write is not the server's error.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ERR_STREAM_WRITE_AFTER_END')
        return;
      this.#hooks.onError(err, 'http2 connection');
    });
    socket.on('close', () => this.#onClose());
  }

  /** Streams holding a slot that wait on the peer: for more of the request, or for window. */
  #waitingOnPeer(): number {
    let n = 0;
    for (const s of this.#streams.values()) {
      const waiting = s.responded
        ? s.pendingBody !== undefined || s.pendingTrailers !== undefined
        : !s.remoteEnded && !s.held;
      if (waiting && !s.released) n++;
    }
    return n;
  }

  /** Stops taking new streams (GOAWAY NO_ERROR); the connection ends when its streams are done. */
  close(): void {
    if (this.#closed || this.#goingAway) return;
    this.#goaway(H2Error.NO_ERROR, 'server shutting down', false);
    this.#endIfDrained();
  }

  /** Ends the connection at once. */
  destroy(): void {
    this.socket.destroy();
  }

  // ---- receiving -------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    let buf = this.#buffer === undefined ? chunk : Buffer.concat([this.#buffer, chunk]);
    this.#buffer = undefined;
    try {
      if (!this.#prefaceSeen) {
        const n = Math.min(buf.length, CLIENT_PREFACE.length);
        if (!buf.subarray(0, n).equals(CLIENT_PREFACE.subarray(0, n)))
          throw new ConnectionError(
            H2Error.PROTOCOL_ERROR,
            'the connection did not start with the HTTP/2 client preface',
          );
        if (buf.length < CLIENT_PREFACE.length) {
          this.#buffer = buf;
          return;
        }
        this.#prefaceSeen = true;
        buf = buf.subarray(CLIENT_PREFACE.length);
      }
      let off = 0;
      while (buf.length - off >= 9 && !this.#closed) {
        const length = buf.readUIntBE(off, 3);
        if (length > DEFAULT_MAX_FRAME_SIZE)
          throw new ConnectionError(
            H2Error.FRAME_SIZE_ERROR,
            `a frame of ${length} octets exceeds SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`,
          );
        if (buf.length - off < 9 + length) break;
        const type = buf[off + 3]!;
        const flags = buf[off + 4]!;
        const streamId = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
        const payload = buf.subarray(off + 9, off + 9 + length);
        off += 9 + length;
        this.#onFrame(type, flags, streamId, payload);
      }
      if (off < buf.length && !this.#closed) this.#buffer = Buffer.from(buf.subarray(off));
    } catch (err) {
      if (err instanceof ConnectionError) this.#goaway(err.code, err.message, true);
      else {
        this.#hooks.onError(err, 'http2 connection');
        this.#goaway(H2Error.INTERNAL_ERROR, 'internal error', true);
      }
    }
    this.#flush();
  }

  #onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.#settingsSeen && type !== FrameType.SETTINGS)
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'the first frame after the preface must be SETTINGS');
    if (this.#continuation !== undefined && type !== FrameType.CONTINUATION)
      throw new ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `a frame of type ${type} arrived inside the header block of stream ${this.#continuation.streamId}; only CONTINUATION may`,
      );
    switch (type) {
      case FrameType.DATA:
        return this.#onDataFrame(flags, streamId, payload);
      case FrameType.HEADERS:
        return this.#onHeadersFrame(flags, streamId, payload);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, streamId, payload);
      case FrameType.PRIORITY:
        if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) {
          // A stream error: an open stream must really end, not keep answering after its reset.
          const stream = this.#streams.get(streamId);
          if (stream !== undefined) this.#resetStream(stream, H2Error.FRAME_SIZE_ERROR);
          else this.#write(rstStreamFrame(streamId, H2Error.FRAME_SIZE_ERROR));
        }
        return;
      case FrameType.RST_STREAM:
        return this.#onRstStream(streamId, payload);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, streamId, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a client may not send PUSH_PROMISE');
      case FrameType.PING:
        if (streamId !== 0)
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream other than 0');
        if (payload.length !== 8)
          throw new ConnectionError(
            H2Error.FRAME_SIZE_ERROR,
            `a PING frame of ${payload.length} octets; it must be 8`,
          );
        if ((flags & Flag.ACK) === 0) this.#write(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0)
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream other than 0');
        if (payload.length < 8)
          throw new ConnectionError(
            H2Error.FRAME_SIZE_ERROR,
            `a GOAWAY frame of ${payload.length} octets; it needs at least 8`,
          );
        // The peer stops; streams it already sent finish, then the connection ends. Our own
        // GOAWAY says which streams those are (RFC 9113 §6.8: one before closing).
        if (!this.#goingAway) this.#goaway(H2Error.NO_ERROR, 'the client sent GOAWAY', false);
        this.#endIfDrained();
        return;
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(streamId, payload);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  #countEmpty(what: string): void {
    if (++this.#emptyFrames > this.#limits.maxEmptyFrames)
      throw new ConnectionError(
        H2Error.ENHANCE_YOUR_CALM,
        `more than ${this.#limits.maxEmptyFrames} empty ${what} frames on one connection`,
      );
  }

  /** Strips padding (RFC 9113 §6.1, §6.2); a pad length past the payload is a PROTOCOL_ERROR. */
  #unpad(flags: number, payload: Buffer, what: string): Buffer {
    if ((flags & Flag.PADDED) === 0) return payload;
    if (payload.length < 1)
      throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `a padded ${what} frame with no pad length`);
    const pad = payload[0]!;
    if (pad >= payload.length)
      throw new ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `the padding of a ${what} frame is longer than the frame`,
      );
    return payload.subarray(1, payload.length - pad);
  }

  #onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    // Flow control counts the whole payload, padding included, whatever the stream's state.
    if (payload.length > this.#recvWindow)
      throw new ConnectionError(
        H2Error.FLOW_CONTROL_ERROR,
        'the client sent more DATA than the connection window allows',
      );
    this.#recvWindow -= payload.length;
    this.#recvConsumed += payload.length;
    if (this.#recvConsumed >= CONNECTION_WINDOW / 2) {
      this.#write(windowUpdateFrame(0, this.#recvConsumed));
      this.#recvWindow += this.#recvConsumed;
      this.#recvConsumed = 0;
    }
    const data = this.#unpad(flags, payload, 'DATA');
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (payload.length === 0 && !endStream) this.#countEmpty('DATA');
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      if (this.#neverOpened(streamId))
        throw new ConnectionError(
          H2Error.PROTOCOL_ERROR,
          `DATA on stream ${streamId}, which was never opened`,
        );
      this.#onClosedStream(streamId);
      return;
    }
    if (stream.remoteEnded) {
      this.#resetStream(stream, H2Error.STREAM_CLOSED);
      return;
    }
    if (payload.length > stream.recvWindow) {
      this.#resetStream(stream, H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    stream.recvWindow -= payload.length;
    if (data.length > 0 && !stream.responded && !stream.aborted) stream.ondata?.(data);
    if (endStream) this.#remoteEnd(stream);
  }

  #remoteEnd(stream: H2Stream): void {
    stream.remoteEnded = true;
    // A stream still in the map after respond() has body or trailers waiting for window:
    // #sendPending finishes (and forgets) it once they are out, not the peer's END_STREAM.
    if (stream.responded) return;
    if (!stream.aborted) stream.onend?.();
  }

  #onHeadersFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let block = this.#unpad(flags, payload, 'HEADERS');
    if ((flags & Flag.PRIORITY) !== 0) {
      if (block.length < 5)
        throw new ConnectionError(
          H2Error.FRAME_SIZE_ERROR,
          'a HEADERS frame too short for its priority fields',
        );
      if ((block.readUInt32BE(0) & 0x7fff_ffff) === streamId)
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `stream ${streamId} depends on itself`);
      block = block.subarray(5);
    }
    if ((flags & Flag.END_HEADERS) === 0) {
      if (block.length === 0) this.#countEmpty('HEADERS');
      this.#continuation = { streamId, flags, chunks: [Buffer.from(block)], size: block.length };
      this.#checkBlockSize(block.length);
      return;
    }
    this.#onHeaderBlock(streamId, flags, block);
  }

  #checkBlockSize(size: number): void {
    // An encoded block is at most a little larger than the list it decodes to.
    const cap = 2 * this.#limits.maxHeaderListBytes + 1024;
    if (size > cap)
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, `a header block larger than ${cap} octets`);
  }

  #onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const c = this.#continuation;
    if (c === undefined || c.streamId !== streamId)
      throw new ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `a CONTINUATION frame on stream ${streamId} with no header block open there`,
      );
    if (payload.length === 0 && (flags & Flag.END_HEADERS) === 0) this.#countEmpty('CONTINUATION');
    c.chunks.push(Buffer.from(payload));
    c.size += payload.length;
    this.#checkBlockSize(c.size);
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.#continuation = undefined;
    this.#onHeaderBlock(streamId, c.flags, Buffer.concat(c.chunks, c.size));
  }

  #onHeaderBlock(streamId: number, flags: number, block: Buffer): void {
    // Always decode: the HPACK dynamic table must stay in step with the peer's encoder.
    let decoded: { fields: [string, string][]; tooLarge: boolean };
    try {
      decoded = this.#decoder.decode(block, this.#limits.maxHeaderListBytes);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(H2Error.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.#streams.get(streamId);
    if (existing !== undefined) {
      // Trailers: they must end the stream; their fields are not used by a unary server.
      if (existing.remoteEnded) this.#resetStream(existing, H2Error.STREAM_CLOSED);
      else if (!endStream) this.#resetStream(existing, H2Error.PROTOCOL_ERROR);
      else this.#remoteEnd(existing);
      return;
    }
    if (streamId % 2 === 0)
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `stream ${streamId} is even; client streams are odd`);
    if (streamId <= this.#lastStreamId) {
      if (this.#neverOpened(streamId))
        throw new ConnectionError(
          H2Error.PROTOCOL_ERROR,
          `HEADERS on stream ${streamId}, which was never opened and is lower than stream ${this.#lastStreamId} already opened; new stream ids must increase (RFC 9113 §5.1.1)`,
        );
      // Trailers of a closed stream; the block was decoded above, so HPACK stays in step.
      this.#onClosedStream(streamId);
      return;
    }
    const next = this.#lastStreamId === 0 ? 1 : this.#lastStreamId + 2;
    if (streamId > next) {
      this.#skipped.push([next, streamId - 2]);
      if (this.#skipped.length > MAX_SKIPPED_RANGES) this.#skipped.shift();
    }
    this.#lastStreamId = streamId;
    if (this.#goingAway) {
      this.#write(rstStreamFrame(streamId, H2Error.REFUSED_STREAM));
      return;
    }
    if (this.#slots >= this.#limits.maxConcurrentStreams) {
      this.#write(rstStreamFrame(streamId, H2Error.REFUSED_STREAM));
      return;
    }
    const headers = decoded.tooLarge ? undefined : requestHeaders(decoded.fields);
    const stream = new H2Stream(
      streamId,
      typeof headers === 'string' || headers === undefined ? {} : headers,
      this,
      this.#peerInitialWindow,
      this.#limits.maxRequestBodyBytes,
    );
    this.#streams.set(streamId, stream);
    this.#slots++;
    stream.remoteEnded = endStream;
    if (headers === undefined) {
      // RFC 6585 §5; the stream answers, the connection goes on.
      stream.respond([[':status', '431']]);
      return;
    }
    if (typeof headers === 'string') {
      this.#resetStream(stream, H2Error.PROTOCOL_ERROR);
      this.#malformed(streamId, headers);
      return;
    }
    this.#hooks.onStream(stream);
    if (endStream && !stream.responded && !stream.aborted) stream.onend?.();
  }

  /**
   * Counts a malformed request, the peer's error and not the server's: a HEADERS frame of a few
   * octets, unauthenticated, costs the client one stream. Only the first of a connection goes to
   * onError; the rest are summed up in one line when the connection ends (#onClose), so a client
   * cannot write one log line per frame.
   */
  #malformed(streamId: number, reason: string): void {
    this.#hooks.onMalformedRequest?.(reason);
    const what = `malformed request on stream ${streamId} from ${this.#peer()}: ${reason}`;
    if (++this.#malformedCount === 1) this.#hooks.onError(new Error(what), 'http2 request');
    else this.#malformedLast = what;
  }

  #peer(): string {
    return (this.#peerName ??= `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`);
  }

  /**
   * True for a client stream id never opened: above every id used (idle), or one the client
   * skipped (closed by §5.1.1, but the client knows it never sent there): any frame on either but
   * PRIORITY is a connection error PROTOCOL_ERROR (§5.1).
   */
  #neverOpened(streamId: number): boolean {
    if (streamId > this.#lastStreamId) return true;
    for (const [first, last] of this.#skipped) if (streamId >= first && streamId <= last) return true;
    return false;
  }

  /**
   * DATA or HEADERS on a closed client stream (RFC 9113 §5.1 "closed", §6.1), after the minimal
   * processing §5.1 asks for (the connection window is counted, a header block decoded).
   * Ended both ways: the client ended it itself, so nothing can be in flight; §6.1's stream error
   * STREAM_CLOSED, once (the stream is then closed by our reset). nghttp2 1.61 (Node 20's) makes
   * this a connection error STREAM_CLOSED, which §5.1 allows; the stream error spares the other
   * streams, as DATA after END_STREAM on a stream still open does.
   * Closed by a RST_STREAM (ours, or the client's): the client may have sent frames before it saw
   * ours, so they are dropped. As in nghttp2, without a timer (§5.1: SHOULD NOT use timers): for
   * the whole connection, and likewise for a stream that has left #endedBothWays.
   */
  #onClosedStream(streamId: number): void {
    if (this.#endedBothWays.delete(streamId)) this.#write(rstStreamFrame(streamId, H2Error.STREAM_CLOSED));
  }

  #onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4)
      throw new ConnectionError(
        H2Error.FRAME_SIZE_ERROR,
        `a RST_STREAM frame of ${payload.length} octets; it must be 4`,
      );
    if (this.#neverOpened(streamId))
      throw new ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `RST_STREAM on stream ${streamId}, which was never opened`,
      );
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    this.#abort(stream, 'stream reset');
    this.#forget(stream);
  }

  #onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0)
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream other than 0');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0)
        throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'a SETTINGS acknowledgement with a payload');
      return;
    }
    if (payload.length % 6 !== 0)
      throw new ConnectionError(
        H2Error.FRAME_SIZE_ERROR,
        `a SETTINGS frame of ${payload.length} octets, not a multiple of 6`,
      );
    if (payload.length === 0 && this.#settingsSeen) this.#countEmpty('SETTINGS');
    this.#settingsSeen = true;
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (id === Setting.ENABLE_PUSH && value > 1)
        throw new ConnectionError(
          H2Error.PROTOCOL_ERROR,
          `SETTINGS_ENABLE_PUSH is ${value}; it must be 0 or 1`,
        );
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW)
          throw new ConnectionError(
            H2Error.FLOW_CONTROL_ERROR,
            `SETTINGS_INITIAL_WINDOW_SIZE ${value} exceeds 2^31-1`,
          );
        const delta = value - this.#peerInitialWindow;
        this.#peerInitialWindow = value;
        for (const s of this.#streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW)
            throw new ConnectionError(
              H2Error.FLOW_CONTROL_ERROR,
              `stream ${s.id}'s window would exceed 2^31-1`,
            );
        }
      }
      if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xff_ffff)
          throw new ConnectionError(
            H2Error.PROTOCOL_ERROR,
            `SETTINGS_MAX_FRAME_SIZE ${value} is outside 16384..16777215`,
          );
        this.#peerMaxFrameSize = value;
      }
      // HEADER_TABLE_SIZE: we never index, so the peer's decoder table size does not matter.
    }
    this.#write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    this.#sendBlocked();
  }

  #onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4)
      throw new ConnectionError(
        H2Error.FRAME_SIZE_ERROR,
        `a WINDOW_UPDATE frame of ${payload.length} octets; it must be 4`,
      );
    const increment = payload.readUInt32BE(0) & 0x7fff_ffff;
    if (streamId === 0) {
      if (increment === 0)
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a WINDOW_UPDATE of 0 on the connection');
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW)
        throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'the connection window would exceed 2^31-1');
      this.#sendBlocked();
      return;
    }
    if (this.#neverOpened(streamId))
      throw new ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `WINDOW_UPDATE on stream ${streamId}, which was never opened`,
      );
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    if (increment === 0) {
      this.#resetStream(stream, H2Error.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      this.#resetStream(stream, H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    this.#sendBlocked();
  }

  // ---- sending ---------------------------------------------------------------------------

  /** @internal Called by H2Stream.respond. */
  sendResponse(
    stream: H2Stream,
    headers: readonly HeaderField[],
    body: Buffer | undefined,
    trailers: readonly HeaderField[] | undefined,
  ): void {
    if (this.#closed) {
      // Nothing can be sent any more: the stream is done on the wire.
      stream.closed = true;
      this.releaseIfFree(stream);
      return;
    }
    const hasBody = body !== undefined && body.length > 0;
    this.#writeHeaders(stream.id, headers, !hasBody && trailers === undefined);
    if (hasBody || trailers !== undefined) {
      stream.pendingBody = hasBody ? body : undefined;
      stream.pendingTrailers = trailers;
      this.#sendPending(stream);
    } else this.#finishLocal(stream);
    this.#scheduleFlush();
  }

  #writeHeaders(streamId: number, fields: readonly HeaderField[], endStream: boolean): void {
    const block = encodeHeaderBlock(fields);
    const max = this.#peerMaxFrameSize;
    const end = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      this.#write(frame(FrameType.HEADERS, end | Flag.END_HEADERS, streamId, block));
      return;
    }
    this.#write(frame(FrameType.HEADERS, end, streamId, block.subarray(0, max)));
    for (let off = max; off < block.length; off += max) {
      const last = off + max >= block.length;
      this.#write(
        frame(FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, streamId, block.subarray(off, off + max)),
      );
    }
  }

  /** Sends as much of the stream's body as the windows allow, then its trailers. */
  #sendPending(stream: H2Stream): void {
    let body = stream.pendingBody;
    while (body !== undefined && body.length > 0) {
      const n = Math.min(body.length, stream.sendWindow, this.#sendWindow, this.#peerMaxFrameSize);
      if (n <= 0) {
        stream.pendingBody = body;
        if (!this.#blocked.includes(stream)) this.#blocked.push(stream);
        return;
      }
      const last = n === body.length && stream.pendingTrailers === undefined;
      this.#write(frame(FrameType.DATA, last ? Flag.END_STREAM : 0, stream.id, body.subarray(0, n)));
      stream.sendWindow -= n;
      this.#sendWindow -= n;
      body = body.subarray(n);
    }
    stream.pendingBody = undefined;
    if (stream.pendingTrailers !== undefined) {
      this.#writeHeaders(stream.id, stream.pendingTrailers, true);
      stream.pendingTrailers = undefined;
    }
    this.#finishLocal(stream);
  }

  #sendBlocked(): void {
    if (this.#blocked.length === 0) return;
    const waiting = this.#blocked;
    this.#blocked = [];
    for (const s of waiting) if (this.#streams.has(s.id)) this.#sendPending(s);
    this.#scheduleFlush();
  }

  /** Our side of the stream is done: free its slot, and reset it if the peer is still sending. */
  #finishLocal(stream: H2Stream): void {
    if (!stream.remoteEnded) this.#write(rstStreamFrame(stream.id, H2Error.NO_ERROR));
    else {
      // Closed by END_STREAM both ways (see #onClosedStream).
      this.#endedBothWays.add(stream.id);
      if (this.#endedBothWays.size > this.#limits.maxConcurrentStreams)
        this.#endedBothWays.delete(this.#endedBothWays.values().next().value as number);
    }
    this.#forget(stream);
  }

  #resetStream(stream: H2Stream, code: number): void {
    this.#write(rstStreamFrame(stream.id, code));
    this.#abort(stream, 'stream reset');
    this.#forget(stream);
  }

  #abort(stream: H2Stream, reason: H2AbortReason): void {
    if (stream.responded || stream.aborted) return;
    stream.aborted = true;
    stream.onabort?.(reason);
    this.releaseIfFree(stream);
  }

  /** Removes a stream that is done on the wire; its slot is freed once no handler holds it. */
  #forget(stream: H2Stream): void {
    this.#streams.delete(stream.id);
    stream.closed = true;
    this.releaseIfFree(stream);
    this.#endIfDrained();
  }

  /**
   * @internal Frees a stream's concurrency slot (once) when both its handler and the wire are done
   * with it: not held (H2Stream.hold/done), and answered and sent, or reset, or lost.
   */
  releaseIfFree(stream: H2Stream): void {
    if (stream.released || stream.held || !(stream.closed || stream.aborted)) return;
    stream.released = true;
    this.#slots--;
    this.#endIfDrained();
  }

  #endIfDrained(): void {
    if (this.#goingAway && this.#slots === 0 && this.#streams.size === 0 && !this.#closed) {
      this.#flush();
      this.socket.end();
    }
  }

  #write(buf: Buffer): void {
    this.#out.push(buf);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    process.nextTick(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Writes what is queued in one TLS write; drops a peer that lets our output pile up. */
  #flush(): void {
    if (this.#out.length === 0 || this.socket.destroyed || !this.socket.writable) {
      this.#out = [];
      return;
    }
    const out = this.#out.length === 1 ? this.#out[0]! : Buffer.concat(this.#out);
    this.#out = [];
    this.socket.write(out);
    if (this.socket.writableLength > this.#limits.maxOutputBufferBytes && !this.#closed) {
      this.#hooks.onError(
        new Error(`the peer does not read: ${this.socket.writableLength} octets waiting`),
        'http2 connection',
      );
      this.socket.destroy();
    }
  }

  #goaway(code: number, message: string, end: boolean): void {
    if (this.#closed) return;
    this.#goingAway = true;
    this.#write(goawayFrame(this.#lastStreamId, code, message));
    this.#flush();
    if (!end) return;
    this.#closed = true;
    for (const s of this.#streams.values()) this.#abort(s, 'connection closed');
    this.socket.end();
    // A peer that never closes its side is cut off after a moment.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  #onClose(): void {
    this.#closed = true;
    for (const s of this.#streams.values()) this.#abort(s, 'connection closed');
    this.#streams.clear();
    this.#blocked = [];
    if (this.#malformedCount > 1)
      this.#hooks.onError(
        new Error(
          `${this.#malformedCount - 1} more malformed requests from ${this.#peer()} on this connection were not logged one by one; the last: ${this.#malformedLast}`,
        ),
        'http2 request',
      );
    this.#hooks.onClose(this);
  }
}

/**
 * The request's header fields as a record, or a string saying why the request is malformed
 * (RFC 9113 §8.2, §8.3.1): names lower-case tokens, values without NUL/CR/LF or surrounding
 * whitespace, pseudo-fields known, once each and before the others, :method/:scheme/:path present,
 * no connection-specific fields, te only "trailers".
 */
export function requestHeaders(fields: readonly HeaderField[]): Record<string, string> | string {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let regularSeen = false;
  for (const [name, value] of fields) {
    if (!FIELD_NAME.test(name))
      return `the field name ${JSON.stringify(name.slice(0, 64))} is not a lower-case token`;
    if (BAD_VALUE.test(value))
      return `the value of ${name} has a control character or surrounding whitespace`;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (regularSeen) return `the pseudo-field ${name} follows a regular field`;
      if (!PSEUDO_REQUEST.has(name)) return `${name} is not a request pseudo-field`;
      if (name in out) return `the pseudo-field ${name} appears twice`;
      out[name] = value;
      continue;
    }
    regularSeen = true;
    if (CONNECTION_SPECIFIC.has(name))
      return `the connection-specific field ${name} is not allowed in HTTP/2`;
    if (name === 'te' && value !== 'trailers') return 'te may only be "trailers"';
    const previous = out[name];
    out[name] = previous === undefined ? value : `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  for (const required of [':method', ':scheme', ':path'])
    if (!(required in out)) return `the request has no ${required}`;
  return out;
}
