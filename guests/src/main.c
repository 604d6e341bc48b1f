/* The guest's main line: boot checks, legacy devices, MPTable, SMP, virtio, summary, exit. */
#include "guest.h"

void guest_main(u32 start_info) {
	out_init();
	outf("begin microvm-guest format=1 arch=%s\n", arch_name);
	check_start_info(start_info);
	out_select_uart();
	info("cmdline %s", cmdline_raw());
	info("tsc khz=%u (timeouts)", get_tsc_khz());
	lapic_enable();
	uart_probe_and_check();
	char mode[16];
	check_mptable();
	if (param_str("microvm.dump", mode, sizeof(mode)) && (mode[0] == '1' || !strncmp(mode, "all", 4))) {
		/* dump mode: the tables only, no SMP or devices */
		dump_memory(mode[0] == 'a');
		summary();
		outf("end\n");
		guest_exit();
	}
	check_smp();
	uart_irq_check();
	check_virtio_all();
	summary();
	if (param_str("microvm.reboot", mode, sizeof(mode)) && !strncmp(mode, "kbd", 4)) {
		/* i8042 "pulse reset line" command; a VMM that implements it ends the VM here. */
		outf("reboot kbd\n");
		outb(0x64, 0xfe);
		delay_us(500000);
		check(0, "reboot.kbd", "reset", "still_running");
		summary();
	}
	outf("end\n");
	guest_exit();
}
