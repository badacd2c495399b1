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
