// Runs SQL statements in DuckDB (the reference engine of skewjoin's tests)
// and prints each result as one JSON line: an array of row objects.
// usage: node q.mjs SQL [SQL ...]
import { DuckDBInstance } from '@duckdb/node-api';

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
for (const sql of process.argv.slice(2)) {
  const reader = await con.runAndReadAll(sql);
  console.log(JSON.stringify(reader.getRowObjectsJson()));
}
