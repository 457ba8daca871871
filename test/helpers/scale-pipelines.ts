import proto from '@temporalio/proto';
import type { History } from '../../client/runs/run-history.ts';

// A default import: the package is CommonJS, and `tsx <script>` (benches) loads it as ESM, where named imports fail.
const { temporal } = proto;

/**
 * Large pipelines of noop steps, as YAML, and what their runs' histories hold: the shapes of
 * issue 30, for test/integration/scale.test.ts and `npm run bench:scale`.
 */

function header(name: string, extra = ''): string {
  return `apiVersion: mlp/v1\nname: ${name}\n${extra}steps:\n`;
}

/** A root and `width` steps that each need only the root. */
export function wideDagYaml(name: string, width: number): string {
  const steps = ['  - { id: root, uses: noop, with: { value: 0 } }'];
  for (let index = 1; index <= width; index += 1) steps.push(`  - { id: s${index}, uses: noop, needs: [root], with: { value: ${index} } }`);
  return `${header(name)}${steps.join('\n')}\n`;
}

/** A step that outputs a list of `count` numbers and a foreach step over it. */
export function foreachYaml(name: string, count: number): string {
  const list = Array.from({ length: count }, (_, index) => index).join(', ');
  return (
    header(name) +
    `  - { id: make, uses: noop, with: { value: [${list}] } }\n` +
    '  - id: each\n    uses: noop\n    needs: [make]\n    foreach: ${{ steps.make.outputs.value }}\n    with: { value: "${{ item }}" }\n'
  );
}

/** `length` steps, each needing the one before. */
export function chainYaml(name: string, length: number): string {
  const steps = Array.from({ length }, (_, index) => `  - { id: c${index}, uses: noop${index === 0 ? '' : `, needs: [c${index - 1}]`}, with: { value: ${index} } }`);
  return `${header(name)}${steps.join('\n')}\n`;
}

export interface HistoryStats {
  events: number;
  bytes: number;
  /** Most activities and child workflows scheduled and not yet closed at any point. */
  peakPending: number;
  /** Most activities and child workflows one workflow task scheduled. */
  peakScheduledPerTask: number;
  childWorkflows: number;
}

/** Events, encoded size and the peak of pending work of one workflow's history. */
export function historyStats(history: History): HistoryStats {
  const events = history.events ?? [];
  let pending = 0;
  let peakPending = 0;
  let perTask = 0;
  let peakScheduledPerTask = 0;
  let childWorkflows = 0;
  for (const event of events) {
    if (event.workflowTaskCompletedEventAttributes) perTask = 0;
    if (event.activityTaskScheduledEventAttributes || event.startChildWorkflowExecutionInitiatedEventAttributes) {
      pending += 1;
      perTask += 1;
      if (event.startChildWorkflowExecutionInitiatedEventAttributes) childWorkflows += 1;
    }
    if (
      event.activityTaskCompletedEventAttributes ||
      event.activityTaskFailedEventAttributes ||
      event.activityTaskTimedOutEventAttributes ||
      event.activityTaskCanceledEventAttributes ||
      event.childWorkflowExecutionCompletedEventAttributes ||
      event.childWorkflowExecutionFailedEventAttributes ||
      event.childWorkflowExecutionCanceledEventAttributes ||
      event.childWorkflowExecutionTimedOutEventAttributes ||
      event.childWorkflowExecutionTerminatedEventAttributes ||
      event.startChildWorkflowExecutionFailedEventAttributes
    ) {
      pending -= 1;
    }
    peakPending = Math.max(peakPending, pending);
    peakScheduledPerTask = Math.max(peakScheduledPerTask, perTask);
  }
  const bytes = temporal.api.history.v1.History.encode(temporal.api.history.v1.History.create(history)).finish().length;
  return { events: events.length, bytes, peakPending, peakScheduledPerTask, childWorkflows };
}
