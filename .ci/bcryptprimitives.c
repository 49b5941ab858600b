/*
 * bcryptprimitives.dll for Wine 8, which lacks it: Go 1.24 and later load
 * ProcessPrng from it at start-up and die without it. This shim fills the
 * buffer from RtlGenRandom (advapi32's SystemFunction036), which Wine has.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *            bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

/* RtlGenRandom takes a ULONG length; larger requests go in pieces. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x80000000u ? 0x80000000u : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
