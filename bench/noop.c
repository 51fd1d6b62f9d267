/*
 * The program every benchmark method spawns: it exits 0 at once. It has no
 * C library start-up (built -static -nostdlib), so a spawn measures the
 * spawn, not the child's own initialisation.
 */

void _start(void)
{
#if defined(__x86_64__)
	__asm__ volatile("mov $231, %eax\n\t"	/* exit_group(0) */
			 "xor %edi, %edi\n\t"
			 "syscall");
#elif defined(__aarch64__)
	__asm__ volatile("mov x8, #94\n\t"	/* exit_group(0) */
			 "mov x0, #0\n\t"
			 "svc #0");
#else
#error "noop.c: add exit_group(0) for this architecture"
#endif
	for (;;)
		;
}
