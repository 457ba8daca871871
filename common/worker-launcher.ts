/**
 * Set (to "1") by the CLI on every worker process it spawns with an IPC channel (`mlp worker`,
 * `mlp demo`): the worker then stops when that channel closes, i.e. when its launcher is gone,
 * including when the launcher died before the worker finished starting.
 */
export const LAUNCHED_WITH_IPC_ENV = 'MLP_LAUNCHED_WITH_IPC';
