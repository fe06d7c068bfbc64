/** Value parsers for commander options, shared by the subcommands (a module of their own, so commands do not import main.ts). */
import { InvalidArgumentError } from 'commander';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}

/** A random seed: a whole number from 0 to 2^32 − 1 (not parseInt's silent 0 for 'abc'). */
export function seedInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new InvalidArgumentError(`expected a whole number from 0 to 4294967295, got '${value}'`);
  }
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  return n;
}
