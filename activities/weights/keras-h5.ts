import type { Attribute, Dataset, Group } from 'h5wasm/node';
import { WeightsFileError } from '../../common/errors.ts';
import { h5wasm, hdf5Reason } from './h5.ts';

/**
 * Reads a Keras HDF5 weights file (`model.save_weights('x.h5')`, Keras' application files) the
 * way Keras' `load_weights_from_hdf5_group_by_name` does: layers in the root attribute
 * `layer_names` order, each layer's weights in its group's `weight_names` order. Covers the
 * files in the wild: Keras 1 names (`block1_conv1_W_1:0`, the VGG19 notop file) and Keras 2
 * nested ones (`block1_conv1/kernel:0`), attributes split in chunks past HDF5's 64 KB header
 * limit (`layer_names0`, `layer_names1`, …), fixed-length NUL-padded and variable-length
 * strings, an empty float64 `weight_names` for layers without weights, no `keras_version`, and
 * whole-model files (`model.save('x.h5')`, weights under `model_weights`).
 */

/** One saved weight: its name in the file, shape and values (float32, row-major as Keras). */
export interface KerasWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** One layer of the file, in `layer_names` order; `weights` in `weight_names` order (empty for pooling, input…). */
export interface KerasLayerWeights {
  layer: string;
  weights: KerasWeight[];
}

export interface KerasWeightsFile {
  /** The file's `keras_version`; Keras takes a file without one as Keras 1. */
  kerasVersion: string;
  backend: string | undefined;
  layers: KerasLayerWeights[];
}

/** Reads every layer's weights; `where` names the file in errors (its URL rather than a scratch path). */
export async function readKerasWeights(path: string, where: string): Promise<KerasWeightsFile> {
  const h5 = await h5wasm();
  let file: InstanceType<typeof h5.File>;
  try {
    file = new h5.File(path, 'r');
  } catch (error) {
    const reason = hdf5Reason(error);
    const what = /signature not found/.test(reason) ? 'is not an HDF5 file (no HDF5 signature)' : /truncated/.test(reason) ? 'is a truncated HDF5 file' : 'cannot be opened as HDF5';
    throw new WeightsFileError(`Read weights failed: ${where} ${what} (${reason})`);
  }
  const groupOf = (entity: unknown): Group | undefined => (entity instanceof h5.Group ? entity : undefined);
  const datasetOf = (entity: unknown): Dataset | undefined => (entity instanceof h5.Dataset ? entity : undefined);
  try {
    return readWeightsGroup(weightsRoot(file, where, groupOf), where, { groupOf, datasetOf });
  } catch (error) {
    if (error instanceof WeightsFileError) throw error;
    throw new WeightsFileError(`Read weights failed: ${where}: ${hdf5Reason(error)}`);
  } finally {
    file.close();
  }
}

/** The group holding `layer_names`: the root of a weights file, `model_weights` of a whole-model file. */
function weightsRoot(file: Group, where: string, groupOf: Narrow<Group>): Group {
  const listsLayers = (group: Group) => hasAttribute(group, 'layer_names') || hasAttribute(group, 'layer_names0');
  if (listsLayers(file)) return file;
  const modelWeights = groupOf(file.get('model_weights'));
  if (modelWeights && listsLayers(modelWeights)) return modelWeights;
  const found = Object.keys(file.attrs);
  throw new WeightsFileError(
    `Read weights failed: ${where} is HDF5 but not Keras weights: no 'layer_names' attribute at its root or in 'model_weights' ` +
      `(root attributes: ${found.length > 0 ? found.join(', ') : 'none'}; Keras 3 '.weights.h5' files are not supported, save with model.save_weights('x.h5') in Keras 2 or use the legacy format)`,
  );
}

/** h5wasm's `get` returns any entity; these narrow it by class (h5wasm is loaded lazily, so its classes are passed in). */
type Narrow<T> = (entity: unknown) => T | undefined;

