-- The product's CLV may combine the BTYD models with a supervised spend model (segmint
-- predict keeps the better ranking in clv); the BTYD CLV stays available beside it.
ALTER TABLE predictions ADD COLUMN clv_btyd DOUBLE;
