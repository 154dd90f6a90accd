/*
 * The weight of each of DeepMind's surfels (surface-distance's
 * compute_surface_distances; Nikolov et al. 2021, "Clinically applicable
 * segmentation of head and neck anatomy for radiotherapy", arXiv:1809.04430),
 * by the neighbour code of its corner: the length (2-D) or the area (3-D) of
 * the part of the object's boundary that marching squares or marching cubes
 * draw through the cell of 2^d elements around the corner, in spacing units.
 *
 * Neighbour code: the element of the cell at offsets (o_0, ..., o_{d-1}) from
 * its first element (o_k = 0: before the corner on axis k, 1: after) sets bit
 * 2^(2^d - 1 - o) with o = sum_k o_k 2^(d - 1 - k); DeepMind's kernels
 * [[8, 4], [2, 1]] and [[[128, 64], [32, 16]], [[8, 4], [2, 1]]]. A corner
 * with code 0 or all ones carries no surfel.
 *
 * 2-D (DeepMind's create_table_neighbour_code_to_contour_length): the
 * marching-squares segments join the midpoints of the cell's edges whose two
 * corners differ. One corner apart from the other three: the segment cuts
 * that corner, half a step along each axis. Two adjacent corners: a segment
 * across the cell, one step along the other axis. Two opposite corners: two
 * cut corners (either pair gives the same length).
 *
 * 3-D (DeepMind's create_table_neighbour_code_to_surface_area). DeepMind lists,
 * for each code, the normals of the triangles of a marching-cubes
 * triangulation, each as long as its triangle's area, and scales them by the
 * spacing. Its areas are those of this rule, applied to the code or, when
 * more than four corners are inside, to its complement (a code and its
 * complement have the same area):
 *   1. the vertices are the midpoints of the cube's edges whose two corners
 *      differ;
 *   2. on each face the marching-squares segments join them; on a face whose
 *      two inside corners are diagonal, each inside corner is cut off on its
 *      own (with four corners inside, cutting off the outside ones instead
 *      gives the same areas);
 *   3. the segments close into polygons (one to four per cell, three to six
 *      vertices); each polygon is divided along its diagonals into the fewest
 *      planar pieces (polygons), and its area is the sum of theirs;
 *   4. a planar piece whose vector area, in cells, is A has the area
 *      |(A_0 s_1 s_2, A_1 s_0 s_2, A_2 s_0 s_1)| with spacing s (the vector
 *      area of a surface maps by the cofactor of diag(s)); DeepMind scales
 *      its triangles' normals so.
 * Two polygons are not planar, and there the division matters: the pentagon
 * of three corners of a face, which becomes the triangle through the
 * midpoints of the three edges leaving the face and a quadrilateral; and the
 * hexagon of four corners in a chain along the three axes, three pieces (each
 * of its fewest divisions has the same area). Fewer pieces, or a fixed
 * triangulation, would change these areas, and neither the least nor the
 * largest triangulated area matches DeepMind's at every spacing. The sums differ
 * from DeepMind's (which adds its triangles) by rounding only;
 * tests/python/test_metrics.py compares all 256 codes at several spacings.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "metrics/metrics.h"

void lk_contour_lengths(const double spacing[2], double lengths[16])
{
    /* a corner alone on its side: the segment cuts the cell's corner between
     * two edge midpoints, half a step along each axis */
    double diagonal = 0.5 * sqrt(spacing[0] * spacing[0] + spacing[1] * spacing[1]);
    for (int code = 0; code < 16; code++) {
        int inside = (code & 1) + (code >> 1 & 1) + (code >> 2 & 1) + (code >> 3 & 1);
        if (inside == 0 || inside == 4)
            lengths[code] = 0;
        else if (inside != 2)
            lengths[code] = diagonal;
        else if (code == 0xC || code == 0x3) /* one row inside: a line along axis 1 */
            lengths[code] = spacing[1];
        else if (code == 0xA || code == 0x5) /* one column inside: along axis 0 */
            lengths[code] = spacing[0];
        else /* opposite corners: two cut corners */
            lengths[code] = 2 * diagonal;
    }
}

/* ------------------------------------------------------------------ 3-D */

