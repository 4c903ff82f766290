// A small Zarr v3 writer and reader: regular chunk grid along the first axis only, the `bytes`
// codec (little-endian; no compression, because uint8 image chunks barely compress and the loader
// reads a chunk straight into a preallocated buffer), default chunk keys `c/<i>/0/0/0`.
// zarr-python and zarrita read these arrays (test/data-zarr.test.ts checks zarrita).
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type DType = 'uint8' | 'int32' | 'float32';
export type TypedRows = Uint8Array | Int32Array | Float32Array;

const BYTES: Record<DType, number> = { uint8: 1, int32: 4, float32: 4 };

export interface ArrayMeta {
  shape: number[];
  /** Rows per chunk (the chunk shape is [chunkRows, ...shape.slice(1)]). */
  chunkRows: number;
  dtype: DType;
  dimensionNames?: string[] | undefined;
  attributes?: Record<string, unknown> | undefined;
}

function metaJson(m: ArrayMeta): string {
  return JSON.stringify(
    {
      zarr_format: 3,
      node_type: 'array',
      shape: m.shape,
      data_type: m.dtype,
      chunk_grid: { name: 'regular', configuration: { chunk_shape: [m.chunkRows, ...m.shape.slice(1)] } },
      chunk_key_encoding: { name: 'default', configuration: { separator: '/' } },
      fill_value: 0,
      codecs: [{ name: 'bytes', configuration: { endian: 'little' } }],
      attributes: m.attributes ?? {},
      ...(m.dimensionNames ? { dimension_names: m.dimensionNames } : {}),
    },
    null,
    2,
  );
}

/** Writes a group node (a folder with zarr.json), so `zarr.open(root)` lists the arrays. */
export async function writeGroup(dir: string, attributes: Record<string, unknown> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'zarr.json'), JSON.stringify({ zarr_format: 3, node_type: 'group', attributes }, null, 2));
}

function chunkPath(dir: string, i: number, ndim: number): string {
  return join(dir, 'c', String(i), ...Array<string>(ndim - 1).fill('0'));
}

/**
 * Appends rows and writes each chunk once it is full; the row count is only known at close(),
 * when zarr.json is written (readers see no array until then).
 */
export class ArrayWriter {
  readonly rowElems: number;
  private buf: TypedRows;
  private filled = 0;
  private chunk = 0;
  private rows = 0;

  constructor(
    readonly dir: string,
    readonly rowShape: number[],
    readonly dtype: DType,
    readonly chunkRows: number,
    readonly dimensionNames?: string[],
    readonly attributes?: Record<string, unknown>,
  ) {
    this.rowElems = rowShape.reduce((a, b) => a * b, 1);
    this.buf = alloc(dtype, chunkRows * this.rowElems);
  }

  get length(): number {
    return this.rows;
  }

