import { AttributeType, DataType, encodeModel, type OnnxAttribute, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './onnx-proto.ts';

/** ONNX operator set the graphs use: Clip takes min/max as inputs (≥ 11), well supported by ORT 1.30. */
export const OPSET_VERSION = 17;
/** IR version that goes with opset 17 (ONNX 1.12). */
export const IR_VERSION = 8;

/** An INT, INTS or STRING attribute: the only kinds the graphs here need (float constants are inputs). */
export type AttributeValue = number | number[] | string;

function attribute(name: string, value: AttributeValue): OnnxAttribute {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  const ints = Array.isArray(value) ? value : [value];
  if (!ints.every(Number.isInteger)) throw new Error(`ONNX attribute ${name}: expected integers, got ${ints.join(',')}`);
  return Array.isArray(value) ? { name, type: AttributeType.INTS, ints: value } : { name, type: AttributeType.INT, i: value };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Little-endian bytes of a typed array, as ONNX `raw_data` stores elements: a copy (later changes
 * to the source do not leak in), byte-swapped only on a big-endian host.
 */
function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  if (!LITTLE_ENDIAN) {
    const width = values.BYTES_PER_ELEMENT;
    for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
  }
  return bytes;
}

/**
 * Collects the nodes and initializers of one ONNX graph in order, with unique value names; a
 * node's output is named after the node.
 */
export class GraphWriter {
  readonly #nodes: OnnxNode[] = [];
  readonly #initializers: OnnxTensor[] = [];
  readonly #names = new Set<string>();

  #unique(name: string): string {
    let candidate = name;
    for (let i = 1; this.#names.has(candidate); i++) candidate = `${name}_${i}`;
    this.#names.add(candidate);
    return candidate;
  }

  /** Reserves the graph input's name. */
  input(name: string): string {
    return this.#unique(name);
  }

  /** A float32 constant of shape `dims`, row-major; returns its value name. */
  floats(name: string, dims: number[], values: Float32Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (values.length !== expected) throw new Error(`ONNX initializer ${name}: ${values.length} values for shape [${dims.join(',')}]`);
    const unique = this.#unique(name);
    this.#initializers.push({ name: unique, dims, dataType: DataType.FLOAT, rawData: littleEndianBytes(values) });
    return unique;
  }

  /** An int64 constant (shape `[values.length]`, or a scalar when `dims` is `[]`). */
  int64s(name: string, values: number[], dims: number[] = [values.length]): string {
    const unique = this.#unique(name);
    this.#initializers.push({ name: unique, dims, dataType: DataType.INT64, rawData: littleEndianBytes(BigInt64Array.from(values, BigInt)) });
    return unique;
  }

  /** Appends a node; returns the name of its (single) output. */
  node(opType: string, name: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    const unique = this.#unique(name);
    this.#nodes.push({
      name: unique,
      opType,
      input: inputs,
      output: [unique],
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
    return unique;
  }

  /** The serialized model with one float32 input and one float32 output. */
  encode(graphName: string, input: OnnxValueInfo, output: OnnxValueInfo): Uint8Array {
    return encodeModel({
      irVersion: IR_VERSION,
      opsetVersion: OPSET_VERSION,
      producerName: 'temporal-ml-pipelines',
      graph: { name: graphName, node: this.#nodes, initializer: this.#initializers, input: [input], output: [output] },
    });
  }

  /**
   * The same model with every name replaced by its order of creation (`v0`, `v1`, …): what the
   * graph computes, without the layer names it was labelled with. tfjs numbers unnamed layers
   * per process (conv2d_7), so the labelled bytes of one backbone differ between loads; these
   * do not, and they change whenever a weight or an operator does.
   */
  encodeAnonymous(input: OnnxValueInfo, output: OnnxValueInfo): Uint8Array {
    const ids = new Map([...this.#names].map((name, i) => [name, `v${i}`]));
    const id = (name: string) => ids.get(name) ?? name;
    return encodeModel({
      irVersion: IR_VERSION,
      opsetVersion: OPSET_VERSION,
      producerName: 'temporal-ml-pipelines',
      graph: {
        name: 'backbone',
        node: this.#nodes.map((node) => ({ ...node, name: id(node.name), input: node.input.map(id), output: node.output.map(id) })),
        initializer: this.#initializers.map((tensor) => ({ ...tensor, name: id(tensor.name) })),
        input: [{ ...input, name: id(input.name) }],
        output: [{ ...output, name: id(output.name) }],
      },
    });
  }
}
