// Worker-thread entry: a worker does not inherit tsx's loader, so register it before loading
// the TypeScript worker (the project runs .ts directly, without a build step).
import { register } from 'tsx/esm/api';

register();
await import('./feature-worker.ts');
