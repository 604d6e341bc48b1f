// The 16550A against the PC16550D datasheet's register semantics, as Linux's 8250 driver uses them.
import { describe, expect, it } from "vitest";
import { UART_REG, Uart16550 } from "../src/index.js";

function make() {
  const out: number[] = [];
  const irqs: boolean[] = [];
  const state = Uart16550.createState();
  const uart = new Uart16550(state, { output: (b) => out.push(...b), irq: (l) => irqs.push(l) });
  return { uart, out, irqs, state };
}
const { RBR_THR_DLL: THR, IER_DLM: IER, IIR_FCR: IIR, LCR, MCR, LSR, MSR, SCR } = UART_REG;

describe("16550A", () => {
  it("transmits THR writes and reports THR empty and transmitter empty", () => {
    const { uart, out } = make();
    for (const c of "ok\n") uart.write(THR, c.charCodeAt(0));
    expect(String.fromCharCode(...out)).toBe("ok\n");
    expect(uart.read(LSR) & 0x60).toBe(0x60);
    expect(uart.stats().txBytes).toBe(3);
  });

  it("latches the divisor behind DLAB without touching THR or IER", () => {
    const { uart, out } = make();
    uart.write(LCR, 0x83);
    uart.write(THR, 0x01); // DLL
    uart.write(IER, 0x00); // DLM
    expect(uart.read(THR)).toBe(0x01);
    expect(uart.read(IER)).toBe(0x00);
    uart.write(LCR, 0x03);
    expect(uart.read(LCR)).toBe(0x03);
    expect(uart.read(IER)).toBe(0x00);
    expect(out).toEqual([]);
  });

  it("keeps the scratch register", () => {
    const { uart } = make();
    uart.write(SCR, 0x5a);
    expect(uart.read(SCR)).toBe(0x5a);
  });

  it("reports FIFOs enabled in IIR bits 7:6 after FCR bit 0, none before", () => {
    const { uart } = make();
    expect(uart.read(IIR)).toBe(0x01);
    uart.write(IIR, 0x01);
    expect(uart.read(IIR)).toBe(0xc1);
  });

  it("raises THRE when it is enabled, clears it when IIR is read, and raises it again after a write", () => {
    const { uart, irqs } = make();
    uart.write(IER, 0x02);
    expect(irqs).toEqual([true]);
    expect(uart.read(IIR) & 0x0f).toBe(0x02);
    expect(irqs).toEqual([true, false]);
    expect(uart.read(IIR) & 0x0f).toBe(0x01);
    uart.write(THR, 0x41);
    expect(irqs).toEqual([true, false, true]);
    uart.write(IER, 0x00);
    expect(irqs).toEqual([true, false, true, false]);
  });

  it("receives into a 16-byte FIFO, raises received-data interrupts, and applies back-pressure", () => {
    const { uart, irqs } = make();
    uart.write(IIR, 0x07); // enable and clear FIFOs
    uart.write(IER, 0x01);
    const input = Uint8Array.from({ length: 20 }, (_, i) => 0x30 + i);
    expect(uart.pushInput(input)).toBe(16);
    expect(irqs).toEqual([true]);
    expect(uart.read(LSR) & 1).toBe(1);
    expect(uart.read(IIR) & 0x0f).toBe(0x04);
    const got: number[] = [];
    while (uart.read(LSR) & 1) got.push(uart.read(THR));
    expect(got).toEqual([...input.subarray(0, 16)]);
    expect(irqs).toEqual([true, false]);
    expect(uart.pushInput(input.subarray(16))).toBe(4); // the rest, once there is room
    expect(uart.stats().overruns).toBe(0);
  });

  it("holds one byte without FIFOs", () => {
    const { uart } = make();
    expect(uart.pushInput(Uint8Array.of(1, 2))).toBe(1);
    expect(uart.read(THR)).toBe(1);
  });

  it("gives receive line status priority over received data, and LSR read clears the error", () => {
    const { uart } = make();
    uart.write(IER, 0x05);
    uart.pushInput(Uint8Array.of(7));
    uart.sendBreak();
    expect(uart.read(IIR) & 0x0f).toBe(0x06);
    expect(uart.read(LSR) & 0x10).toBe(0x10);
    expect(uart.read(IIR) & 0x0f).toBe(0x04);
  });

  it("loops THR back to RBR and MCR to MSR in loopback mode", () => {
    const { uart, out } = make();
    uart.write(MCR, 0x10 | 0x01); // LOOP | DTR
    uart.write(THR, 0x99);
    expect(out).toEqual([]);
    expect(uart.read(THR)).toBe(0x99);
    const msr = uart.read(MSR);
    expect(msr & 0xf0).toBe(0x20); // DSR <- DTR; CTS (RTS), RI (OUT1), DCD (OUT2) are 0
    expect(msr & 0x0f).toBe(0x09); // CTS and DCD dropped since reset: DCTS and DDCD
    expect(uart.read(MSR) & 0x0f).toBe(0); // reading MSR cleared them
    expect(uart.pushInput(Uint8Array.of(1))).toBe(0); // the line is disconnected in loopback
  });

  it("reports a connected terminal (DCD, DSR, CTS) outside loopback", () => {
    const { uart } = make();
    expect(uart.read(MSR)).toBe(0xb0);
  });

  it("shares its state between views (threads)", () => {
    const a = make();
    const b = new Uart16550(a.state);
    a.uart.write(SCR, 0x11);
    expect(b.read(SCR)).toBe(0x11);
  });
});