/* Corners are numbered o = 4 o_0 + 2 o_1 + o_2; an edge is named by its
 * first corner and its axis, 3 c + k (24 names, 12 used); points are in
 * half cells, so that every edge midpoint has integer coordinates. */
enum { CUBE_CORNERS = 8, EDGE_NAMES = 24, MAX_POLYGON = 12, MAX_PIECES = MAX_POLYGON - 2 };

static int axis_bit(int axis)
{
    return 4 >> axis;
}

static int is_inside(unsigned code, int corner)
{
    return (int)(code >> (CUBE_CORNERS - 1 - corner) & 1u);
}

/* The edge between two corners that differ on one axis. */
static int edge_between(int a, int b)
{
    int bit = a ^ b, axis = bit == 4 ? 0 : bit == 2 ? 1 : 2;
    return 3 * (a & ~bit) + axis;
}

static void edge_midpoint(int edge, int point[3])
{
    int corner = edge / 3, axis = edge % 3;
    for (int k = 0; k < 3; k++) point[k] = 2 * ((corner & axis_bit(k)) != 0) + (k == axis);
}

/* The polygons' sides: each crossed edge's midpoint joins two others, one
 * through each of the two faces that hold the edge. */
typedef struct cell_sides {
    int count[EDGE_NAMES];
    int next[EDGE_NAMES][2];
} cell_sides;

static void join(cell_sides *sides, int a, int b)
{
    sides->next[a][sides->count[a]++] = b;
    sides->next[b][sides->count[b]++] = a;
}

/* Marching squares on the face of the cube where axis `axis` is `side`:
 * one segment between its two crossed edges, or, with four, one around each
 * inside corner. */
static void face_sides(unsigned code, int axis, int side, cell_sides *sides)
{
    static const int around[4][2] = {{0, 0}, {0, 1}, {1, 1}, {1, 0}};
    int first = axis == 0 ? 1 : 0, second = axis == 2 ? 1 : 2, corners[4], crossing_at[4], crossings = 0;
    for (int i = 0; i < 4; i++)
        corners[i] = side * axis_bit(axis) + around[i][0] * axis_bit(first) + around[i][1] * axis_bit(second);
    for (int i = 0; i < 4; i++)
        if (is_inside(code, corners[i]) != is_inside(code, corners[(i + 1) % 4]))
            crossing_at[crossings++] = edge_between(corners[i], corners[(i + 1) % 4]);
    if (crossings == 2) join(sides, crossing_at[0], crossing_at[1]);
    if (crossings == 4)
        for (int i = 0; i < 4; i++)
            if (is_inside(code, corners[i]))
                join(sides, edge_between(corners[(i + 3) % 4], corners[i]),
                     edge_between(corners[i], corners[(i + 1) % 4]));
}

/* The sum of p_i x p_{i+1} over the polygon's sides: twice its vector area
 * in half cells, 8 times that in cells, in integers. */
static void doubled_vector_area(const int (*points)[3], const int *polygon, int n, int normal[3])
{
    normal[0] = normal[1] = normal[2] = 0;
    for (int i = 0; i < n; i++) {
        const int *p = points[polygon[i]], *q = points[polygon[(i + 1) % n]];
        normal[0] += p[1] * q[2] - p[2] * q[1];
        normal[1] += p[2] * q[0] - p[0] * q[2];
        normal[2] += p[0] * q[1] - p[1] * q[0];
    }
}

static int is_planar(const int (*points)[3], const int *polygon, int n, const int normal[3])
{
    if (n == 3) return 1;
    if (normal[0] == 0 && normal[1] == 0 && normal[2] == 0) return 0;
    const int *origin = points[polygon[0]];
    for (int i = 1; i < n; i++) {
        const int *p = points[polygon[i]];
        int offset = 0;
        for (int k = 0; k < 3; k++) offset += normal[k] * (p[k] - origin[k]);
        if (offset != 0) return 0;
    }
    return 1;
}

/* The fewest planar pieces of the polygon, cut along its diagonals: writes
 * their doubled vector areas to normals and returns their number. */
