-- rfc3339() was declared IMMUTABLE while to_char() is only STABLE, which stops the
-- planner from inlining it: every call went through the SQL-function path (7 % of
-- the database's CPU under booking load). STABLE is what it is, and inlines.
CREATE OR REPLACE FUNCTION rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;
