// Worker-thread entry of the Piscina pool. Plain JS on purpose: it is loaded by Node itself, the
// same file from a checkout and from the built package (dist/), and runs processor modules by URL.
// Results and errors cross back as plain data; buffers in results are transferred, not copied.
import { URL } from 'node:url';
import { move, transferableSymbol, valueSymbol } from 'piscina';

const modules = new Map();
let typescript;

// The TypeScript loader (tsx, a devDependency) is registered for this thread only when a module to
// load is TypeScript: development and tests. A production install runs built .js modules and has
// no tsx to import.
function registerTypeScript(url) {
  if (!/(?<!\.d)\.[cm]?ts$/.test(new URL(url).pathname)) return undefined;
  typescript ??= import('tsx/esm/api').then(({ register }) => void register());
  return typescript;
}

async function load(url) {
  let m = modules.get(url);
  if (m === undefined) {
    m = Promise.resolve(registerTypeScript(url)).then(() => import(url));
    modules.set(url, m);
  }
  const mod = await m;
  if (typeof mod.default !== 'function') {
    throw Object.assign(new Error(`processor module ${url} has no default export function`), { code: 'INTERNAL' });
  }
  return mod.default;
}

function serialize(err) {
  if (err && typeof err === 'object') {
    return {
      name: String(err.name ?? 'Error'),
      code: typeof err.code === 'string' ? err.code : 'INTERNAL',
      message: String(err.message ?? err),
      retriable: err.retriable === true,
      context: err.context && typeof err.context === 'object' ? JSON.parse(JSON.stringify(err.context)) : {},
      stack: typeof err.stack === 'string' ? err.stack : undefined,
      cause: err.cause === undefined ? undefined : serialize(err.cause),
    };
  }
  return { name: 'Error', code: 'INTERNAL', message: String(err), retriable: false, context: {} };
}

function transferables(value, out = [], depth = 0) {
  if (depth > 4 || value === null || typeof value !== 'object') return out;
  if (ArrayBuffer.isView(value)) {
    // Only whole, unshared buffers can be moved safely.
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength && !(value.buffer instanceof SharedArrayBuffer)) {
      out.push(value.buffer);
    }
    return out;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) transferables(v, out, depth + 1);
  return out;
}

export default async function run({ module, task }) {
  try {
    const fn = await load(module);
    const result = await fn(task);
    const buffers = [...new Set(transferables(result))];
    const outcome = { ok: true, result };
    if (buffers.length === 0) return outcome;
    // Piscina's Transferable protocol: the value is posted with its buffers moved, not copied.
    return move({ [transferableSymbol]: buffers, [valueSymbol]: outcome });
  } catch (err) {
    return { ok: false, error: serialize(err) };
  }
}