static int fewest_planar_pieces(const int (*points)[3], const int *polygon, int n, int normals[][3])
{
    doubled_vector_area(points, polygon, n, normals[0]);
    if (is_planar(points, polygon, n, normals[0])) return 1;
    int best = MAX_PIECES + 1;
    for (int i = 0; i < n; i++)
        for (int j = i + 2; j < n && !(i == 0 && j == n - 1); j++) {
            int left[MAX_POLYGON], right[MAX_POLYGON], n_left = j - i + 1, n_right = 0;
            memcpy(left, polygon + i, (size_t)n_left * sizeof *left);
            for (int k = j; k < n; k++) right[n_right++] = polygon[k];
            for (int k = 0; k <= i; k++) right[n_right++] = polygon[k];
            int pieces[2 * MAX_PIECES][3];
            int count = fewest_planar_pieces(points, left, n_left, pieces);
            count += fewest_planar_pieces(points, right, n_right, pieces + count);
            if (count < best) {
                best = count;
                memcpy(normals, pieces, (size_t)count * sizeof pieces[0]);
            }
        }
    return best;
}

/* The area of a planar piece of doubled vector area `normal` (in half cells:
 * 8 times the vector area in cells), with spacing. */
static double piece_area(const int normal[3], const double spacing[3])
{
    double x = (double)normal[0] * spacing[1] * spacing[2], y = (double)normal[1] * spacing[0] * spacing[2],
           z = (double)normal[2] * spacing[0] * spacing[1];
    return sqrt(x * x + y * y + z * z) / 8;
}

static double code_area(unsigned code, const double spacing[3])
{
    int inside = 0;
    for (int corner = 0; corner < CUBE_CORNERS; corner++) inside += is_inside(code, corner);
    if (inside > CUBE_CORNERS / 2) code ^= (1u << CUBE_CORNERS) - 1;
    cell_sides sides;
    memset(&sides, 0, sizeof sides);
    for (int axis = 0; axis < 3; axis++)
        for (int side = 0; side <= 1; side++) face_sides(code, axis, side, &sides);
    int points[EDGE_NAMES][3], visited[EDGE_NAMES] = {0};
    double area = 0;
    for (int start = 0; start < EDGE_NAMES; start++) {
        if (sides.count[start] == 0 || visited[start]) continue;
        int polygon[MAX_POLYGON], n = 0, previous = -1, current = start;
        do {
            edge_midpoint(current, points[current]);
            visited[current] = 1;
            polygon[n++] = current;
            int next = sides.next[current][0] == previous ? sides.next[current][1] : sides.next[current][0];
            previous = current;
            current = next;
        } while (current != start);
        int normals[MAX_PIECES][3];
        int pieces = fewest_planar_pieces((const int(*)[3])points, polygon, n, normals);
        for (int p = 0; p < pieces; p++) area += piece_area(normals[p], spacing);
    }
    return area;
}

void lk_surfel_areas(const double spacing[3], double areas[256])
{
    for (unsigned code = 0; code < 256; code++) areas[code] = code_area(code, spacing);
}

/* ------------------------------------------------------------------ API */

lk_status lk_surfel_weights(int spatial_dims, const double *spacing, double *weights)
{
    static const char *const name = "lk_surfel_weights";
    if (spatial_dims != 2 && spatial_dims != 3)
        return lk_fail(LK_EINVAL, "%s: spatial_dims = %d; DeepMind's surfels have 2 or 3", name, spatial_dims);
    if (!weights) return lk_fail(LK_EINVAL, "%s: argument 'weights' is NULL", name);
    double unit[3] = {1, 1, 1};
    for (int axis = 0; spacing && axis < spatial_dims; axis++)
        if (!(spacing[axis] > 0) || !isfinite(spacing[axis]))
            return lk_fail(LK_EINVAL, "%s: spacing[%d] = %g; a spacing must be positive and finite", name,
                           axis, spacing[axis]);
    lk_surfel_weights_of(spatial_dims, spacing ? spacing : unit, weights);
    return LK_OK;
}

void lk_surfel_weights_of(int spatial_dims, const double *spacing, double *weights)
{
    if (spatial_dims == 2)
        lk_contour_lengths(spacing, weights);
    else
        lk_surfel_areas(spacing, weights);
}