function readWeightsGroup(root: Group, where: string, narrow: { groupOf: Narrow<Group>; datasetOf: Narrow<Dataset> }): KerasWeightsFile {
  const layerNames = stringList(root, 'layer_names', where);
  const layers = layerNames.map((layer): KerasLayerWeights => {
    const group = narrow.groupOf(root.get(layer));
    if (!group) throw new WeightsFileError(`Read weights failed: ${where} lists layer '${layer}' in layer_names but has no group '${layer}'`);
    const weightNames = stringList(group, 'weight_names', where);
    return { layer, weights: weightNames.map((name) => readWeight(narrow.datasetOf(group.get(name)), layer, name, where)) };
  });
  return {
    kerasVersion: optionalString(root, 'keras_version') ?? '1',
    backend: optionalString(root, 'backend'),
    layers,
  };
}

/** `dataset` is the layer group's entry `name`: Keras 2 names nest (`block1_conv1/kernel:0` is dataset kernel:0 in group block1_conv1). */
function readWeight(dataset: Dataset | undefined, layer: string, name: string, where: string): KerasWeight {
  if (!dataset) throw new WeightsFileError(`Read weights failed: ${where} layer '${layer}' lists weight '${name}' but has no such dataset`);
  const shape = dataset.shape ?? [];
  const { type, littleEndian } = dataset.metadata;
  const value = dataset.value;
  const count = shape.reduce((product, dim) => product * dim, 1);
  let values: Float32Array;
  if (value instanceof Float32Array) values = value;
  else if (value instanceof Float64Array) values = Float32Array.from(value);
  else throw new WeightsFileError(`Read weights failed: ${where} weight '${name}' of layer '${layer}' is not float32 or float64 (HDF5 type class ${type}, dtype ${JSON.stringify(dataset.dtype)})`);
  if (!littleEndian) throw new WeightsFileError(`Read weights failed: ${where} weight '${name}' of layer '${layer}' is big-endian, which this reader does not convert`);
  if (values.length !== count) throw new WeightsFileError(`Read weights failed: ${where} weight '${name}' of layer '${layer}' holds ${values.length} values for shape [${shape.join(', ')}]`);
  return { name, shape, values };
}

/**
 * A list-of-strings attribute as Keras' `load_attributes_from_hdf5_group` reads it: whole, or
 * in chunks `name0`, `name1`, … when it outgrew the object header. Absent or an empty (float64)
 * array: no items.
 */
function stringList(group: Group, name: string, where: string): string[] {
  if (hasAttribute(group, name)) return stringItems(group.attrs[name], name, group.path, where);
  const items: string[] = [];
  for (let chunk = 0; hasAttribute(group, `${name}${chunk}`); chunk++) items.push(...stringItems(group.attrs[`${name}${chunk}`], name, group.path, where));
  return items;
}

function stringItems(attribute: Attribute | undefined, name: string, path: string, where: string): string[] {
  const value = attribute?.value;
  // An empty list saved through numpy is a zero-length float64 array (pooling and input layers).
  if (ArrayBuffer.isView(value) && 'length' in value && value.length === 0) return [];
  const items = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (!items || !items.every((item): item is string => typeof item === 'string')) {
    throw new WeightsFileError(`Read weights failed: ${where} attribute '${name}' of '${path}' is not a list of strings`);
  }
  // h5wasm cuts fixed-length strings at their first NUL; trailing NULs of a vlen string go too.
  return items.map((item) => item.replace(/\0+$/, ''));
}

function optionalString(group: Group, name: string): string | undefined {
  if (!hasAttribute(group, name)) return undefined;
  const value = group.attrs[name]?.value;
  return typeof value === 'string' ? value.replace(/\0+$/, '') : undefined;
}

function hasAttribute(group: Group, name: string): boolean {
  return Object.hasOwn(group.attrs, name);
}
