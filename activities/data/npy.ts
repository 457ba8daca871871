import { DatasetError } from '../../common/errors.ts';

/**
 * NumPy `.npy` (format 1.0) for uint8 arrays: the storage format of preprocessed images. Raw
 * pixels behind a small self-describing header, so training reads them without decoding
 * (`numpy.load` reads them too), and writing costs no compression.
 * Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
/** The header (magic, version, length, dict) is padded so the data starts on a 64-byte boundary. */
const ALIGNMENT = 64;

export interface NpyUint8 {
  shape: number[];
  data: Uint8Array;
}

/** Wraps C-order uint8 `data` of `shape` in an .npy header. */
export function encodeNpyUint8(data: Uint8Array, shape: readonly number[]): Buffer {
  const count = shape.reduce((product, side) => product * side, 1);
  if (count !== data.length) throw new RangeError(`encodeNpyUint8: shape (${shape.join(', ')}) holds ${count} values, data has ${data.length}`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '|u1', 'fortran_order': False, 'shape': ${tuple}, }`;
  const prefix = MAGIC.length + 2 + 2;
  const padding = (ALIGNMENT - ((prefix + dict.length + 1) % ALIGNMENT)) % ALIGNMENT;
  const header = `${dict}${' '.repeat(padding)}\n`;
  const out = Buffer.allocUnsafe(prefix + header.length + data.length);
  MAGIC.copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, prefix, 'latin1');
  out.set(data, prefix + header.length);
  return out;
}

/**
 * Reads a uint8 .npy array (format 1.x, 2.x or 3.x). The data is a view into `bytes`, not a copy.
 * `DatasetError` for anything else: other dtypes, Fortran order, a cut or padded body.
 */
export function decodeNpyUint8(bytes: Uint8Array): NpyUint8 {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < 10 || !buffer.subarray(0, MAGIC.length).equals(MAGIC)) throw new DatasetError('Not an .npy array: the file does not start with \\x93NUMPY');
  const major = buffer[6] ?? 0;
  const lengthBytes = major === 1 ? 2 : 4;
  if (major < 1 || major > 3) throw new DatasetError(`Unsupported .npy format version ${major}.${buffer[7] ?? 0}`);
  const headerLength = lengthBytes === 2 ? buffer.readUInt16LE(8) : buffer.readUInt32LE(8);
  const start = 8 + lengthBytes + headerLength;
  const header = buffer.toString('latin1', 8 + lengthBytes, start);
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  if (descr !== '|u1' && descr !== '<u1' && descr !== '>u1') throw new DatasetError(`Expected a uint8 .npy array, found dtype '${descr ?? 'unknown'}'`);
  if (!/'fortran_order':\s*False/.test(header)) throw new DatasetError('Expected a C-order .npy array, found Fortran order');
  const tuple = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (tuple === undefined) throw new DatasetError('The .npy header has no shape');
  const shape = tuple
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(Number);
  if (shape.some((side) => !Number.isInteger(side) || side < 0)) throw new DatasetError(`The .npy header has an invalid shape (${tuple})`);
  const count = shape.reduce((product, side) => product * side, 1);
  if (buffer.length - start !== count) {
    throw new DatasetError(`The .npy body holds ${buffer.length - start} bytes, its shape (${shape.join(', ')}) needs ${count}`);
  }
  return { shape, data: new Uint8Array(buffer.buffer, buffer.byteOffset + start, count) };
}
