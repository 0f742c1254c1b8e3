"""How ``n_products`` is counted per customer: a bitmap of product positions, or 64-bit hashes.

A bitmap is about three times faster to build and count on DuckDB, but takes one bit per
product and customer; :func:`bitmap_fits` picks it only when the engine has bitmaps and they
take no more memory than the lists of 8-byte hashes would. Both give the same counts (barring
a hash collision); the engines' parity test checks it.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from segmint.engine import Engine
from segmint.features._backend import known_customers, only

__all__ = ["MAX_BITMAP_PRODUCTS", "bitmap_fits", "product_count", "product_positions"]

#: ``n_products`` is counted on a bitmap per customer (one bit per product: about three times
#: faster to build and count than a list of product-id hashes) when there are at most this many
#: products and the bitmaps take no more memory than the lists of 8-byte hashes would.
MAX_BITMAP_PRODUCTS = 65536


def product_positions(engine: Engine, lines: ir.Table, n_lines: int) -> pa.Table | None:
    """Each product bought or returned in ``lines`` with its bit position (``product_id``,
    ``_position``), when the engine has bitmaps and they fit (:func:`bitmap_fits`); else None.

    Fetched once (at most ``MAX_BITMAP_PRODUCTS + 1`` rows), so that a query run bucket by
    bucket joins a small table instead of recomputing the products from its own lines.
    """
    if not engine.bitmaps:
        return None
    known = lines.select("product_id").filter(lines["product_id"].notnull()).distinct()
    products = known.limit(MAX_BITMAP_PRODUCTS + 1).to_pyarrow()["product_id"]
    if not bitmap_fits(engine, n_lines, len(products)):
        return None
    # sorted, so that positions do not depend on the order the engine returned them in
    products = products.take(pc.sort_indices(products))
    positions = pa.array(range(len(products)), pa.int64())
    return pa.table({"product_id": products, "_position": positions})


def bitmap_fits(engine: Engine, n_lines: int, n_products: int) -> bool:
    """Whether product bitmaps per customer take no more memory than lists of 8-byte hashes."""
    if n_products > MAX_BITMAP_PRODUCTS:
        return False
    # A workspace's customers table holds every customer seen; without one, every line may be
    # its own customer.
    return (known_customers(engine) or n_lines) * ((n_products + 7) // 8) <= 8 * n_lines


def product_count(engine: Engine, lines: ir.Table, positions: pa.Table | None):
    """Return the lines, the per-customer product aggregate and its reduction to a count.

    With ``positions`` (:func:`product_positions`), a customer's products are a bitmap of
    their positions; without them, a list of 64-bit product-id hashes (two of one customer's
    products collide with odds of about n^2 / 3.7e19).
    """
    bought = ~lines["is_ret"] & lines["product_id"].notnull()
    if positions is None:
        hashes = engine.collect(engine.hash64(lines["product_id"].cast("string")), bought)
        return lines, hashes, engine.count_unique
    known = ibis.memtable(positions)
    coded = lines.left_join(known, "product_id").select(*lines.columns, "_position")
    position = coded["_position"]
    # a product first loaded after the positions were taken (a concurrent load) has none and
    # is left out, not an error
    counted = ~coded["is_ret"] & position.notnull()
    bits = engine.bitmap(only(counted, position), positions.num_rows)
    return coded, bits, engine.bit_count
