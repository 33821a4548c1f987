-- Where the search for a pool's lowest address never leased starts: every address of the pool below
-- `all_leased_below` has a row in address_leases (a lease row is released, never deleted), so the
-- search walks from there instead of over every lease the pool ever had (ADR 0078). A lower bound
-- only, which any writer keeps true: a create moves it past the address it found, in the transaction
-- that leases it, and a Manager that does not know this table only adds leases.
CREATE TABLE address_pool_frontiers (
  pool             text PRIMARY KEY,
  all_leased_below bigint NOT NULL
);
