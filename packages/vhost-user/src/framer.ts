// Cutting a vhost-user byte stream into messages: each message is the 12-byte header, then the
// `size` bytes it announces (QEMU docs/interop/vhost-user.rst "Message Specification").
import { checkBytes, checkInt, describe } from "./bytes.js";
import { VHOST_USER_HEADER_SIZE, VHOST_USER_MAX_PAYLOAD } from "./constants.js";
import { VhostUserError } from "./errors.js";

/**
 * One whole message cut from a stream, with the file descriptors that came with its bytes.
 *
 * @example
 * ```ts
 * for (const frame of framer.push(chunk, fds.length)) decodeVhostUserMessage(frame.bytes, frame.fdCount);
 * ```
 */
export interface VhostUserFrame {
  /** The header and the payload, a copy owned by the caller. */
  readonly bytes: Uint8Array;
  /** How many file descriptors arrived with the chunks that started inside this message. */
  readonly fdCount: number;
}

/**
 * Options of {@link VhostUserFramer}.
 *
 * @example
 * ```ts
 * const framer = new VhostUserFramer({ maxPayload: 4096 });
 * ```
 */
export interface VhostUserFramerOptions {
  /** The largest payload a header may announce (0..2^32-1); default {@link VHOST_USER_MAX_PAYLOAD}, 4096. */
  readonly maxPayload?: number;
}

/**
 * Cuts a vhost-user byte stream (what a Unix stream socket delivers, in chunks of any size) into
 * whole messages: the header first, then `size` more bytes. A header announcing more than
 * `maxPayload` bytes is `too-long` as soon as its 12 bytes are in, without waiting for the payload;
 * after that the stream cannot be resynchronised, and every later `push` throws the same error.
 *
 * File descriptors: the socket side passes the count that came with each chunk's ancillary data;
 * they are counted for the message in which the chunk's first byte lies (the kernel delivers
 * SCM_RIGHTS with the first byte of the `sendmsg` that sent them, and front-ends send each message
 * with one `sendmsg`). The framer checks nothing else: {@link decodeVhostUserMessage} does.
 *
 * @example
 * ```ts
 * const framer = new VhostUserFramer();
 * socket.on("data", (chunk, fds) => {
 *   for (const f of framer.push(chunk, fds.length)) handle(decodeVhostUserMessage(f.bytes, f.fdCount), fds);
 * });
 * ```
 */
export class VhostUserFramer {
  readonly #maxPayload: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #fds = 0;
  #failed: VhostUserError | undefined;

  /**
   * Creates a framer with nothing buffered.
   *
   * @param options - `maxPayload`, the payload limit
   * @throws {@link VhostUserError} `invalid-argument` or `out-of-range` for a bad option
   */
  constructor(options: VhostUserFramerOptions = {}) {
    if (typeof options !== "object" || options === null) throw new VhostUserError("invalid-argument", "options", `expected an object, got ${describe(options)}`);
    this.#maxPayload = options.maxPayload === undefined ? VHOST_USER_MAX_PAYLOAD : checkInt("options.maxPayload", options.maxPayload, 0, 0xffffffff);
  }

  /** How many bytes of an unfinished message are held. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Adds the next chunk of the stream and returns the messages it completes, in order.
   *
   * @param chunk - the bytes, in stream order (copied; the caller may reuse it)
   * @param fdCount - the file descriptors that came with this chunk
   * @returns the whole messages completed by this chunk, possibly none
   * @throws {@link VhostUserError} `too-long` when a header announces more than `maxPayload` bytes
   */
  push(chunk: Uint8Array, fdCount = 0): VhostUserFrame[] {
    if (this.#failed !== undefined) throw this.#failed;
    checkBytes("chunk", chunk);
    checkInt("fdCount", fdCount, 0, 0xffff);
    const frames: VhostUserFrame[] = [];
    let at = 0;
    let fds = fdCount;
    // The chunk's descriptors belong to the message its first byte is part of: the one being
    // assembled, or, with nothing buffered, the first message that starts in this chunk.
    if (this.#buffered > 0) {
      this.#fds += fds;
      fds = 0;
    }
    while (at < chunk.length) {
      if (this.#buffered === 0) {
        this.#fds += fds;
        fds = 0;
      }
      const need = this.#need();
      const take = Math.min(need - this.#buffered, chunk.length - at);
      this.#chunks.push(chunk.slice(at, at + take));
      this.#buffered += take;
      at += take;
      if (this.#buffered === VHOST_USER_HEADER_SIZE) this.#checkHeader();
      if (this.#buffered === this.#need() && this.#buffered >= VHOST_USER_HEADER_SIZE) {
        frames.push({ bytes: this.#take(), fdCount: this.#fds });
        this.#fds = 0;
      }
    }
    return frames;
  }

  /** The length of the message being assembled: the header, or the header and its payload. */
  #need(): number {
    if (this.#buffered < VHOST_USER_HEADER_SIZE) return VHOST_USER_HEADER_SIZE;
    return VHOST_USER_HEADER_SIZE + this.#size();
  }

  #size(): number {
    const head = this.#join();
    return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(8, true);
  }

  #join(): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0]!;
    const out = new Uint8Array(this.#buffered);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.#chunks = [out];
    return out;
  }

  #checkHeader(): void {
    const size = this.#size();
    if (size > this.#maxPayload) {
      this.#failed = new VhostUserError("too-long", "header.size", `expected at most ${this.#maxPayload} payload bytes, got ${size}; the stream cannot be resynchronised`);
      throw this.#failed;
    }
  }

  #take(): Uint8Array {
    const out = this.#join();
    this.#chunks = [];
    this.#buffered = 0;
    return out;
  }
}
