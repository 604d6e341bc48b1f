import type { MpIoInterrupt } from "./types.js";
import { checkBool, checkInt } from "./bytes.js";

/**
 * Options of {@link identityIrqRouting}.
 *
 * @example
 * ```ts
 * const options: IrqRoutingOptions = { ioApicId: 2, irqs: 24 };
 * const ioInterrupts = identityIrqRouting(options);
 * ```
 */
export interface IrqRoutingOptions {
  /** Id of the I/O APIC the interrupts go to. */
  readonly ioApicId: number;
  /** Id of the source bus (an ISA bus); default 0. */
  readonly sourceBus?: number;
  /** How many IRQs, starting at 0: IRQ n goes to INTIN n; default 16 (the ISA IRQs), 1..256. */
  readonly irqs?: number;
  /**
   * Route ISA IRQ0 (the PIT) to INTIN2 and leave IRQ2 out, as PC firmware (qboot, SeaBIOS) and
   * Linux's default MP configuration do. Default false: KVM's default GSI routing sends GSI 0 to
   * pin 0, so an override in the table needs a matching GSI route.
   */
  readonly irq0Override?: boolean;
}

/**
 * I/O interrupt entries that send bus IRQ n to IOAPIC INTIN n, edge/high as the bus conforms.
 *
 * This mirrors KVM's default GSI routing (`kvm_setup_default_irq_routing` in Linux
 * virt/kvm/irqchip.c and arch/x86/kvm/irq_comm.c: GSI n → IOAPIC pin n), which is also
 * Firecracker's choice (src/vmm/src/arch/x86_64/mptable.rs). With `irq0Override`, the table matches
 * qboot's (bonzini/qboot mptable.c) instead.
 *
 * @param options - IOAPIC id, bus, IRQ count, override
 * @returns one entry per routed IRQ, in IRQ order
 * @throws MptableError `out-of-range` / `invalid-argument` for a bad option
 * @example
 * ```ts
 * const routes = identityIrqRouting({ ioApicId: 2 });
 * routes.length; // 16
 * routes[4];     // { type: "INT", sourceIrq: 4, destApic: 2, destPin: 4, … }
 * ```
 */
export function identityIrqRouting(options: IrqRoutingOptions): MpIoInterrupt[] {
  const ioApicId = checkInt("ioApicId", options.ioApicId, 0, 0xff);
  const sourceBus = checkInt("sourceBus", options.sourceBus ?? 0, 0, 0xff);
  const irqs = checkInt("irqs", options.irqs ?? 16, 1, 256);
  const override = checkBool("irq0Override", options.irq0Override ?? false);
  const out: MpIoInterrupt[] = [];
  for (let irq = 0; irq < irqs; irq++) {
    if (override && irq === 2) continue;
    const destPin = override && irq === 0 ? 2 : irq;
    out.push({ type: "INT", polarity: "conforming", trigger: "conforming", sourceBus, sourceIrq: irq, destApic: ioApicId, destPin });
  }
  return out;
}
