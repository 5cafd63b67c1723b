/*
 * A stand-in for Windows' bcryptprimitives.dll, for running commlab's
 * Windows binaries under Wine 8 in tests only.
 *
 * Rust's standard library imports ProcessPrng from bcryptprimitives.dll,
 * which Windows 10 and later ship. Wine 8.0 (Debian bookworm's) has no such
 * DLL, so every Rust .exe fails to load there with "Library
 * bcryptprimitives.dll not found". This file answers ProcessPrng with
 * RtlGenRandom (advapi32's SystemFunction036), which Wine has; real Windows
 * never loads it. scripts/windows/run builds it with mingw-w64 and puts it
 * in the Wine prefix's system32.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
