// Random 4 KiB reads of a block device with O_DIRECT, for the guest benchmark of the stock-kernel
// initramfs (scripts/stock-kernel/init, stock.rand=<count>): <count> reads, one at a time, at 4 KiB
// aligned offsets below <span> bytes drawn from a fixed 64-bit LCG (the same sequence on every
// boot, so both sides of a comparison read the same blocks). Prints one line,
// "STOCK-RAND 4096 <bytes> <ns>", the time from CLOCK_MONOTONIC around the loop.
// Usage: randread DEVICE COUNT SPAN
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: randread DEVICE COUNT SPAN\n");
    return 2;
  }
  long count = atol(argv[2]);
  long long blocks = atoll(argv[3]) / 4096;
  if (count <= 0 || blocks <= 0) {
    fprintf(stderr, "randread: COUNT and SPAN must be positive\n");
    return 2;
  }
  int fd = open(argv[1], O_RDONLY | O_DIRECT);
  if (fd < 0) {
    perror(argv[1]);
    return 1;
  }
  void *buf;
  if (posix_memalign(&buf, 4096, 4096) != 0) return 1;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < count; i++) {
    // Knuth's MMIX LCG; the high bits are the well-mixed ones.
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    off_t off = (off_t)((x >> 20) % (uint64_t)blocks) * 4096;
    if (pread(fd, buf, 4096, off) != 4096) {
      perror("randread: pread");
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  long long ns = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
  printf("STOCK-RAND 4096 %lld %lld\n", (long long)count * 4096, ns);
  return 0;
}
