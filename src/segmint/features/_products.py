"""How ``n_products`` is counted per customer: a bitmap of product positions, or 64-bit hashes.

A bitmap is about three times faster to build and count on DuckDB, but takes one bit per
product and customer; :func:`bitmap_fits` picks it only when the engine has bitmaps and they
take no more memory than the lists of 8-byte hashes would. Both give the same counts (barring
a hash collision); the engines' parity test checks it.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from segmint.engine import Engine
from segmint.features._backend import only

__all__ = ["MAX_BITMAP_PRODUCTS", "bitmap_fits", "product_count"]

#: ``n_products`` is counted on a bitmap per customer (one bit per product: about three times
#: faster to build and count than a list of product-id hashes) when there are at most this many
#: products and the bitmaps take no more memory than the lists of 8-byte hashes would.
MAX_BITMAP_PRODUCTS = 65536


def bitmap_fits(engine: Engine, n_lines: int, n_products: int) -> bool:
    """Whether product bitmaps per customer take no more memory than lists of 8-byte hashes."""
    if not engine.bitmaps or n_products > MAX_BITMAP_PRODUCTS:
        return False
    customers = engine.table("customers")
    # A workspace's customers table holds every customer seen (both counts are metadata reads);
    # without one, every line may be its own customer.
    n_customers = customers.count().to_pyarrow().as_py() if customers is not None else 0
    return (n_customers or n_lines) * ((n_products + 7) // 8) <= 8 * n_lines


def product_count(engine: Engine, lines: ir.Table, n_known: int | None):
    """Return the lines, the per-customer product aggregate and its reduction to a count.

    With ``n_known`` (the number of distinct products, counted beforehand), each product gets a
    position (a join with the distinct products) and a customer's products are a bitmap of
    those positions; without it, a list of 64-bit product-id hashes (two of one customer's
    products collide with odds of about n^2 / 3.7e19).
    """
    bought = ~lines["is_ret"] & lines["product_id"].notnull()
    if n_known is None:
        hashes = engine.collect(engine.hash64(lines["product_id"].cast("string")), bought)
        return lines, hashes, engine.count_unique
    known = lines.select("product_id").filter(lines["product_id"].notnull()).distinct()
    known = known.mutate(_position=ibis.row_number())
    coded = lines.left_join(known, "product_id").select(*lines.columns, "_position")
    position = coded["_position"]
    # a product first loaded after the count (a concurrent load) is left out, not an error
    counted = ~coded["is_ret"] & (position < n_known)
    bits = engine.bitmap(only(counted, position), n_known)
    return coded, bits, engine.bit_count
