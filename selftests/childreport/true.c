// SPDX-License-Identifier: GPL-2.0
/* true-static: exits 0 at once. Build: gcc -static -O2 -o true-static true.c */
int main(void)
{
	return 0;
}
