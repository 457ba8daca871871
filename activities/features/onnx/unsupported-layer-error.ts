import { PipelineError } from '../../../common/errors.ts';

/**
 * Thrown by `buildBackboneGraph` when a layer, or a setting of one (dilation, channels-first,
 * an activation without an ONNX equivalent here), cannot be converted; the message names the
 * layer and its class. The engine falls back to tfjs with this message as the reason.
 */
export class UnsupportedLayerError extends PipelineError {
  override name = 'UnsupportedLayerError';
  readonly layerName: string;
  readonly className: string;

  constructor(layerName: string, className: string, reason: string) {
    super(`Cannot convert layer ${layerName} (${className}) to ONNX: ${reason}`);
    this.layerName = layerName;
    this.className = className;
  }
}
