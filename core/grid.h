/*
 * grid.h: cells per (bucket key, column) in one dense block that grows to
 * the keys actually seen, so adding to a cell is an array increment.
 * Columns are fixed when the grid is made: use it where the columns are
 * few or every column has data in most rows (managers, sources), never
 * for a product of two such dimensions.
 */
#ifndef SE_GRID_H
#define SE_GRID_H

#include <stddef.h>
#include <stdint.h>

typedef struct se_grid {
	int64_t lo;          /* bucket key of row 0 */
	int64_t nb;          /* rows */
	size_t width;        /* cells per row */
	size_t cell;         /* bytes per cell */
	unsigned char *data;
} se_grid;

/* An empty grid of width cells of cell bytes per row. */
void se_grid_init(se_grid *g, size_t width, size_t cell);
/* Grows the grid to cover key (both directions, doubling) and returns the
 * cell; NULL only when memory runs out. */
void *se_grid_cell_grow(se_grid *g, int64_t key, size_t col);

/* The cell of (key, col), growing the grid when key is outside it; inline,
 * as the pass calls it several times a deal. */
static inline void *se_grid_cell(se_grid *g, int64_t key, size_t col)
{
	if (key >= g->lo && key < g->lo + g->nb)
		return g->data + ((size_t)(key - g->lo) * g->width + col) * g->cell;
	return se_grid_cell_grow(g, key, col);
}

/* Adds every cell of `from` (a grid of the same width and cells) that
 * is not all zero bytes into g's cell of the same key and column, by
 * add(cell of g, cell of from).  0, or -1 when memory ran out. */
int se_grid_merge(se_grid *g, const se_grid *from, void (*add)(void *into, const void *cell));

/* Cell (row for key, column col) of a grid; NULL if the key is outside. */
static inline void *se_grid_at(const se_grid *g, int64_t key, size_t col)
{
	if (key < g->lo || key >= g->lo + g->nb || col >= g->width)
		return NULL;
	return g->data + ((size_t)(key - g->lo) * g->width + col) * g->cell;
}

#endif
