-- extension-only:begin
\echo Use "CREATE EXTENSION graphile_worker" to load this file. \quit
-- extension-only:end
-- standalone-only:begin
-- The standalone script (for servers where custom extensions cannot be installed) creates the
-- schema itself; CREATE EXTENSION creates it from the control file.
create schema if not exists graphile_worker;
-- standalone-only:end
