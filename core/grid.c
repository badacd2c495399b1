/*
 * grid.c: rows of fixed-size cells keyed by a bucket, growing in both
 * directions to the keys seen (grid.h).
 *
 * Never: knows what its cells hold.
 */
#include "grid.h"

#include <stdlib.h>
#include <string.h>

void se_grid_init(se_grid *g, size_t width, size_t cell)
{
	memset(g, 0, sizeof *g);
	g->width = width ? width : 1;
	g->cell = cell;
}

int se_grid_merge(se_grid *g, const se_grid *from, void (*add)(void *into, const void *cell))
{
	for (int64_t k = from->lo; k < from->lo + from->nb; k++)
		for (size_t col = 0; col < from->width; col++) {
			const unsigned char *v = se_grid_at(from, k, col);
			void *c;
			size_t i = 0;

			while (i < from->cell && v[i] == 0)
				i++;
			if (i == from->cell)
				continue;
			if ((c = se_grid_cell(g, k, col)) == NULL)
				return -1;
			add(c, v);
		}
	return 0;
}

void *se_grid_cell_grow(se_grid *g, int64_t key, size_t col)
{
	size_t row_bytes = g->width * g->cell;

	if (g->nb == 0) {
		if ((g->data = calloc(8, row_bytes)) == NULL)
			return NULL;
		g->lo = key;
		g->nb = 8;
	} else if (key < g->lo || key >= g->lo + g->nb) {
		int64_t lo = key < g->lo ? key : g->lo;
		int64_t hi = key >= g->lo + g->nb ? key + 1 : g->lo + g->nb;
		int64_t nb = g->nb;
		unsigned char *nd;

		while (nb < hi - lo)
			nb *= 2;
		if (key < g->lo)
			lo = hi - nb;
		if ((nd = calloc((size_t)nb, row_bytes)) == NULL)
			return NULL;
		memcpy(nd + (size_t)(g->lo - lo) * row_bytes, g->data, (size_t)g->nb * row_bytes);
		free(g->data);
		g->data = nd;
		g->lo = lo;
		g->nb = nb;
	}
	return g->data + ((size_t)(key - g->lo) * g->width + col) * g->cell;
}
