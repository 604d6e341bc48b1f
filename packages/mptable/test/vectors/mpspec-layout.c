/*
 * Prints the sizes, field offsets and constants of Linux's MP table structures as JSON.
 * Compiled against arch/x86/include/asm/mpspec_def.h from Debian's linux-source package by
 * gen-mpspec-layout.sh; its output (mpspec-layout.json) is committed and compared with
 * @microvm/mptable's own layout constants by test/layout.test.ts.
 */
#include <stddef.h>
#include <stdio.h>
#include "mpspec_def.h"

#define FIELD(s, f) printf("      \"%s\": { \"offset\": %zu, \"size\": %zu },\n", #f, offsetof(struct s, f), sizeof(((struct s *)0)->f))
#define LAST_FIELD(s, f) printf("      \"%s\": { \"offset\": %zu, \"size\": %zu }\n", #f, offsetof(struct s, f), sizeof(((struct s *)0)->f))
#define BEGIN(s) printf("    \"%s\": {\n      \"sizeof\": %zu,\n", #s, sizeof(struct s))
#define END(last) printf("    }%s\n", last ? "" : ",")
#define CONST(n) printf("    \"%s\": %lld,\n", #n, (long long)(n))
#define LAST_CONST(n) printf("    \"%s\": %lld\n", #n, (long long)(n))

int main(void) {
  printf("{\n  \"source\": \"linux-source-6.1: arch/x86/include/asm/mpspec_def.h\",\n  \"structs\": {\n");
  BEGIN(mpf_intel);
  FIELD(mpf_intel, signature); FIELD(mpf_intel, physptr); FIELD(mpf_intel, length);
  FIELD(mpf_intel, specification); FIELD(mpf_intel, checksum); FIELD(mpf_intel, feature1);
  FIELD(mpf_intel, feature2); FIELD(mpf_intel, feature3); FIELD(mpf_intel, feature4);
  LAST_FIELD(mpf_intel, feature5);
  END(0);
  BEGIN(mpc_table);
  FIELD(mpc_table, signature); FIELD(mpc_table, length); FIELD(mpc_table, spec);
  FIELD(mpc_table, checksum); FIELD(mpc_table, oem); FIELD(mpc_table, productid);
  FIELD(mpc_table, oemptr); FIELD(mpc_table, oemsize); FIELD(mpc_table, oemcount);
  FIELD(mpc_table, lapic); LAST_FIELD(mpc_table, reserved);
  END(0);
  BEGIN(mpc_cpu);
  FIELD(mpc_cpu, type); FIELD(mpc_cpu, apicid); FIELD(mpc_cpu, apicver); FIELD(mpc_cpu, cpuflag);
  FIELD(mpc_cpu, cpufeature); FIELD(mpc_cpu, featureflag); LAST_FIELD(mpc_cpu, reserved);
  END(0);
  BEGIN(mpc_bus);
  FIELD(mpc_bus, type); FIELD(mpc_bus, busid); LAST_FIELD(mpc_bus, bustype);
  END(0);
  BEGIN(mpc_ioapic);
  FIELD(mpc_ioapic, type); FIELD(mpc_ioapic, apicid); FIELD(mpc_ioapic, apicver);
  FIELD(mpc_ioapic, flags); LAST_FIELD(mpc_ioapic, apicaddr);
  END(0);
  BEGIN(mpc_intsrc);
  FIELD(mpc_intsrc, type); FIELD(mpc_intsrc, irqtype); FIELD(mpc_intsrc, irqflag);
  FIELD(mpc_intsrc, srcbus); FIELD(mpc_intsrc, srcbusirq); FIELD(mpc_intsrc, dstapic);
  LAST_FIELD(mpc_intsrc, dstirq);
  END(0);
  BEGIN(mpc_lintsrc);
  FIELD(mpc_lintsrc, type); FIELD(mpc_lintsrc, irqtype); FIELD(mpc_lintsrc, irqflag);
  FIELD(mpc_lintsrc, srcbusid); FIELD(mpc_lintsrc, srcbusirq); FIELD(mpc_lintsrc, destapic);
  LAST_FIELD(mpc_lintsrc, destapiclint);
  END(1);
  printf("  },\n  \"constants\": {\n");
  CONST(SMP_MAGIC_IDENT);
  CONST(MP_PROCESSOR); CONST(MP_BUS); CONST(MP_IOAPIC); CONST(MP_INTSRC); CONST(MP_LINTSRC);
  CONST(MP_TRANSLATION);
  CONST(CPU_ENABLED); CONST(CPU_BOOTPROCESSOR);
  CONST(MPC_APIC_USABLE);
  CONST(mp_INT); CONST(mp_NMI); CONST(mp_SMI); CONST(mp_ExtINT);
  CONST(MP_IRQPOL_DEFAULT); CONST(MP_IRQPOL_ACTIVE_HIGH); CONST(MP_IRQPOL_RESERVED);
  CONST(MP_IRQPOL_ACTIVE_LOW); CONST(MP_IRQPOL_MASK);
  CONST(MP_IRQTRIG_DEFAULT); CONST(MP_IRQTRIG_EDGE); CONST(MP_IRQTRIG_RESERVED);
  CONST(MP_IRQTRIG_LEVEL); CONST(MP_IRQTRIG_MASK);
  LAST_CONST(MP_APIC_ALL);
  printf("  }\n}\n");
  return 0;
}
