/**
 * A 16550A UART (National Semiconductor PC16550D datasheet; register layout as Linux's
 * include/uapi/linux/serial_reg.h names it), complete enough for Linux's 8250 driver: divisor
 * latch, LCR, IER, IIR/FCR with a 16-byte receive FIFO, MCR with loopback, LSR, MSR and scratch.
 *
 * Its whole state lives in a SharedArrayBuffer guarded by a lock, so that any vCPU thread can
 * serve the guest's port accesses directly while the host pushes input from
 * another thread. Transmission is instantaneous: THR is always empty again right after a write.
 */

/**
 * Register offsets from the base port (serial_reg.h `UART_*`).
 *
 * @example
 * ```ts
 * uart.write(UART_REG.LCR, 0x03); // 8N1
 * ```
 */
export const UART_REG = {
  /** Receive buffer (read, DLAB=0) / transmit holding (write, DLAB=0) / divisor low (DLAB=1). */
  RBR_THR_DLL: 0,
  /** Interrupt enable (DLAB=0) / divisor high (DLAB=1). */
  IER_DLM: 1,
  /** Interrupt identification (read) / FIFO control (write). */
  IIR_FCR: 2,
  /** Line control. */
  LCR: 3,
  /** Modem control. */
  MCR: 4,
  /** Line status. */
  LSR: 5,
  /** Modem status. */
  MSR: 6,
  /** Scratch. */
  SCR: 7,
} as const;

// Bits, as serial_reg.h names them.
const IER_RDI = 0x01; // received data available
const IER_THRI = 0x02; // transmitter holding register empty
const IER_RLSI = 0x04; // receiver line status
const IER_MSI = 0x08; // modem status
const IIR_NO_INT = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_FIFO_ENABLED = 0xc0;
const FCR_ENABLE = 0x01;
const FCR_CLEAR_RCVR = 0x02;
const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_ERRORS = 0x1e;
const MSR_CARRIER = 0xb0; // DCD | DSR | CTS: a connected terminal
const FIFO_SIZE = 16;

// Layout of the shared state (Int32 slots).
const S_LOCK = 0;
const S_IER = 1;
const S_LCR = 2;
const S_MCR = 3;
const S_LSR_ERR = 4;
const S_MSR = 5;
const S_SCR = 6;
const S_DLL = 7;
const S_DLM = 8;
const S_FCR = 9;
const S_THR_PENDING = 10;
const S_RX_COUNT = 11;
const S_RX_HEAD = 12;
const S_IRQ_LEVEL = 13;
const S_RX_SEQ = 14; // bumped whenever the guest takes a byte: input pumps wait on it
const S_TX_BYTES = 15;
const S_OVERRUNS = 16;
const S_RX_FIFO = 17; // 16 slots
const SLOTS = S_RX_FIFO + FIFO_SIZE;

// Atomics.waitAsync is in Node 20 but only in TypeScript's es2024 lib.
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number, t: number): { value: Promise<string> | string };
}).waitAsync;

/**
 * Bytes of SharedArrayBuffer a {@link Uart16550} needs.
 *
 * @example
 * ```ts
 * const state = new SharedArrayBuffer(UART_STATE_BYTES); // what Uart16550.createState() allocates
 * ```
 */
export const UART_STATE_BYTES: number = SLOTS * 4;

/**
 * What a {@link Uart16550} calls out to. Each thread that uses the UART gives its own.
 *
 * @example
 * ```ts
 * const sinks: UartSinks = { output: (b) => process.stdout.write(b), irq: (level) => console.log("IRQ4", level) };
 * ```
 */
export interface UartSinks {
  /** The guest transmitted these bytes (called with the lock held; keep it short, never block). */
  output?(bytes: Uint8Array): void;
  /** The interrupt output changed level (called with the lock held). */
  irq?(level: boolean): void;
}

/**
 * One 16550A over shared state. Create the state once with {@link Uart16550.createState}, then a
 * `Uart16550` view of it in every thread that touches the UART, each with its own sinks.
 *
 * The interrupt output is the OR of the enabled, pending conditions (receive line status,
 * received data, THR empty, modem status), as QEMU's serial model drives it (not gated by OUT2).
 *
 * @example
 * ```ts
 * const state = Uart16550.createState();
 * const uart = new Uart16550(state, { output: (b) => process.stdout.write(b), irq: (l) => vm.irqLine(4, l) });
 * uart.write(0, 0x41); // the guest writes "A" to THR
 * ```
 */
export class Uart16550 {
  private readonly s: Int32Array;
  private readonly sinks: UartSinks;
  private readonly one = new Uint8Array(1);

