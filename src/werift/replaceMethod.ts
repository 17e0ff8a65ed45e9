import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

// biome-ignore lint/suspicious/noExplicitAny: any method, whatever its arguments.
type Method = (...args: any[]) => any;

/**
 * Replaces the method `name` of a werift prototype or class with `make(original)`. Throws when werift
 * has no such method any more, naming `what` and the module that asked (`module`: its `import.meta.url`),
 * so that an upgrade that renamed or removed it cannot bring werift's own behaviour back silently.
 */
export function replaceMethod<T extends object, K extends keyof T>(
  target: T,
  name: K,
  what: string,
  module: string,
  make: (original: T[K] & Method) => T[K],
): void {
  const original = target[name];
  if (typeof original !== 'function')
    throw new Error(`${what} has no ${String(name)}: check src/werift/${basename(fileURLToPath(module))}`);
  target[name] = make(original as T[K] & Method);
}
