import assert from 'node:assert/strict';
import { PipelineSpecError } from '../../common/errors.ts';
import {
  findReferences,
  parseTemplate,
  resolveParams,
  resolveStepOutputs,
} from '../../common/expressions.ts';
import { canonicalJson } from '../../common/canonical-json.ts';

describe('expressions', () => {
  describe('parseTemplate', () => {
    it('splits a string into literal text, param references and step-output references', () => {
      assert.deepEqual(parseTemplate('a-${{ params.seed }}-${{steps.train.outputs.model.key}}'), [
        'a-',
        { kind: 'param', name: 'seed', raw: '${{ params.seed }}' },
        '-',
        { kind: 'step-output', stepId: 'train', output: 'model', field: ['key'], raw: '${{steps.train.outputs.model.key}}' },
      ]);
    });

    it('rejects an expression that is neither a param nor a step output, naming it', () => {
      assert.throws(() => parseTemplate('x ${{ env.HOME }}'), {
        name: 'PipelineSpecError',
        message: 'Invalid expression ${{ env.HOME }}: expected ${{ params.<name> }}, ${{ steps.<id>.outputs.<name> }}, ${{ matrix.<name> }} or ${{ item }}',
      });
    });

    it('rejects an unclosed expression', () => {
      assert.throws(() => parseTemplate('x ${{ params.seed'), PipelineSpecError);
    });
  });

  describe('findReferences', () => {
    it('finds references in nested objects and arrays with their paths', () => {
      const found = findReferences({
        a: 1,
        b: ['${{ params.x }}', { c: 'pre ${{ steps.s.outputs.o }} ${{ params.y }}' }],
      });
      assert.deepEqual(
        found.map(({ path, reference }) => [path, reference.raw]),
        [
          [['b', 0], '${{ params.x }}'],
          [['b', 1, 'c'], '${{ steps.s.outputs.o }}'],
          [['b', 1, 'c'], '${{ params.y }}'],
        ],
      );
    });

    it('returns nothing for values without expressions', () => {
      assert.deepEqual(findReferences({ a: 'plain', b: [1, true, null] }), []);
    });
  });

  describe('resolveStepOutputs', () => {
    const outputs = { subset: { count: 42, manifest: { key: 'runs/r/subset/train.json' } }, train: { model: 'm/1' } };

    it('replaces a string that is exactly one reference with the value and its type', () => {
      assert.deepEqual(
        resolveStepOutputs({ n: '${{ steps.subset.outputs.count }}', m: '${{ steps.subset.outputs.manifest }}' }, outputs),
        { n: 42, m: { key: 'runs/r/subset/train.json' } },
      );
    });

    it('interpolates references embedded in a longer string as text', () => {
      assert.equal(
        resolveStepOutputs('n=${{ steps.subset.outputs.count }} at ${{ steps.subset.outputs.manifest.key }}', outputs),
        'n=42 at runs/r/subset/train.json',
      );
    });

    it('throws naming the reference when the step has no recorded outputs', () => {
      assert.throws(() => resolveStepOutputs(['${{ steps.nope.outputs.x }}'], outputs), {
        name: 'PipelineSpecError',
        message: 'Cannot resolve ${{ steps.nope.outputs.x }}: no outputs recorded for step "nope"',
      });
    });

    it('throws naming the reference when the output is missing', () => {
      assert.throws(() => resolveStepOutputs('${{ steps.train.outputs.history }}', outputs), {
        message: 'Cannot resolve ${{ steps.train.outputs.history }}: step "train" has no output "history"',
      });
    });

    it('throws for a params reference, which the client should have resolved', () => {
      assert.throws(() => resolveStepOutputs('${{ params.seed }}', outputs), PipelineSpecError);
    });
  });

  describe('resolveParams', () => {
    it('substitutes params with their type and leaves step-output references in place', () => {
      assert.deepEqual(
        resolveParams({ seed: '${{ params.seed }}', key: '${{ params.name }}/${{ steps.a.outputs.b }}' }, { seed: 7, name: 'x' }),
        { seed: 7, key: 'x/${{ steps.a.outputs.b }}' },
      );
    });

    it('throws naming an unknown param', () => {
      assert.throws(() => resolveParams('${{ params.missing }}', {}), {
        message: 'Cannot resolve ${{ params.missing }}: unknown param "missing"',
      });
    });
  });

  describe('canonicalJson', () => {
    it('gives the same text regardless of key order and drops undefined members', () => {
      assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[2,{"y":2,"z":1}]},"b":1}');
    });
  });
});
