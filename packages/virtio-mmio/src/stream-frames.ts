/**
 * The length-prefixed frame stream that QEMU's `-netdev stream` and passt speak on a stream
 * socket: each Ethernet frame is preceded by its length as a 4-byte big-endian integer, with no
 * other header (QEMU net/stream.c and net/net.c `net_fill_rstate`; passt's `tap.c` in its
 * "qemu" mode). A net backend that talks to such a peer encodes what the guest sends with
 * {@link encodeStreamFrame} and feeds what it reads to a {@link StreamFrameDecoder}.
 * @module
 */
import { VirtioError } from "./errors.js";

/**
 * Bytes of the length prefix in front of each frame.
 *
 * @example
 * ```ts
 * const wire = new Uint8Array(STREAM_FRAME_HEADER + frame.length);
 * ```
 */
export const STREAM_FRAME_HEADER = 4;

/**
 * The largest frame a decoder takes by default: QEMU's receive buffer for stream netdevs,
 * `NET_BUFSIZE` = 4096 + 65536 bytes (include/net/net.h). A peer announcing more is broken or
 * hostile: QEMU drops the connection, and so does a {@link StreamFrameDecoder}.
 *
 * @example
 * ```ts
 * const dec = new StreamFrameDecoder({ maxFrame: STREAM_FRAME_MAX });
 * ```
 */
export const STREAM_FRAME_MAX = 69632;

/**
 * Encodes one frame with its 4-byte big-endian length in front.
 *
 * @param frame - the Ethernet frame (any length up to 2^32 - 1; the peer decides what it takes)
 * @returns a new array: the length, then the frame
 * @example
 * ```ts
 * encodeStreamFrame(new Uint8Array([1, 2, 3])); // Uint8Array [0, 0, 0, 3, 1, 2, 3]
 * ```
 */
export function encodeStreamFrame(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(STREAM_FRAME_HEADER + frame.length);
  writeStreamFrame(frame, out, 0);
  return out;
}

/**
 * Writes one frame with its length in front into `out` at `offset` (no allocation: for batching
 * frames into one buffer).
 *
 * @param frame - the Ethernet frame
 * @param out - the destination
 * @param offset - where the length prefix goes
 * @returns the bytes written, 4 + the frame's length
 * @throws VirtioError `out-of-range` when `out` has no room for it at `offset`
 * @example
 * ```ts
 * const buf = new Uint8Array(2048);
 * let at = 0;
 * at += writeStreamFrame(frameA, buf, at);
 * at += writeStreamFrame(frameB, buf, at);
 * ```
 */
export function writeStreamFrame(frame: Uint8Array, out: Uint8Array, offset: number): number {
  const n = STREAM_FRAME_HEADER + frame.length;
  if (!Number.isInteger(offset) || offset < 0 || offset + n > out.length) {
    throw new VirtioError("out-of-range", `offset: a ${n}-byte stream frame does not fit at ${String(offset)} in ${out.length} bytes`);
  }
  const len = frame.length;
  out[offset] = len >>> 24;
  out[offset + 1] = (len >>> 16) & 0xff;
  out[offset + 2] = (len >>> 8) & 0xff;
  out[offset + 3] = len & 0xff;
  out.set(frame, offset + STREAM_FRAME_HEADER);
  return n;
}

/**
 * Options of a {@link StreamFrameDecoder}.
 *
 * @example
 * ```ts
 * const options: StreamFrameDecoderOptions = { maxFrame: 65550 };
 * ```
 */
export interface StreamFrameDecoderOptions {
  /** The largest frame accepted, in bytes, 1..2^32-1 (default {@link STREAM_FRAME_MAX}). */
  readonly maxFrame?: number;
}

/**
 * Splits a byte stream into the frames of a length-prefixed stream, whatever the chunking: a
 * chunk may hold several frames, a part of one, or end inside a length prefix.
 *
 * Frames that lie whole inside one pushed chunk are returned as views of that chunk (no copy):
 * they are valid until the caller reuses the chunk. Frames assembled across chunks are copies.
 * Zero-length frames carry nothing and are counted in {@link StreamFrameDecoder.empty}, not
 * returned.
 *
 * Errors (typed, never a hang): a length above `maxFrame` throws `out-of-range` naming the
 * length and the limit, and the decoder stays failed (every later push throws the same, as the
 * connection is unusable); {@link StreamFrameDecoder.end} throws `truncated` when the stream ended
 * inside a frame.
 *
 * @example
 * ```ts
 * const dec = new StreamFrameDecoder();
 * dec.push(new Uint8Array([0, 0, 0, 2, 0xaa])); // [] (the frame is not complete)
 * dec.push(new Uint8Array([0xbb]));             // [Uint8Array [0xaa, 0xbb]]
 * dec.end();                                     // fine: the stream ended between frames
 * ```
 */
