// Module resolution hook for quarry's Node runtime: lets ES modules (`import ... from
// "@aws-sdk/client-s3"`, or `await import(...)` from CommonJS) find packages in NODE_PATH.
// Node's ESM resolver ignores NODE_PATH, and AWS's runtime makes its bundled SDK importable
// anyway. bootstrap.mjs registers this only when no node_modules on the code's parent
// chain provides the SDK, because an off-thread hook costs ~50 ms of cold start; the
// engine avoids it by placing node_modules on that chain (see docs/runtimes.md).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

let parents = [];

export async function initialize(data) {
  // Only NODE_PATH entries named node_modules can be reached this way: resolution from a
  // file in their parent directory looks into them.
  parents = (data && data.dirs ? data.dirs : [])
    .filter((d) => path.basename(d) === 'node_modules')
    .map((d) => pathToFileURL(path.join(path.dirname(d), 'quarry-node-path.mjs')).href);
}

function isBare(s) {
  return !(s.startsWith('.') || s.startsWith('/') || s.startsWith('file:') ||
           s.startsWith('node:') || s.startsWith('data:'));
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (e) {
    if (e.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) throw e;
    for (const parentURL of parents) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch { /* next NODE_PATH entry */ }
    }
    throw e;
  }
}
