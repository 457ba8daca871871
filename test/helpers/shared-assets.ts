import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Offline assets shared beside the repository (`../shared`): the pretrained MobileNet and real
 * chest X-rays. `MLP_SHARED_DIR` points elsewhere (e.g. in CI).
 */
const sharedDir = process.env['MLP_SHARED_DIR'] ?? join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), '..', 'shared');

/** MobileNet v1 0.75/224 ImageNet weights as a TF.js layers model folder. */
export const MOBILENET_V1_DIR = join(sharedDir, 'models', 'mobilenet_v1_0.75_224');

/** Real X-rays resized to 224 px: `train/{NORMAL,PNEUMONIA}`, `val/…`. */
export const CHEST_XRAY_224_DIR = join(sharedDir, 'data', 'chest-xray-224');
