-- Decode one query-string component of crontab options the way Node's querystring does:
-- `+` is a space (unless plus_is_space is false: the tz option keeps Etc/GMT+5 as written) and
-- %XX is a UTF-8 byte. A malformed escape is kept as written.
create function graphile_worker._private_cron_url_decode(component text, plus_is_space boolean)
returns text
language plpgsql
immutable
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bytes bytea := '\x'::bytea;
  v_rest text := case when plus_is_space then replace(component, '+', ' ') else component end;
  v_match text[];
begin
  if strpos(v_rest, '%') = 0 then
    return v_rest;
  end if;
  loop
    v_match := regexp_match(v_rest, '^(.*?)%([0-9A-Fa-f]{2})(.*)$');
    if v_match is null then
      v_bytes := v_bytes || convert_to(v_rest, 'UTF8');
      exit;
    end if;
    v_bytes := v_bytes || convert_to(v_match[1], 'UTF8') || decode(v_match[2], 'hex');
    v_rest := v_match[3];
  end loop;
  begin
    return convert_from(v_bytes, 'UTF8');
  exception when character_not_in_repertoire or untranslatable_character then
    return component;
  end;
end;
$$;
