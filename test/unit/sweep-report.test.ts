import assert from 'node:assert/strict';
import sharp from 'sharp';
import { sweepPlot, sweepReportSection } from '../../activities/evaluation/sweep-report.ts';

const sweep = {
  trials: [
    { index: 0, matrix: { learningRate: 0.001 }, status: 'succeeded', metric: 0.41, selected: false },
    { index: 1, matrix: { learningRate: 0.003 }, status: 'succeeded', metric: 0.35, selected: true },
    { index: 2, matrix: { learningRate: 0.01 }, status: 'succeeded', metric: 0.35, selected: false },
    { index: 3, matrix: { learningRate: 0.1 }, status: 'failed', selected: false, error: 'TrainingDivergedError: loss is NaN' },
  ],
  selectedTrial: { index: 1, matrix: { learningRate: 0.003 }, metric: 0.35, select: { metric: 'valLoss', goal: 'min' as const } },
};

describe('the evaluate report of a model chosen by a sweep', () => {
  it('says which trial won, by which rule and value, how ties were broken, and lists every trial', () => {
    const section = sweepReportSection(sweep, 'plots/sweep-trials.png');
    assert.match(section, /Trial \*\*#1\*\* \(learningRate=0\.003\) won: the lowest valLoss, 0\.35, among 3 succeeded of 4 trials; tied with #2, it has the lowest index\./);
    assert.match(section, /\| #3 \| learningRate=0\.1 \| failed \(TrainingDivergedError: loss is NaN\) \| — \| {2}\|/);
    assert.match(section, /!\[Sweep\]\(plots\/sweep-trials\.png\)/);
  });

  it('plots the metric per trial as a PNG', async () => {
    const png = await sweepPlot(sweep);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.ok((meta.width ?? 0) > 200 && (meta.height ?? 0) > 300, `${meta.width}x${meta.height}`);
  });
});
