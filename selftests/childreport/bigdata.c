// SPDX-License-Identifier: GPL-2.0
/*
 * bigdata-static: a static program with 1 MiB of initialized data, which
 * exec maps after its point of no return. Under an RLIMIT_DATA smaller
 * than that the mapping fails and the new program dies of SIGSEGV, as
 * after any execve() that fails that late; without such a limit it reads
 * every page of the array and exits 0.
 * Build: gcc -static -O2 -o bigdata-static bigdata.c
 */
static volatile char big[1 << 20] = { 1 };

int main(void)
{
	unsigned long i, sum = 0;

	for (i = 0; i < sizeof(big); i += 4096)
		sum += big[i];
	return sum == 1 ? 0 : 1;
}
