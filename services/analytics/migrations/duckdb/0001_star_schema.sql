-- The warehouse's star schema on DuckDB, the embedded backend: the same tables
-- and columns as migrations/postgres/0001_star_schema.sql, without partitions
-- (DuckDB is columnar and skips row groups by their min/max, which does for a
-- range of days what monthly partitions do on PostgreSQL), and without keys
-- or indexes on the facts: an ART index costs every bulk append, and
-- loaded_events' key already makes each event's rows unique.

-- Every event whose rows are in the warehouse: the exactly-once ledger. A
-- load inserts its event ids here and its rows only for the ids that were
-- new, in one transaction. Not partitioned: the unique key must span all.
CREATE TABLE loaded_events (
  event_id text PRIMARY KEY,
  -- The table its rows went to: fact_view, fact_signup, fact_profile_change, dim_title.
  target text NOT NULL,
  loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE dim_date (
  date_key date PRIMARY KEY,
  year smallint NOT NULL,
  month smallint NOT NULL,
  day_of_month smallint NOT NULL,
  iso_week smallint NOT NULL,
  -- 1 = Monday ... 7 = Sunday.
  iso_day_of_week smallint NOT NULL
);

CREATE TABLE dim_country (
  country_code text PRIMARY KEY
);

CREATE TABLE dim_device (
  device_type text PRIMARY KEY
);

-- A title as its newest catalog event says (source_time decides).
CREATE TABLE dim_title (
  title_id text PRIMARY KEY,
  title text NOT NULL,
  content_type text NOT NULL,
  release_year integer NOT NULL,
  maturity_rating text NOT NULL,
  source_time timestamptz NOT NULL
);

-- The title-genre bridge: ListTopTitles' genre filter.
CREATE TABLE dim_title_genre (
  genre text NOT NULL,
  title_id text NOT NULL,
  PRIMARY KEY (genre, title_id)
);

CREATE TABLE fact_view (
  date_key date NOT NULL,
  event_id text NOT NULL,
  view_id text NOT NULL,
  profile_id text NOT NULL,
  account_id text NOT NULL,
  title_id text NOT NULL,
  watch_time timestamptz NOT NULL,
  country_code text NOT NULL,
  device_type text NOT NULL,
  watch_seconds integer NOT NULL,
  position_seconds integer NOT NULL,
  duration_seconds integer NOT NULL,
  completed boolean NOT NULL,
  event_time timestamptz NOT NULL,
  loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE fact_signup (
  date_key date NOT NULL,
  event_id text NOT NULL,
  account_id text NOT NULL,
  profile_id text NOT NULL,
  country_code text NOT NULL,
  signup_time timestamptz NOT NULL,
  event_time timestamptz NOT NULL,
  loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE fact_profile_change (
  date_key date NOT NULL,
  event_id text NOT NULL,
  profile_id text NOT NULL,
  account_id text NOT NULL,
  change_type text NOT NULL,
  changed_fields text NOT NULL,
  kids_profile boolean NOT NULL,
  maturity_rating text NOT NULL,
  change_time timestamptz NOT NULL,
  event_time timestamptz NOT NULL,
  loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
