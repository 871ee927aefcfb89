/**
 * The columnar layout of a decoded batch. Workers decode JSON straight into typed arrays
 * and wrap them, without copying, as an Apache Arrow table; the aggregation kernels then
 * loop over the columns' underlying value arrays (reading through `get(i)` is several
 * times slower).
 *
 * Why a Table at all (issue #12 asked to decide): it is the contract between the field
 * reader and the window kernel inside a worker — the kernel takes any single-chunk Arrow
 * table with these columns, whoever built it. It does not cross the thread boundary:
 * an Arrow Table loses its prototype in structured clone, and Arrow IPC would copy every
 * column; results cross as transferred typed arrays instead. Wrapping costs one
 * `makeTable` of zero-copy views per task (thousands of records), nothing per record.
 */
// The table module alone: the package's entry point also loads IPC, builders and streams,
// which cost every worker thread ~50 ms more to start.
import { makeTable, type Table } from 'apache-arrow/table';

/** Growable column buffers, reused across batches by one worker. */
export class ColumnBuffers {
  readonly f64: Map<string, Float64Array> = new Map();
  readonly i32: Map<string, Int32Array> = new Map();
  private capacity = 0;

  constructor(
    private readonly f64Names: readonly string[],
    private readonly i32Names: readonly string[],
  ) {}

  /** Makes room for n rows; previous contents are discarded. */
  reserve(n: number): void {
    // Also on the first call with n = 0 (a task whose records were all transaction markers):
    // the columns must exist before toTable.
    if (n <= this.capacity && this.capacity > 0) return;
    this.capacity = Math.max(n, this.capacity * 2, 1024);
    for (const name of this.f64Names) this.f64.set(name, new Float64Array(this.capacity));
    for (const name of this.i32Names) this.i32.set(name, new Int32Array(this.capacity));
  }

  /** Wraps the first n rows as an Arrow table (zero-copy views). */
  toTable(n: number): Table {
    const cols: Record<string, Float64Array | Int32Array> = {};
    for (const name of this.f64Names) cols[name] = this.f64.get(name)!.subarray(0, n);
    for (const name of this.i32Names) cols[name] = this.i32.get(name)!.subarray(0, n);
    return makeTable(cols);
  }
}

/** The contiguous values of a single-chunk numeric column. */
export function columnValues<T extends Float64Array | Int32Array>(table: Table, name: string): T {
  const col = table.getChild(name);
  if (col === null) throw new TypeError(`column '${name}' is missing from the batch`);
  if (col.data.length !== 1) throw new TypeError(`column '${name}' has ${col.data.length} chunks; expected one`);
  return col.data[0].values as T;
}
