// Runs one join + GROUP BY in a peer engine and writes its answer to Parquet,
// for make bench-query.  Prints {"seconds": …} (in-process time, no Node
// start-up) or {"error": "…"}.
// usage: node peer_query.mjs duckdb|polars THREADS DF1_GLOB DF2 BY(comma list or "") AGGS(count|count,sum) OUT TMPDIR
import { DuckDBInstance } from '@duckdb/node-api';
import pl from 'nodejs-polars';

const [engine, threads, df1, df2, byList, aggs, out, tmp] = process.argv.slice(2);
const by = byList ? byList.split(',') : [];
const withSum = aggs.includes('sum');

async function duckdb() {
  const db = await DuckDBInstance.create(':memory:', {
    threads: String(threads), temp_directory: tmp, max_temp_directory_size: '20GB',
  });
  const con = await db.connect();
  const sel = [...by, 'count(*) AS count', ...(withSum ? ['sum(value) AS sum_value'] : [])].join(', ');
  const group = by.length ? ` GROUP BY ${by.join(', ')} ORDER BY ${by.join(', ')}` : '';
  const sql = `COPY (SELECT ${sel} FROM read_parquet('${df1}') JOIN read_parquet('${df2}') USING (key)${group}) ` +
              `TO '${out}' (FORMAT parquet)`;
  const t0 = process.hrtime.bigint();
  await con.run(sql);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function polars() {
  process.env.POLARS_MAX_THREADS = String(threads);
  const t0 = process.hrtime.bigint();
  const joined = pl.scanParquet(df1).join(pl.scanParquet(df2), { on: 'key' });
  const agg = [pl.len().alias('count'), ...(withSum ? [pl.col('value').sum().alias('sum_value')] : [])];
  const q = by.length ? joined.groupBy(by).agg(...agg).sort(by) : joined.select(...agg);
  q.collectSync({ streaming: true }).writeParquet(out);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

try {
  const seconds = engine === 'duckdb' ? await duckdb() : polars();
  console.log(JSON.stringify({ seconds }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e.message || e).split('\n')[0].slice(0, 200) }));
}
