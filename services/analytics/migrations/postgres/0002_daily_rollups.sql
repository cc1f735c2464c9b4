-- Retention: raw facts are kept for N days (the service's raw_retention_days),
-- daily rollups for ever. A rollup row sums one day's raw rows at the grain
-- the reports slice by, so every figure (unique viewers over any range
-- included) reads the same from rollups as from the raw rows: profile_id
-- stays in the grain, the per-event columns (event, view and account ids,
-- times, positions) go.

CREATE TABLE rollup_view_daily (
  date_key date NOT NULL,
  title_id text NOT NULL,
  profile_id text NOT NULL,
  country_code text NOT NULL,
  device_type text NOT NULL,
  view_count integer NOT NULL,
  watch_seconds bigint NOT NULL,
  completed_views integer NOT NULL
);
CREATE INDEX rollup_view_daily_day ON rollup_view_daily (date_key);
CREATE INDEX rollup_view_daily_title ON rollup_view_daily (title_id, date_key);

CREATE TABLE rollup_signup_daily (
  date_key date NOT NULL,
  country_code text NOT NULL,
  signups integer NOT NULL
);

CREATE TABLE rollup_profile_change_daily (
  date_key date NOT NULL,
  change_type text NOT NULL,
  kids_profile boolean NOT NULL,
  changes integer NOT NULL
);

-- Every day up to rolled_through is in the rollups and no longer raw. A load
-- drops the rows of such days (the rollup is final: N days also bounds how
-- late an event may arrive); loads read this row FOR SHARE and a rollup
-- updates it first, so the two never interleave.
CREATE TABLE rollup_watermark (
  id smallint PRIMARY KEY CHECK (id = 1),
  rolled_through date NOT NULL
);
INSERT INTO rollup_watermark VALUES (1, DATE '1970-01-01');

-- What the reports read: rollups and raw views at one grain. A day is in one
-- or the other, never both (a rollup moves its days in one transaction).
CREATE VIEW view_days AS
SELECT date_key, title_id, profile_id, country_code, device_type,
       view_count, watch_seconds, completed_views
FROM rollup_view_daily
UNION ALL
SELECT date_key, title_id, profile_id, country_code, device_type,
       1, watch_seconds, CASE WHEN completed THEN 1 ELSE 0 END
FROM fact_view;
