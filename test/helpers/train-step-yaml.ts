/**
 * A one-step pipeline whose train step has the given `model:` lines (indented 8 spaces), for
 * tests of how the spec validates and resolves a model.
 */
export function trainStepYaml(modelLines: string): string {
  return `apiVersion: mlp/v1
name: train-step
steps:
  - id: train
    uses: train
    with:
      mode: partial
      trainManifest: datasets/a/train.json
      valManifest: datasets/a/val.json
      model:
${modelLines}
      optimizer: { name: adam, learningRate: 0.001 }
      epochs: 1
`;
}
