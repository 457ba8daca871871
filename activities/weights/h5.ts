import type * as H5WasmModule from 'h5wasm/node';

/**
 * The one door to h5wasm (HDF5 compiled to wasm; `h5wasm/node` reads and writes host files
 * directly). Loaded on first use, not at import, and switched to its throwing error handler so
 * HDF5 failures become JS errors carrying HDF5's own message instead of lines on stderr.
 */
type H5Wasm = typeof H5WasmModule;

let loading: Promise<H5Wasm> | undefined;

export function h5wasm(): Promise<H5Wasm> {
  loading ??= (async () => {
    const h5 = await import('h5wasm/node');
    const module = await h5.ready;
    module.activate_throwing_error_handler();
    return h5;
  })();
  return loading;
}

/** The most telling line of an HDF5 error stack (its innermost frame), e.g. `truncated file: eof = …`. */
export function hdf5Reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const frames = [...text.matchAll(/#\d+: .*? in [^(]+\(\): (.*)$/gm)].map((match) => match[1]?.trim() ?? '');
  return frames.at(-1) || text.split('\n')[0] || text;
}
