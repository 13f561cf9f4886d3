/** The checks every option goes through: each failure is a ConfigError naming the option and the fix. */
import { ConfigError } from './errors.js';

export function fail(option: string, problem: string, fix: string): never {
  throw new ConfigError(`express-oidc-session: option "${option}" ${problem}; ${fix}.`);
}

export function nonEmpty(option: string, value: unknown, envName: string): string {
  if (typeof value !== 'string' || value.trim() === '') fail(option, 'is missing', `pass it to oidcSession() or set ${envName}`);
  return value;
}

export function absoluteUrl(option: string, value: unknown, envName: string): string {
  const text = nonEmpty(option, value, envName);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(option, 'must be an absolute URL', `got "${text}"; write it like https://example.com`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(option, 'must be an http(s) URL', `got "${text}"`);
  return text;
}

export function positive(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(option, 'must be a positive number', `got ${String(value)}`);
  return value;
}

export function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(option, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`, `got ${describe(value)}`);
  }
  return value as T;
}

export function functions<T extends object>(option: string, value: unknown, names: readonly string[]): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null) fail(option, 'must be an object of functions', `got ${describe(value)}`);
  for (const [key, v] of Object.entries(value)) {
    if (!names.includes(key)) fail(option, `has unknown entry "${key}"`, `use any of ${names.join(', ')}`);
    if (v !== undefined && typeof v !== 'function') fail(`${option}.${key}`, 'must be a function', `got ${describe(v)}`);
  }
  return value as T;
}

export function boolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(option, 'must be true or false', `got ${describe(value)}`);
  return value;
}

export function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(option, 'must be a non-empty string', `got ${describe(value)}`);
  return value;
}

/** A value as the message shows it: strings quoted, never more than 40 characters. */
export function describe(value: unknown): string {
  const text =
    typeof value === 'string'
      ? `"${value}"`
      : Array.isArray(value)
        ? 'an array'
        : value === null
          ? 'null'
          : typeof value === 'object'
            ? 'an object'
            : String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function nonNegative(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(option, 'must be a number ≥ 0', `got ${String(value)}`);
  return value;
}
