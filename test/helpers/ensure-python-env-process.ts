import { readFile } from 'node:fs/promises';
import { ensurePythonEnv } from '../../activities/run/python-env.ts';

/**
 * `node --import tsx ensure-python-env-process.ts <envsDir> <requirementsFile>`: one more
 * process asking for an environment, for tests of builders in several processes. Prints each
 * build line as `line: …`, then the env as `env: <json>`.
 */
const [envsDir, requirementsFile] = process.argv.slice(2);
if (envsDir === undefined || requirementsFile === undefined) throw new Error('usage: ensure-python-env-process.ts <envsDir> <requirementsFile>');
const env = await ensurePythonEnv({
  envsDir,
  requirementsText: await readFile(requirementsFile, 'utf8'),
  onLine: (line) => console.log(`line: ${line}`),
});
console.log(`env: ${JSON.stringify(env)}`);
