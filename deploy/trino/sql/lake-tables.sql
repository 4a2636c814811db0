-- Declare the gold dataset-items table over the Parquet files captionflow exports per dataset
-- version (one partition per version). Run once in Trino; then CALL the partition sync after
-- each export.
CREATE SCHEMA IF NOT EXISTS lake.gold WITH (location = 's3://captionflow/gold/tables/');

CREATE TABLE IF NOT EXISTS lake.gold.dataset_items (
  image_id      varchar,
  split         varchar,
  source        varchar,
  gold_key      varchar,
  sha256        varchar,
  size          bigint,
  width         integer,
  height        integer,
  format        varchar,
  quality       double,
  -- UTC instants (Parquet TIMESTAMP adjusted to UTC); Hive tables have no 'with time zone' type.
  curated_at    timestamp(3),
  caption_count integer,
  captions      array(row(id varchar, text varchar, origin varchar)),
  attributes    map(varchar, varchar),
  dataset_id    varchar
)
WITH (
  external_location = 's3://captionflow/gold/tables/dataset_items/',
  format = 'PARQUET',
  partitioned_by = ARRAY['dataset_id']
);

CALL lake.system.sync_partition_metadata('gold', 'dataset_items', 'ADD');