  /**
   * Allocates zeroed shared state for one UART.
   *
   * @returns a SharedArrayBuffer of {@link UART_STATE_BYTES} bytes
   * @example
   * ```ts
   * const state = Uart16550.createState(); // post it to the vCPU workers
   * ```
   */
  static createState(): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(UART_STATE_BYTES);
    const s = new Int32Array(sab);
    s[S_MSR] = MSR_CARRIER;
    return sab;
  }

  /**
   * A view of a UART's shared state.
   *
   * @param state - from {@link Uart16550.createState}
   * @param sinks - where this thread sends output bytes and interrupt changes
   */
  constructor(state: SharedArrayBuffer, sinks: UartSinks = {}) {
    this.s = new Int32Array(state, 0, SLOTS);
    this.sinks = sinks;
  }

  private lock(): void {
    // Contention is rare (a vCPU and the input pump); spin briefly, then sleep on the slot.
    for (let i = 0; Atomics.compareExchange(this.s, S_LOCK, 0, 1) !== 0; i++) {
      if (i > 100) Atomics.wait(this.s, S_LOCK, 1, 1);
    }
  }

  private unlock(): void {
    Atomics.store(this.s, S_LOCK, 0);
    Atomics.notify(this.s, S_LOCK, 1);
  }

  private get(i: number): number {
    return this.s[i] ?? 0;
  }

  private set(i: number, v: number): void {
    this.s[i] = v;
  }

  private fifoSize(): number {
    return this.get(S_FCR) & FCR_ENABLE ? FIFO_SIZE : 1;
  }

  private lsr(): number {
    return (this.get(S_RX_COUNT) > 0 ? LSR_DR : 0) | this.get(S_LSR_ERR) | LSR_THRE | LSR_TEMT;
  }

  private pendingIir(): number {
    const ier = this.get(S_IER);
    if (ier & IER_RLSI && this.get(S_LSR_ERR) & LSR_ERRORS) return IIR_RLSI;
    if (ier & IER_RDI && this.get(S_RX_COUNT) > 0) return IIR_RDI;
    if (ier & IER_THRI && this.get(S_THR_PENDING)) return IIR_THRI;
    if (ier & IER_MSI && this.get(S_MSR) & 0x0f) return IIR_MSI;
    return IIR_NO_INT;
  }

  private updateIrq(): void {
    const level = this.pendingIir() !== IIR_NO_INT ? 1 : 0;
    if (level !== this.get(S_IRQ_LEVEL)) {
      this.set(S_IRQ_LEVEL, level);
      this.sinks.irq?.(level === 1);
    }
  }

  private receive(byte: number): boolean {
    const count = this.get(S_RX_COUNT);
    if (count >= this.fifoSize()) {
      this.set(S_LSR_ERR, this.get(S_LSR_ERR) | LSR_OE);
      this.set(S_OVERRUNS, this.get(S_OVERRUNS) + 1);
      return false;
    }
    this.set(S_RX_FIFO + ((this.get(S_RX_HEAD) + count) % FIFO_SIZE), byte);
    this.set(S_RX_COUNT, count + 1);
    return true;
  }

  private setMcr(value: number): void {
    const old = this.get(S_MSR);
    let msr: number;
    if (value & MCR_LOOP) {
      // Loopback: CTS <- RTS, DSR <- DTR, RI <- OUT1, DCD <- OUT2 (PC16550D §8.6.5).
      msr = ((value & 0x02) << 3) | ((value & 0x01) << 5) | ((value & 0x04) << 4) | ((value & 0x08) << 4);
    } else {
      msr = MSR_CARRIER;
    }
    const changed = (old ^ msr) & 0xf0;
    // Delta bits: DCTS, DDSR, TERI (RI went 1 -> 0), DDCD.
    let delta = old & 0x0f;
    if (changed & 0x10) delta |= 0x01;
    if (changed & 0x20) delta |= 0x02;
    if (changed & 0x40 && !(msr & 0x40)) delta |= 0x04;
    if (changed & 0x80) delta |= 0x08;
    this.set(S_MCR, value & 0x1f);
    this.set(S_MSR, msr | delta);
  }

  /**
   * A guest read of the register at `offset` (0..7).
   *
   * @param offset - register offset from the base port
   * @returns the register's value (u8)
   * @example
   * ```ts
   * const lsr = uart.read(UART_REG.LSR);
   * ```
   */
  read(offset: number): number {
    this.lock();
    try {
      const dlab = this.get(S_LCR) & LCR_DLAB;
      let v = 0;
      switch (offset & 7) {
        case 0:
          if (dlab) v = this.get(S_DLL);
          else {
            const count = this.get(S_RX_COUNT);
            if (count > 0) {
              const head = this.get(S_RX_HEAD);
              v = this.get(S_RX_FIFO + head);
              this.set(S_RX_HEAD, (head + 1) % FIFO_SIZE);
              this.set(S_RX_COUNT, count - 1);
              Atomics.add(this.s, S_RX_SEQ, 1);
              Atomics.notify(this.s, S_RX_SEQ);
            }
          }
          break;
        case 1:
          v = dlab ? this.get(S_DLM) : this.get(S_IER);
          break;
        case 2: {
          const iir = this.pendingIir();
          // Reading IIR while THRE is the reported source clears it (PC16550D table IV).
          if (iir === IIR_THRI) this.set(S_THR_PENDING, 0);
          v = iir | (this.get(S_FCR) & FCR_ENABLE ? IIR_FIFO_ENABLED : 0);
          break;
        }
        case 3:
          v = this.get(S_LCR);
          break;
        case 4:
          v = this.get(S_MCR);
          break;
        case 5:
          v = this.lsr();
          this.set(S_LSR_ERR, 0); // reading LSR clears OE, PE, FE and BI
          break;
        case 6:
          v = this.get(S_MSR);
          this.set(S_MSR, v & 0xf0); // reading MSR clears the delta bits
          break;
        default:
          v = this.get(S_SCR);
      }
      this.updateIrq();
      return v & 0xff;
    } finally {
      this.unlock();
    }
  }

  /**
   * A guest write of `value` to the register at `offset` (0..7).
   *
   * @param offset - register offset from the base port
   * @param value - the byte written
   * @example
   * ```ts
   * uart.write(UART_REG.LCR, 0x83); // 8N1 with DLAB set
   * ```
   */
  write(offset: number, value: number): void {
    this.lock();
    try {
      const v = value & 0xff;
      const dlab = this.get(S_LCR) & LCR_DLAB;
      switch (offset & 7) {
        case 0:
          if (dlab) this.set(S_DLL, v);
          else {
            if (this.get(S_MCR) & MCR_LOOP) this.receive(v);
            else {
              this.one[0] = v;
              this.set(S_TX_BYTES, this.get(S_TX_BYTES) + 1);
              this.sinks.output?.(this.one);
            }
            // The byte left at once: THR is empty again, which is an interrupt condition.
            this.set(S_THR_PENDING, 1);
          }
          break;
        case 1:
          if (dlab) this.set(S_DLM, v);
          else {
            const old = this.get(S_IER);
            this.set(S_IER, v & 0x0f);
            // Enabling THRI while THR is empty raises it at once (Linux's 8250 probes this).
            if (v & IER_THRI && !(old & IER_THRI)) this.set(S_THR_PENDING, 1);
          }
          break;
        case 2:
          if (v & FCR_CLEAR_RCVR || (v & FCR_ENABLE) !== (this.get(S_FCR) & FCR_ENABLE)) {
            this.set(S_RX_COUNT, 0);
            this.set(S_RX_HEAD, 0);
          }
          this.set(S_FCR, v & 0xc9);
          break;
        case 3:
          this.set(S_LCR, v);
          break;
        case 4:
          this.setMcr(v);
          break;
        case 5:
        case 6:
          break; // LSR and MSR are read-only (factory test only)
        default:
          this.set(S_SCR, v);
      }
      this.updateIrq();
    } finally {
      this.unlock();
    }
  }

  /**
   * Host input: puts bytes into the receive FIFO, as many as it has room for. The rest waits: call
   * again once the guest has read (see {@link Uart16550.waitForRoom}). Bytes are never dropped.
   *
   * @param bytes - input bytes
   * @returns how many bytes were taken
   * @example
   * ```ts
   * let sent = 0;
   * while (sent < line.length) sent += uart.pushInput(line.subarray(sent)) || (await uart.waitForRoom(), 0);
   * ```
   */
  pushInput(bytes: Uint8Array): number {
    this.lock();
    try {
      if (this.get(S_MCR) & MCR_LOOP) return 0; // in loopback the serial input is disconnected
      let n = 0;
      const room = this.fifoSize() - this.get(S_RX_COUNT);
      while (n < bytes.length && n < room) this.receive(bytes[n++] ?? 0);
      this.updateIrq();
      return n;
    } finally {
      this.unlock();
    }
  }

  /**
   * Signals a break condition on the line (BI in LSR, a receive line status interrupt).
   *
   * @example
   * ```ts
   * uart.sendBreak(); // what a Ctrl-Break on the host terminal would do
   * ```
   */
  sendBreak(): void {
    this.lock();
    try {
      this.set(S_LSR_ERR, this.get(S_LSR_ERR) | LSR_BI);
      this.updateIrq();
    } finally {
      this.unlock();
    }
  }

  /**
   * Resolves once the guest has taken a byte from the receive FIFO (or after `timeoutMs`).
   *
   * @param timeoutMs - the longest wait; default 1000
   * @returns when there may be room again
   * @example
   * ```ts
   * await uart.waitForRoom();
   * ```
   */
  async waitForRoom(timeoutMs = 1000): Promise<void> {
    const seq = Atomics.load(this.s, S_RX_SEQ);
    if (this.get(S_RX_COUNT) < this.fifoSize()) return;
    await waitAsync(this.s, S_RX_SEQ, seq, timeoutMs).value;
  }

  /**
   * Counters since the state was created.
   *
   * @returns bytes transmitted by the guest, receive overruns, and the interrupt line's level
   * @example
   * ```ts
   * uart.stats().txBytes;
   * ```
   */
  stats(): {
    /** Bytes the guest transmitted. */
    txBytes: number;
    /** Bytes lost to receive overruns. */
    overruns: number;
    /** The interrupt output's level. */
    irq: boolean;
  } {
    return { txBytes: this.get(S_TX_BYTES), overruns: this.get(S_OVERRUNS), irq: this.get(S_IRQ_LEVEL) === 1 };
  }
}
