-- Order types and options of the matching engine (issue 3): stop and take-profit orders,
-- market buys by quote amount, post-only and self-trade prevention modes.
ALTER TABLE orders ADD COLUMN stop_price INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN quote_quantity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN post_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN stp TEXT NOT NULL DEFAULT 'expire_maker';
ALTER TABLE orders ADD COLUMN triggered INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_client_id ON orders (user_id, client_order_id) WHERE client_order_id IS NOT NULL;
