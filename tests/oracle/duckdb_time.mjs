// Times a DuckDB query in-process (no Node start-up in the figure): one warm-up
// run, then the best of REPEAT runs. usage: node duckdb_time.mjs THREADS REPEAT SQL
import { DuckDBInstance } from '@duckdb/node-api';

const [threads, repeat, sql] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const con = await db.connect();
await con.runAndReadAll(sql);
let best = Infinity;
for (let i = 0; i < Number(repeat); i++) {
  const t0 = process.hrtime.bigint();
  await con.runAndReadAll(sql);
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
console.log(JSON.stringify({ seconds: best }));
