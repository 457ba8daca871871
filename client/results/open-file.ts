import { spawn } from 'node:child_process';
import { info } from '../output.ts';

/** The desktop's opener for a file: `open` on macOS, `start` on Windows, else `xdg-open`. */
function opener(): { command: string; args: string[] } {
  if (process.platform === 'darwin') return { command: 'open', args: [] };
  if (process.platform === 'win32') return { command: 'cmd', args: ['/c', 'start', ''] };
  return { command: 'xdg-open', args: [] };
}

/** Opens `file` in the default browser, detached; a machine without a desktop gets a note, not a failure. */
export function openFile(file: string): void {
  const { command, args } = opener();
  const child = spawn(command, [...args, file], { detached: true, stdio: 'ignore' });
  child.on('error', (error) => info(`could not open ${file} with ${command}: ${error.message}`));
  child.unref();
}
