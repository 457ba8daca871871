import assert from 'node:assert/strict';
import { DatasetError } from '../../common/errors.ts';
import { decodeNpyUint8, encodeNpyUint8 } from '../../activities/data/npy.ts';

describe('npy (uint8)', () => {
  const data = Uint8Array.from({ length: 6 }, (_, i) => i * 40);

  it('writes the NumPy 1.0 header numpy.load expects, padded so the data starts at 64 bytes', () => {
    const bytes = encodeNpyUint8(data, [2, 3]);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLength = bytes.readUInt16LE(8);
    assert.equal((10 + headerLength) % 64, 0);
    const header = bytes.toString('latin1', 10, 10 + headerLength);
    assert.equal(header.trimEnd(), "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }");
    assert.ok(header.endsWith('\n'));
    assert.deepEqual([...bytes.subarray(10 + headerLength)], [...data]);
  });

  it('round-trips shapes of one, two and three axes', () => {
    for (const shape of [[6], [2, 3], [1, 2, 3]]) {
      const decoded = decodeNpyUint8(encodeNpyUint8(data, shape));
      assert.deepEqual(decoded.shape, shape);
      assert.deepEqual([...decoded.data], [...data]);
    }
  });

  it('refuses data that does not fill the shape', () => {
    assert.throws(() => encodeNpyUint8(data, [2, 2]), /shape \(2, 2\) holds 4 values, data has 6/);
  });

  it('rejects other dtypes, Fortran order, cut bodies and non-npy bytes with a DatasetError', () => {
    const good = encodeNpyUint8(data, [2, 3]);
    const edit = (from: string, to: string) => Buffer.from(good.toString('latin1').replace(from, to), 'latin1');
    assert.throws(() => decodeNpyUint8(edit("'|u1'", "'<f4'")), (e: unknown) => e instanceof DatasetError && /found dtype '<f4'/.test(e.message));
    assert.throws(() => decodeNpyUint8(edit('False', 'True ')), (e: unknown) => e instanceof DatasetError && /Fortran order/.test(e.message));
    assert.throws(() => decodeNpyUint8(good.subarray(0, good.length - 1)), (e: unknown) => e instanceof DatasetError && /holds 5 bytes, its shape \(2, 3\) needs 6/.test(e.message));
    assert.throws(() => decodeNpyUint8(Buffer.from('PNG, not npy')), (e: unknown) => e instanceof DatasetError && /does not start with/.test(e.message));
  });
});
