-- Nothing is callable by PUBLIC: roles get exactly the functions of their level (see
-- docs/security.md).
revoke all on all functions in schema graphile_worker from public;
