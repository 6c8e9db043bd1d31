// Reads Parquet files with Polars and prints facts about them as JSON, so
// that the tests check skewjoin's files with a second, independent reader.
// It also writes files as other writers may: `nostats` copies a file (or a
// glob's files, into one) without any statistics.
// usage: node polars.mjs df1 GLOB BUCKETS  |  node polars.mjs df2 FILE  |
//        node polars.mjs nostats IN OUT
import pl from 'nodejs-polars';

const [what, path, buckets] = process.argv.slice(2);
if (what === 'df1') {
  const df = pl.scanParquet(path).collectSync();
  // Rows per key, the bucket law (cumCount is 1-based), and every group column's range.
  const withRow = df.withColumns(pl.col('key').cumCount().over('key').cast(pl.Int64).alias('row_in_key'));
  const perKey = df.groupBy('key').agg(pl.len().alias('n')).sort('key');
  const badBucket = withRow
    .filter(pl.col('bucket').neq(pl.col('row_in_key').sub(1).modulo(Number(buckets)).add(1)))
    .height;
  const groups = {};
  for (const name of df.columns.filter((c) => c.startsWith('group'))) {
    groups[name] = [df.getColumn(name).min(), df.getColumn(name).max()];
  }
  console.log(JSON.stringify({
    rows: df.height,
    columns: df.columns,
    dtypes: df.dtypes.map(String),
    keys: perKey.getColumn('key').toArray().map(Number),
    rows_per_key: perKey.getColumn('n').toArray().map(Number),
    bad_bucket: badBucket,
    groups,
    value_min: df.getColumn('value').min(),
    value_max: df.getColumn('value').max(),
  }));
} else if (what === 'nostats') {
  pl.scanParquet(path).sinkParquet(buckets, { statistics: false }).collectSync();
  console.log(JSON.stringify({ out: buckets }));
} else {
  const df = pl.readParquet(path);
  console.log(JSON.stringify({
    rows: df.height,
    columns: df.columns,
    distinct_keys: df.getColumn('key').nUnique(),
    groupings: df.getColumn('df2_group').nUnique(),
    duplicates: df.height - df.unique().height,
  }));
}
