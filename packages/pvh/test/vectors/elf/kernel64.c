/* Freestanding x86-64 code for the 64-bit fixture: something for .text, .data, .bss and the
 * per-CPU segment (whose virtual address is 0, as in Linux's vmlinux). */
unsigned long counter = 0x1122334455667788UL;
static unsigned char big_bss[1 << 20];
__attribute__((section(".data..percpu"))) unsigned long percpu_var[64] = { 1, 2, 3 };

void pvh_start(void) {
  for (;;) {
    big_bss[counter & 0xfffff]++;
    percpu_var[counter & 63]++;
    counter++;
  }
}