  /** Copies `count` rows starting at row `from` of `src` (a buffer of whole rows). */
  async append(src: TypedRows, from = 0, count = src.length / this.rowElems - from): Promise<void> {
    let done = 0;
    while (done < count) {
      const take = Math.min(count - done, this.chunkRows - this.filled);
      const s = (from + done) * this.rowElems;
      this.buf.set(src.subarray(s, s + take * this.rowElems), this.filled * this.rowElems);
      this.filled += take;
      done += take;
      this.rows += take;
      if (this.filled === this.chunkRows) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    const path = chunkPath(this.dir, this.chunk, this.rowShape.length + 1);
    await mkdir(join(path, '..'), { recursive: true });
    // Edge chunks are stored full size (zero padded), as the Zarr spec's regular grid requires.
    if (this.filled < this.chunkRows) this.buf.fill(0, this.filled * this.rowElems);
    await writeFile(path, bytesOf(this.buf));
    this.chunk++;
    this.filled = 0;
  }

  async close(): Promise<ArrayMeta> {
    if (this.filled > 0) await this.flush();
    await mkdir(this.dir, { recursive: true });
    const meta: ArrayMeta = {
      shape: [this.rows, ...this.rowShape],
      chunkRows: this.chunkRows,
      dtype: this.dtype,
      dimensionNames: this.dimensionNames,
      attributes: this.attributes,
    };
    await writeFile(join(this.dir, 'zarr.json'), metaJson(meta));
    return meta;
  }
}

/** Writes a whole in-memory array at once. */
export async function writeArray(dir: string, data: TypedRows, rowShape: number[], dtype: DType, chunkRows: number, dimensionNames?: string[], attributes?: Record<string, unknown>): Promise<ArrayMeta> {
  const w = new ArrayWriter(dir, rowShape, dtype, chunkRows, dimensionNames, attributes);
  await w.append(data);
  return w.close();
}

export interface ZarrArray {
  dir: string;
  shape: number[];
  dtype: DType;
  chunkRows: number;
  rowElems: number;
  numChunks: number;
  attributes: Record<string, unknown>;
  rowsInChunk(i: number): number;
  /** Reads chunk i (all chunkRows rows, edge chunk padded) into `into` when given, else a new array. */
  readChunk(i: number, into?: TypedRows): Promise<TypedRows>;
  /** Allocates a buffer that holds `rows` rows of this array's type. */
  alloc(rows: number): TypedRows;
}

/** Opens an array written by ArrayWriter (or any Zarr v3 array with the same restrictions). */
export async function openArray(dir: string): Promise<ZarrArray> {
  const meta = JSON.parse(await readFile(join(dir, 'zarr.json'), 'utf8'));
  if (meta.zarr_format !== 3 || meta.node_type !== 'array') throw new Error(`${dir}: not a Zarr v3 array`);
  const dtype = meta.data_type as DType;
  if (!(dtype in BYTES)) throw new Error(`${dir}: data type ${meta.data_type} not supported`);
  const codecs = meta.codecs as { name: string; configuration?: { endian?: string } }[];
  if (codecs.length !== 1 || codecs[0]!.name !== 'bytes' || (BYTES[dtype] > 1 && codecs[0]!.configuration?.endian === 'big')) {
    throw new Error(`${dir}: only the little-endian bytes codec is supported, found ${JSON.stringify(codecs)}`);
  }
  const shape = meta.shape as number[];
  const cs = meta.chunk_grid.configuration.chunk_shape as number[];
  if (cs.slice(1).some((v, k) => v !== shape[k + 1])) throw new Error(`${dir}: only arrays chunked along the first axis are supported`);
  const sep = meta.chunk_key_encoding?.configuration?.separator ?? '/';
  if (meta.chunk_key_encoding?.name !== 'default' || sep !== '/') throw new Error(`${dir}: only default chunk keys with '/' are supported`);
  const chunkRows = cs[0]!;
  const rowElems = shape.slice(1).reduce((a, b) => a * b, 1);
  const numChunks = Math.ceil(shape[0]! / chunkRows);
  const chunkBytes = chunkRows * rowElems * BYTES[dtype];
  return {
    dir,
    shape,
    dtype,
    chunkRows,
    rowElems,
    numChunks,
    attributes: meta.attributes ?? {},
    rowsInChunk: (i) => Math.min(chunkRows, shape[0]! - i * chunkRows),
    alloc: (rows) => alloc(dtype, rows * rowElems),
    async readChunk(i, into) {
      if (i < 0 || i >= numChunks) throw new RangeError(`${dir}: chunk ${i} of ${numChunks}`);
      const out = into ?? alloc(dtype, chunkRows * rowElems);
      const bytes = bytesOf(out);
      if (bytes.length < chunkBytes) throw new RangeError(`${dir}: buffer too small for a chunk`);
      let fh: Awaited<ReturnType<typeof open>>;
      try {
        fh = await open(chunkPath(dir, i, shape.length));
      } catch (err) {
        // A missing chunk is all fill_value (Zarr semantics).
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          bytes.fill(0, 0, chunkBytes);
          return out;
        }
        throw err;
      }
      try {
        let got = 0;
        while (got < chunkBytes) {
          const { bytesRead } = await fh.read(bytes, got, chunkBytes - got, got);
          if (bytesRead === 0) throw new Error(`${dir}: chunk ${i} is short (${got} of ${chunkBytes} bytes)`);
          got += bytesRead;
        }
      } finally {
        await fh.close();
      }
      return out;
    },
  };
}

function alloc(dtype: DType, n: number): TypedRows {
  return dtype === 'uint8' ? new Uint8Array(n) : dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
}

function bytesOf(a: TypedRows): Uint8Array {
  return a instanceof Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
