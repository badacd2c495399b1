/*
 * encoding.c: whole input files as UTF-8 (see encoding.h).
 *
 * Adapter inputs are API dumps and UI exports of a day's or a month's data
 * (megabytes, not the gigabytes the canonical CSV import streams), and the
 * JSON ones must be parsed whole anyway, so a file is read into memory
 * once and converted in one iconv pass.
 */
#include "encoding.h"
#include "utf8.h"
#include "vec.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int read_all(const char *path, char **out, size_t *len, se_error *err)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = SE_OK;

	*out = NULL;
	*len = 0;
	if (fp == NULL)
		return se_error_set(err, SE_EIO, "cannot open %s: %s", path, strerror(errno));
	for (;;) {
		size_t got;

		/* Room for a 64 KiB read and the final NUL. */
		if (se_vec_reserve(&buf, &cap, n + 65536 + 1, 1, 1 << 17, 0) != SE_OK) {
			rc = se_error_set(err, SE_ENOMEM, "out of memory reading %s", path);
			goto out;
		}
		got = fread(buf + n, 1, cap - 1 - n, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		rc = se_error_set(err, SE_EIO, "reading %s: %s", path, strerror(errno));
		goto out;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	if (fp != stdin)
		fclose(fp);
	return rc;
}

static int is_utf8_name(const char *encoding)
{
	return encoding == NULL || strcasecmp(encoding, "utf-8") == 0 || strcasecmp(encoding, "utf8") == 0;
}

int se_encoding_is_utf8(const char *encoding)
{
	return is_utf8_name(encoding);
}

/* ---- converting streams ------------------------------------------------------ */

#define STREAM_IN 65536

typedef struct conv_stream {
	FILE *src;
	int owns_src;
	iconv_t cd;
	char in[STREAM_IN];
	size_t in_len;           /* unconverted bytes at the start of in */
	int src_eof;
	long long pos;           /* UTF-8 bytes handed out so far */
	long long src_pos;       /* bytes read from the file so far */
	long long *bad_byte;     /* the caller's: where the encoding was broken */
} conv_stream;

static ssize_t conv_read(void *cookie, char *buf, size_t size)
{
	conv_stream *cs = cookie;
	char *dst = buf;
	size_t room = size;

	while (room == size) {
		char *src = cs->in;
		size_t left = cs->in_len;

		if (left > 0 && iconv(cs->cd, &src, &left, &dst, &room) == (size_t)-1) {
			if (errno == E2BIG && room == size)
				return -1; /* no room for one character: a seek into one */
			if (errno != EINVAL && errno != E2BIG) {
				*cs->bad_byte = cs->src_pos - (long long)cs->in_len + (src - cs->in);
				errno = EILSEQ;
				return -1;
			}
		}
		memmove(cs->in, src, left);
		cs->in_len = left;
		if (room < size)
			break;
		if (cs->src_eof) {
			if (cs->in_len > 0) { /* the file ends inside a character */
				*cs->bad_byte = cs->src_pos - (long long)cs->in_len;
				errno = EILSEQ;
				return -1;
			}
			break;
		}
		{
			size_t got = fread(cs->in + cs->in_len, 1, STREAM_IN - cs->in_len, cs->src);

			if (got == 0) {
				if (ferror(cs->src))
					return -1;
				cs->src_eof = 1;
			}
			cs->in_len += got;
			cs->src_pos += (long long)got;
		}
	}
	cs->pos += (long long)(size - room);
	return (ssize_t)(size - room);
}

/* Seeking back converts again from the start: only the CSV reader's rare
 * recovery from an unterminated quote needs it. */
static int conv_seek(void *cookie, off64_t *offset, int whence)
{
	conv_stream *cs = cookie;
	long long target = whence == SEEK_SET ? *offset : whence == SEEK_CUR ? cs->pos + *offset : -1;
	char skip[4096];

	if (target < 0)
		return -1;
	if (target < cs->pos) {
		if (fseeko(cs->src, 0, SEEK_SET) != 0)
			return -1;
		iconv(cs->cd, NULL, NULL, NULL, NULL);
		cs->in_len = 0;
		cs->src_eof = 0;
		cs->pos = 0;
		cs->src_pos = 0;
	}
	while (cs->pos < target) {
		size_t want = target - cs->pos < (long long)sizeof skip ? (size_t)(target - cs->pos) : sizeof skip;
		ssize_t got = conv_read(cs, skip, want);

		if (got <= 0)
			return -1;
	}
	*offset = cs->pos;
	return 0;
}

static int conv_close(void *cookie)
{
	conv_stream *cs = cookie;

	iconv_close(cs->cd);
	if (cs->owns_src)
		fclose(cs->src);
	free(cs);
	return 0;
}

int se_utf8_stream_open(const char *path, const char *encoding, FILE **out, long long *bad_byte,
                        se_error *err)
{
	static const cookie_io_functions_t io = { conv_read, NULL, conv_seek, conv_close };
	conv_stream *cs;

	*out = NULL;
	if ((cs = calloc(1, sizeof *cs)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	cs->cd = iconv_open("UTF-8", encoding);
	if (cs->cd == (iconv_t)-1) {
		free(cs);
		return se_error_set(err, SE_EUSAGE, "unknown encoding '%s' (try cp1251)", encoding);
	}
	*bad_byte = -1;
	cs->bad_byte = bad_byte;
	cs->owns_src = strcmp(path, "-") != 0;
	cs->src = cs->owns_src ? fopen(path, "rb") : stdin;
	if (cs->src == NULL) {
		int e = errno;

		iconv_close(cs->cd);
		free(cs);
		return se_error_set(err, SE_EIO, "cannot open %s: %s", path, strerror(e));
	}
	if ((*out = fopencookie(cs, "r", io)) == NULL) {
		conv_close(cs);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	return SE_OK;
}

int se_to_utf8(const char *in, size_t len, const char *encoding, char **out, size_t *out_len,
               se_error *err)
{
	iconv_t cd = iconv_open("UTF-8", encoding);
	size_t cap = len * 2 + 16, left_in = len, left_out;
	char *buf, *src = (char *)in, *dst;
	int rc = SE_OK;

	*out = NULL;
	if (cd == (iconv_t)-1)
		return se_error_set(err, SE_EUSAGE, "unknown encoding '%s' (try cp1251)", encoding);
	if ((buf = malloc(cap + 1)) == NULL) {
		iconv_close(cd);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	dst = buf;
	left_out = cap;
	while (left_in > 0) {
		if (iconv(cd, &src, &left_in, &dst, &left_out) != (size_t)-1)
			continue;
		if (errno == E2BIG) {
			size_t used = (size_t)(dst - buf), size = cap + 1;

			/* The buffer is cap bytes and the NUL: double it. */
			if (se_vec_reserve(&buf, &size, size + 1, 1, 0, 0) != SE_OK) {
				rc = se_error_set(err, SE_ENOMEM, "out of memory");
				break;
			}
			cap = size - 1;
			dst = buf + used;
			left_out = cap - used;
			continue;
		}
		rc = se_error_set(err, SE_EINPUT, "byte %zu is not valid %s", (size_t)(src - in) + 1, encoding);
		break;
	}
	iconv_close(cd);
	if (rc != SE_OK) {
		free(buf);
		return rc;
	}
	*dst = '\0';
	*out = buf;
	*out_len = (size_t)(dst - buf);
	return SE_OK;
}

static long line_of(const char *text, size_t offset)
{
	long line = 1;

	for (size_t i = 0; i < offset; i++)
		line += text[i] == '\n';
	return line;
}

int se_read_utf8_file(const char *path, const char *encoding, char **out, size_t *len,
                      se_error *err)
{
	char *raw = NULL, *text = NULL;
	size_t n = 0, bad;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = read_all(path, &raw, &n, err)) != SE_OK)
		return rc;
	if (!is_utf8_name(encoding)) {
		rc = se_to_utf8(raw, n, encoding, &text, &n, err);
		free(raw);
		if (rc != SE_OK) {
			se_error_prefix(err, "%s", path);
			return rc;
		}
		raw = text;
	}
	if (n >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0) {
		memmove(raw, raw + 3, n - 3 + 1);
		n -= 3;
	}
	if (!se_utf8_valid(raw, n, &bad)) {
		rc = se_error_set(err, SE_EINPUT,
		                  "%s:%ld: not valid UTF-8 (byte %zu of the file); if it is a Windows"
		                  " export, try --encoding cp1251",
		                  path, line_of(raw, bad), bad + 1);
		free(raw);
		return rc;
	}
	*out = raw;
	*len = n;
	return SE_OK;
}
