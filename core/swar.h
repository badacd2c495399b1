/*
 * swar.h: eight bytes at a time in a 64-bit word.
 *
 * Owns: the bit tricks the readers share for scanning text a word at a
 * time (which bytes are zero, which equal a given byte, how many are
 * flagged), exact for every byte, so the callers need no second look.
 *
 * Never: reads memory itself; callers load words within their buffers.
 */
#ifndef SE_SWAR_H
#define SE_SWAR_H

#include <stdint.h>
#include <string.h>

#define SE_SWAR_HIGH 0x8080808080808080ull
#define SE_SWAR_ONES 0x0101010101010101ull

/* Exactly the zero bytes of w, each as 0x80.  The usual (w - ONES) & ~w
 * also flags a 0x01 above a zero byte (the borrow); here the sum cannot
 * carry from one byte into the next. */
static inline uint64_t se_swar_zero(uint64_t w)
{
	const uint64_t low7 = ~SE_SWAR_HIGH;

	return ~(((w & low7) + low7) | w) & SE_SWAR_HIGH;
}

/* The bytes of w equal to c, each as 0x80. */
static inline uint64_t se_swar_equal(uint64_t w, unsigned char c)
{
	return se_swar_zero(w ^ (SE_SWAR_ONES * c));
}

/* How many bytes are flagged (bit 7 of each), without a popcount
 * instruction the baseline target may lack. */
static inline unsigned se_swar_count(uint64_t flags)
{
	return (unsigned)(((flags >> 7) * SE_SWAR_ONES) >> 56);
}

/* Eight bytes as a word whose byte k is p[k] (low bits first), on any
 * machine. */
static inline uint64_t se_swar_load(const void *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

#endif
