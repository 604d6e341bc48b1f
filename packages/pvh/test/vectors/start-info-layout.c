/*
 * Prints the layout of Xen's hvm_start_info structures as JSON, from the real header
 * (Linux 6.1 include/xen/interface/hvm/start_info.h, as shipped in Debian's linux-source-6.1).
 * Also fills one instance of each struct with fixed values and dumps its bytes, so the
 * TypeScript encoders can be compared with bytes laid out by the C compiler.
 * Built and run by gen-start-info-layout.sh; see README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "start_info.h"

#define FIELD(s, f) printf("      \"%s\": { \"offset\": %zu, \"size\": %zu }", #f, offsetof(struct s, f), sizeof(((struct s *)0)->f))

static void hex(const char *name, const void *p, size_t n, int last) {
  const unsigned char *b = p;
  printf("    \"%s\": \"", name);
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
  printf("\"%s\n", last ? "" : ",");
}

int main(void) {
  struct hvm_start_info si;
  struct hvm_modlist_entry mod;
  struct hvm_memmap_table_entry mm[2];
  memset(&si, 0, sizeof si);
  memset(&mod, 0, sizeof mod);
  memset(mm, 0, sizeof mm);
  si.magic = XEN_HVM_START_MAGIC_VALUE;
  si.version = 1;
  si.flags = 0x11223344u;
  si.nr_modules = 1;
  si.modlist_paddr = 0x6040;
  si.cmdline_paddr = 0x20000;
  si.rsdp_paddr = 0x1122334455667788ull;
  si.memmap_paddr = 0x7000;
  si.memmap_entries = 2;
  si.reserved = 0;
  mod.paddr = 0x0102030405060708ull;
  mod.size = 0x1000;
  mod.cmdline_paddr = 0xfedcba9876543210ull;
  mm[0].addr = 0;
  mm[0].size = 0x9fc00;
  mm[0].type = XEN_HVM_MEMMAP_TYPE_RAM;
  mm[1].addr = 0x100000000ull;
  mm[1].size = 0xffffffffffff0000ull;
  mm[1].type = XEN_HVM_MEMMAP_TYPE_PMEM;

  printf("{\n");
  printf("  \"source\": \"linux-source-6.1: include/xen/interface/hvm/start_info.h\",\n");
  printf("  \"XEN_HVM_START_MAGIC_VALUE\": %u,\n", (unsigned)XEN_HVM_START_MAGIC_VALUE);
  printf("  \"memmapTypes\": { \"RAM\": %d, \"RESERVED\": %d, \"ACPI\": %d, \"NVS\": %d, \"UNUSABLE\": %d, \"DISABLED\": %d, \"PMEM\": %d },\n",
         XEN_HVM_MEMMAP_TYPE_RAM, XEN_HVM_MEMMAP_TYPE_RESERVED, XEN_HVM_MEMMAP_TYPE_ACPI, XEN_HVM_MEMMAP_TYPE_NVS,
         XEN_HVM_MEMMAP_TYPE_UNUSABLE, XEN_HVM_MEMMAP_TYPE_DISABLED, XEN_HVM_MEMMAP_TYPE_PMEM);
  printf("  \"hvm_start_info\": {\n    \"size\": %zu,\n    \"fields\": {\n", sizeof(struct hvm_start_info));
  FIELD(hvm_start_info, magic); printf(",\n");
  FIELD(hvm_start_info, version); printf(",\n");
  FIELD(hvm_start_info, flags); printf(",\n");
  FIELD(hvm_start_info, nr_modules); printf(",\n");
  FIELD(hvm_start_info, modlist_paddr); printf(",\n");
  FIELD(hvm_start_info, cmdline_paddr); printf(",\n");
  FIELD(hvm_start_info, rsdp_paddr); printf(",\n");
  FIELD(hvm_start_info, memmap_paddr); printf(",\n");
  FIELD(hvm_start_info, memmap_entries); printf(",\n");
  FIELD(hvm_start_info, reserved); printf("\n    }\n  },\n");
  printf("  \"hvm_modlist_entry\": {\n    \"size\": %zu,\n    \"fields\": {\n", sizeof(struct hvm_modlist_entry));
  FIELD(hvm_modlist_entry, paddr); printf(",\n");
  FIELD(hvm_modlist_entry, size); printf(",\n");
  FIELD(hvm_modlist_entry, cmdline_paddr); printf(",\n");
  FIELD(hvm_modlist_entry, reserved); printf("\n    }\n  },\n");
  printf("  \"hvm_memmap_table_entry\": {\n    \"size\": %zu,\n    \"fields\": {\n", sizeof(struct hvm_memmap_table_entry));
  FIELD(hvm_memmap_table_entry, addr); printf(",\n");
  FIELD(hvm_memmap_table_entry, size); printf(",\n");
  FIELD(hvm_memmap_table_entry, type); printf(",\n");
  FIELD(hvm_memmap_table_entry, reserved); printf("\n    }\n  },\n");
  printf("  \"golden\": {\n");
  printf("    \"startInfo\": { \"magic\": %u, \"version\": %u, \"flags\": %u, \"nrModules\": %u, \"modlistPaddr\": \"0x%llx\", \"cmdlinePaddr\": \"0x%llx\", \"rsdpPaddr\": \"0x%llx\", \"memmapPaddr\": \"0x%llx\", \"memmapEntries\": %u },\n",
         si.magic, si.version, si.flags, si.nr_modules, (unsigned long long)si.modlist_paddr, (unsigned long long)si.cmdline_paddr,
         (unsigned long long)si.rsdp_paddr, (unsigned long long)si.memmap_paddr, si.memmap_entries);
  printf("    \"module\": { \"paddr\": \"0x%llx\", \"size\": \"0x%llx\", \"cmdlinePaddr\": \"0x%llx\" },\n",
         (unsigned long long)mod.paddr, (unsigned long long)mod.size, (unsigned long long)mod.cmdline_paddr);
  printf("    \"memmap\": [");
  for (int i = 0; i < 2; i++)
    printf("%s{ \"addr\": \"0x%llx\", \"size\": \"0x%llx\", \"type\": %u }", i ? ", " : "", (unsigned long long)mm[i].addr,
           (unsigned long long)mm[i].size, mm[i].type);
  printf("],\n");
  hex("startInfoBytes", &si, sizeof si, 0);
  hex("moduleBytes", &mod, sizeof mod, 0);
  hex("memmapBytes", mm, sizeof mm, 1);
  printf("  }\n}\n");
  return 0;
}