export class StreamFrameDecoder {
  /** The largest frame accepted. */
  readonly maxFrame: number;
  /** Zero-length frames skipped so far. */
  empty = 0;
  private readonly header = new Uint8Array(STREAM_FRAME_HEADER);
  private headerFill = 0;
  private frame: Uint8Array | undefined;
  private frameFill = 0;
  private failure: VirtioError | undefined;

  /**
   * Creates a decoder at the start of a stream.
   *
   * @param options - the frame size limit
   * @throws VirtioError `out-of-range` when `maxFrame` is not an integer in 1..2^32-1
   */
  constructor(options: StreamFrameDecoderOptions = {}) {
    const max = options.maxFrame ?? STREAM_FRAME_MAX;
    if (!Number.isInteger(max) || max < 1 || max > 0xffff_ffff) {
      throw new VirtioError("out-of-range", `maxFrame: expected an integer in 1..4294967295, got ${String(max)}`);
    }
    this.maxFrame = max;
  }

  /**
   * Bytes received that belong to a frame not yet complete (its prefix included).
   *
   * @returns the count; 0 between frames
   * @example
   * ```ts
   * dec.push(new Uint8Array([0, 0])); dec.buffered; // 2
   * ```
   */
  get buffered(): number {
    return this.headerFill + this.frameFill;
  }

  /**
   * Takes the next bytes of the stream.
   *
   * @param chunk - bytes as read from the socket (any length, 0 included)
   * @returns the frames completed by this chunk, in order
   * @throws VirtioError `out-of-range` when a frame's announced length exceeds `maxFrame`
   * @example
   * ```ts
   * for (const f of dec.push(bytesFromSocket)) deliver(f);
   * ```
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failure) throw this.failure;
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.frame === undefined) {
        // A whole prefix and frame inside this chunk: a view, no copy.
        if (this.headerFill === 0 && chunk.length - at >= STREAM_FRAME_HEADER) {
          const len = ((chunk[at] as number) * 0x100_0000 + ((chunk[at + 1] as number) << 16) + ((chunk[at + 2] as number) << 8) + (chunk[at + 3] as number)) >>> 0;
          this.check(len);
          if (len === 0) {
            this.empty++;
            at += STREAM_FRAME_HEADER;
            continue;
          }
          if (chunk.length - at - STREAM_FRAME_HEADER >= len) {
            out.push(chunk.subarray(at + STREAM_FRAME_HEADER, at + STREAM_FRAME_HEADER + len));
            at += STREAM_FRAME_HEADER + len;
            continue;
          }
          this.frame = new Uint8Array(len);
          this.frameFill = 0;
          at += STREAM_FRAME_HEADER;
          continue;
        }
        const take = Math.min(STREAM_FRAME_HEADER - this.headerFill, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill < STREAM_FRAME_HEADER) break;
        this.headerFill = 0;
        const len = new DataView(this.header.buffer).getUint32(0, false);
        this.check(len);
        if (len === 0) {
          this.empty++;
          continue;
        }
        this.frame = new Uint8Array(len);
        this.frameFill = 0;
        continue;
      }
      const take = Math.min(this.frame.length - this.frameFill, chunk.length - at);
      this.frame.set(chunk.subarray(at, at + take), this.frameFill);
      this.frameFill += take;
      at += take;
      if (this.frameFill === this.frame.length) {
        out.push(this.frame);
        this.frame = undefined;
        this.frameFill = 0;
      }
    }
    return out;
  }

  /**
   * The stream ended (the peer closed it): checks that it ended between frames.
   *
   * @throws VirtioError `truncated` naming how much of the last frame arrived; the failure of an
   *   earlier {@link StreamFrameDecoder.push}, if any
   * @example
   * ```ts
   * socket.on("end", () => dec.end());
   * ```
   */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.headerFill > 0) {
      throw new VirtioError("truncated", `stream frame: the stream ended inside a length prefix (${this.headerFill} of ${STREAM_FRAME_HEADER} bytes)`);
    }
    if (this.frame !== undefined) {
      throw new VirtioError("truncated", `stream frame: the stream ended inside a frame (${this.frameFill} of ${this.frame.length} bytes)`);
    }
  }

  private check(len: number): void {
    if (len > this.maxFrame) {
      this.failure = new VirtioError("out-of-range", `stream frame: length ${len} exceeds maxFrame ${this.maxFrame}`);
      throw this.failure;
    }
  }
}
